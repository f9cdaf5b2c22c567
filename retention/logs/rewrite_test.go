package logs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatbx/retention/logs"
)

func TestRewrite(t *testing.T) {
	t.Parallel()
	h := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	alice := `{"time":"t","component":"c2s","user":"alice","ip_anon":"192.0.2.0","message":"login"}` + "\n"
	alice2 := `{"user":"alice","message":"logout"}` + "\n"
	bob := `{"time":"t","component":"c2s","user":"bob","ip_anon":"192.0.2.0","message":"login"}` + "\n"
	aliceX := `{"user":"alicex","message":"login"}` + "\n"
	noUser := `{"message":"server started","note":"alice"}` + "\n"
	notJSON := "alice said hi\n"
	tests := []struct {
		name    string
		files   map[string]string // name -> content
		want    map[string]string
		dropped int
	}{
		{
			name: "drops only the user's lines",
			files: map[string]string{
				logs.FileName("conn", h, time.Hour):                 alice + bob + alice2 + aliceX + noUser + notJSON,
				logs.FileName("conn", h.Add(-time.Hour), time.Hour): bob + alice,
				logs.FileName("server", h, time.Hour):               alice,
			},
			want: map[string]string{
				logs.FileName("conn", h, time.Hour):                 bob + aliceX + noUser + notJSON,
				logs.FileName("conn", h.Add(-time.Hour), time.Hour): bob,
				logs.FileName("server", h, time.Hour):               alice,
			},
			dropped: 3,
		},
		{
			name:    "last line without newline",
			files:   map[string]string{logs.FileName("conn", h, time.Hour): bob + strings.TrimSuffix(alice, "\n")},
			want:    map[string]string{logs.FileName("conn", h, time.Hour): bob},
			dropped: 1,
		},
		{
			name:    "every line dropped",
			files:   map[string]string{logs.FileName("conn", h, time.Hour): alice + alice2},
			want:    map[string]string{logs.FileName("conn", h, time.Hour): ""},
			dropped: 2,
		},
		{
			name:  "nothing to drop",
			files: map[string]string{logs.FileName("conn", h, time.Hour): bob},
			want:  map[string]string{logs.FileName("conn", h, time.Hour): bob},
		},
		{
			name:  "no files",
			files: map[string]string{},
			want:  map[string]string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, content := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			n, err := logs.Rewrite(dir, "conn", logs.DropUser("alice"))
			if err != nil || n != tc.dropped {
				t.Errorf("Rewrite = %d, %v; want %d, nil", n, err, tc.dropped)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(tc.want) {
				t.Errorf("got %d files, want %d (no temporary files left)", len(entries), len(tc.want))
			}
			for name, want := range tc.want {
				p := filepath.Join(dir, name)
				if got := readFile(t, p); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
				if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: mode %v, %v; want 0600", name, fi.Mode().Perm(), err)
				}
			}
		})
	}
}

func TestDropUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line string
		want bool
	}{
		{`{"user":"alice"}`, true},
		{`{"component":"c2s","user":"alice","message":"login"}` + "\n", true},
		{`{"user":"Alice"}`, false},
		{`{"user":"alice2"}`, false},
		{`{"message":"user alice"}`, false},
		{`{"user":"alice"`, false},
		{`"user"`, false},
		{`{"user":null}`, false},
		{`{"user":1}`, false},
		{``, false},
	}
	drop := logs.DropUser("alice")
	for _, tc := range tests {
		if got := drop([]byte(tc.line)); got != tc.want {
			t.Errorf("DropUser(alice)(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}
