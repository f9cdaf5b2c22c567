package certs

import (
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestStatus shows each name's certificate and the last failed order,
// which a later success clears.
func TestStatus(t *testing.T) {
	src, err := New(Config{Dev: true, DataDir: t.TempDir(), Names: []string{"xmpp.test", "chat.xmpp.test"}}, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	st := src.Status()
	if len(st) != 2 || st[0].Name != "xmpp.test" || st[1].Name != "chat.xmpp.test" || st[0].Mode != "dev" {
		t.Fatalf("Status = %+v", st)
	}
	if st[0].NotAfter.Before(time.Now()) || st[0].LastError != "" {
		t.Errorf("Status[0] = %+v, want a valid certificate and no error", st[0])
	}
	if len(src.Expiries()) != 2 {
		t.Errorf("Expiries = %v", src.Expiries())
	}
	src.onEvent(t.Context(), "cert_failed", map[string]any{"identifier": "chat.xmpp.test", "error": errors.New("the CA said no")})
	st = src.Status()
	if st[1].LastError != "the CA said no" || st[1].LastErrorAt.IsZero() || st[0].LastError != "" {
		t.Errorf("after a failure: %+v", st)
	}
	src.onEvent(t.Context(), "cert_obtained", map[string]any{"identifier": "chat.xmpp.test"})
	if st = src.Status(); st[1].LastError != "" {
		t.Errorf("after a success: %+v, want the error cleared", st[1])
	}
}
