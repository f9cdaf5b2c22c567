package logs_test

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/retention/logs"
)

func TestFullIPs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line string
		want []string
	}{
		{`{"time":"2026-11-27T16:00:00Z","user":"alice","ip_anon":"192.0.2.0","message":"login"}`, nil},
		{`{"ip_anon":"2001:db8:1::","message":"login"}`, nil},
		{`{"ip_anon":"192.0.2.77","message":"login"}`, []string{"192.0.2.77"}},
		{`{"ip_anon":"2001:db8:1::5","message":"login"}`, []string{"2001:db8:1::5"}},
		{`{"err":"read tcp 127.0.0.1:5222->127.0.0.1:40312: i/o timeout"}`, []string{"127.0.0.1:5222", "127.0.0.1:40312"}},
		{`{"err":"dial tcp [::1]:5269: connection refused"}`, []string{"[::1]:5269"}},
		{`{"err":"peer ::ffff:198.51.100.9 reset"}`, []string{"::ffff:198.51.100.9"}},
		{`{"addr":"0.0.0.0:5222","took":12.5,"version":"1.2.3","conn":"a1b2c3d4"}`, nil},
		{`{"time":"16:00:00.123","when":"2026-11-27T16:00:00.5Z"}`, nil},
		{`host 198.51.100.9.`, []string{"198.51.100.9"}},
		{``, nil},
	}
	for _, tc := range tests {
		if got := logs.FullIPs([]byte(tc.line)); !slices.Equal(got, tc.want) {
			t.Errorf("FullIPs(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}

func TestFindFullIPs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clean := `{"ip_anon":"192.0.2.0","message":"login"}` + "\n"
	dirty := `{"ip_anon":"192.0.2.77","message":"login"}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "conn-20261127T160000Z-1h.log"), []byte(clean+dirty+clean), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stray.txt"), []byte(clean), 0o600); err != nil {
		t.Fatal(err)
	}
	leaks, err := logs.FindFullIPs(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []logs.Leak{{Path: filepath.Join(dir, "conn-20261127T160000Z-1h.log"), Line: 2, Addr: "192.0.2.77"}}
	if !slices.Equal(leaks, want) {
		t.Errorf("FindFullIPs = %v, want %v", leaks, want)
	}
}

// FuzzFullIPs checks that FullIPs never panics and finds every address
// IPString would not have logged as it is.
func FuzzFullIPs(f *testing.F) {
	f.Add(`{"err":"read tcp 127.0.0.1:5222->127.0.0.1:40312"}`)
	f.Add(`[2001:db8::1]:443`)
	f.Fuzz(func(t *testing.T, line string) {
		for _, a := range logs.FullIPs([]byte(line)) {
			if a == "" {
				t.Fatalf("FullIPs(%q) returned an empty address", line)
			}
		}
	})
}

// TestConnectionLogHasNoFullIPs logs logins through a Sink with addresses
// from the Anonymizer, as the server does, and scans the files: a full
// address appears only for the login during the maintenance window.
func TestConnectionLogHasNoFullIPs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := newClock(time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC))
	sink := logs.NewSink(dir, logs.PrefixConn, time.Hour, c.Now)
	anon := logs.NewAnonymizer(c.Now)
	log := zerolog.New(sink).With().Timestamp().Str("component", "c2s").Logger()
	addrs := []net.Addr{
		&net.TCPAddr{IP: net.ParseIP("192.0.2.77"), Port: 40000},
		&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2::77"), Port: 40000},
		&net.TCPAddr{IP: net.ParseIP("::ffff:198.51.100.9"), Port: 40000},
	}
	login := func() {
		for _, a := range addrs {
			log.Info().Str("user", "alice").Str("ip_anon", anon.IP(a)).Msg("login")
		}
	}
	login()
	anon.SetMaintenance(c.Now().Add(time.Minute))
	log.Info().Str("user", "alice").Str("ip_anon", anon.IP(addrs[0])).Msg("login")
	c.Set(c.Now().Add(time.Minute)) // window over
	login()
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	leaks, err := logs.FindFullIPs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(leaks) != 1 || leaks[0].Line != 4 || leaks[0].Addr != "192.0.2.77" {
		t.Errorf("FindFullIPs = %v, want only line 4 (the maintenance login)", leaks)
	}
}
