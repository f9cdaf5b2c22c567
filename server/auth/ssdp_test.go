package auth

import (
	"chatbx/store"
	"context"
	"crypto/sha1"
	"strings"
	"testing"
)

// TestSSDPExample checks the hash against XEP-0474's full example: SHA-1
// of "SCRAM-SHA-1\x1eSCRAM-SHA-1-PLUS\x1ftls-exporter\x1etls-server-end-point",
// from lists given in another order.
func TestSSDPExample(t *testing.T) {
	got := SSDP(sha1.New, []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"}, []string{"tls-server-end-point", "tls-exporter"})
	if want := "G6k/rBLDqgOhRRaCuuatSDFkJ08="; got != want {
		t.Errorf("SSDP = %q, want %q", got, want)
	}
}

// TestServerFirstCarriesSSDP checks that the server-first-message carries
// h= with the hash of what the server offers on the connection.
func TestServerFirstCarriesSSDP(t *testing.T) {
	s := New(noCreds{}, "example.org", true)
	cs := tlsState()
	x, err := s.Start(ScramSHA1, cs)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := x.Step(context.Background(), []byte("n,,n=someone,r=abc"))
	if err != nil {
		t.Fatal(err)
	}
	want := "h=" + SSDP(sha1.New, s.Mechanisms(cs), s.ChannelBindings(cs))
	if !strings.HasSuffix(string(out), ","+want) {
		t.Errorf("server-first %q, want it to end with %q", out, want)
	}
}

// noCreds knows no user.
type noCreds struct{}

func (noCreds) Credentials(context.Context, string) (store.Credentials, error) {
	return store.Credentials{}, store.ErrNotFound
}
