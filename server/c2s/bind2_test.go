package c2s

import (
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"chatbx/server/wire"
	"chatbx/store/storetest"
)

// recordTransport keeps what the server writes.
type recordTransport struct {
	fuzzTransport
	out []string
}

func (t *recordTransport) WriteRaw(p []byte) error {
	t.out = append(t.out, string(p))
	return nil
}

// TestRegisterInline: a feature registered with one RegisterInline call
// is advertised in the SASL2 offer's <bind/> and, when the client's
// <bind/> carries its element, enabled with its answer in <bound/>.
func TestRegisterInline(t *testing.T) {
	db := storetest.Open(t)
	storetest.User(t, db, "alice")
	s := New(Config{Domain: "inline.test"}, Deps{DB: db, Log: zerolog.Nop(), ConnLog: zerolog.Nop()})
	var got *Session
	s.RegisterInline(InlineFeature{NS: "urn:test:inline", Enable: func(_ context.Context, ss *Session, el *wire.Element) *wire.Element {
		got = ss
		return wire.New("urn:test:inline", "enabled", "id", el.Get("id"))
	}})
	offer := s.bind2Offer().String()
	if !strings.Contains(offer, `var="urn:test:inline"`) || !strings.Contains(offer, `var="urn:xmpp:carbons:2"`) {
		t.Errorf("Bind2 offer %s, want carbons and the test feature", offer)
	}
	tr := &recordTransport{}
	ss := s.newSession(tr)
	ss.user = "alice"
	b, err := wire.Parse([]byte(`<bind xmlns='urn:xmpp:bind:0'><tag>t</tag><enable xmlns='urn:test:inline' id='x1'/></bind>`))
	if err != nil {
		t.Fatal(err)
	}
	bound, err := ss.bind2(t.Context(), b, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.router.Unbind(ss)
	if got != ss || bound.Child("urn:test:inline", "enabled") == nil || bound.Child("urn:test:inline", "enabled").Get("id") != "x1" {
		t.Errorf("<bound/> = %s, enabled for %p (session %p)", bound, got, ss)
	}
	if !strings.HasPrefix(ss.full, "alice@inline.test/t.") {
		t.Errorf("bound %q, want alice@inline.test/t.…", ss.full)
	}
}
