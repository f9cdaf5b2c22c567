package account_test

import (
	"archive/zip"
	"chatbx/internal/heappeak"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatbx/internal/accounts"
	"chatbx/web/account"
)

// bigArchive is an Archive whose export is size bytes of JSON, produced a
// chunk at a time (as the real archive reads its pages), so that the test
// measures only what the export holds.
type bigArchive struct {
	archive
	size int
}

func (a *bigArchive) ExportArchive(_ context.Context, _ string, w io.Writer) error {
	raw := make([]byte, 48<<10)
	chunk := make([]byte, base64.StdEncoding.EncodedLen(len(raw)))
	if _, err := io.WriteString(w, `{"messages":["`); err != nil {
		return err
	}
	for n := 0; n < a.size; n += len(chunk) {
		// Random text: the zip cannot shrink it much, as with real messages.
		rand.Read(raw)
		base64.StdEncoding.Encode(chunk, raw)
		if _, err := w.Write(chunk); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, `"]}`)
	return err
}

// TestExportStreams: the export of an account with a 50 MB archive is
// streamed to the response: the server's heap grows by far less than the
// archive, and the zip is valid. Fails on main before this change, which
// built the whole zip in memory first (heap growth about the zip's size).
func TestExportStreams(t *testing.T) {
	const size = 50 << 20
	e := newEnv(t, func(_ *account.Config, _ *account.Deps, d *accounts.Deps) {
		d.Archive = &bigArchive{archive: *newArchive(), size: size}
	})
	user(t, e.db, "alice")
	for i := range 300 {
		// Offline messages are read in pages too.
		if _, err := e.db.PushOffline(t.Context(), "alice", time.Now(), []byte(`<message xmlns='jabber:client'><body>offline `+strings.Repeat("z", 1000)+`</body></message>`), 0); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	values := url.Values{"token": {e.token(t, "export")}, "username": {"alice"}, "password": {"secret-password"}}

	stopHeap := heappeak.Start()

	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/account/export", strings.NewReader(values.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/zip" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("export: status %d %q; %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	// The download goes to a file, so the client holds nothing either.
	path := filepath.Join(t.TempDir(), "export.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(f, resp.Body)
	f.Close()
	if err != nil {
		t.Fatalf("download after %d bytes: %v", n, err)
	}
	growth := stopHeap()
	t.Logf("archive %d MB, zip %d MB, heap growth at peak %.1f MB", size>>20, n>>20, float64(growth)/(1<<20))
	if growth > size/5 {
		t.Errorf("heap grew by %d bytes for a %d byte archive, want well under (streamed)", growth, size)
	}

	// The zip is valid: every entry reads to its end with a good CRC.
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	got := map[string]int64{}
	for _, f := range z.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		m, err := io.Copy(io.Discard, r)
		r.Close()
		if err != nil {
			t.Errorf("%s: %v", f.Name, err)
		}
		got[f.Name] = m
	}
	if got["archive.json"] < size || got["account.xml"] < 300*1000 || got["README.txt"] == 0 {
		t.Errorf("zip entries %v, want the whole archive and account.xml with the offline queue", got)
	}
}
