package push

import (
	"testing"

	"chatbx/server/wire"
)

// FuzzParseRequest: any enable or disable payload gets a verdict, never a
// panic; an accepted one has a JID, a node to enable, and options within
// the bound that parse again.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"<enable xmlns='urn:xmpp:push:0' jid='push.example.org' node='n'/>",
		"<enable xmlns='urn:xmpp:push:0' jid='push.example.org' node='n'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/pubsub#publish-options</value></field><field var='secret'><value>s</value></field></x></enable>",
		"<disable xmlns='urn:xmpp:push:0' jid='push.example.org'/>",
		"<disable xmlns='urn:xmpp:push:0' jid='a@b/c' node='x'/>",
		"<enable xmlns='urn:xmpp:push:0' jid='@' node=''/>",
		"<enable xmlns='urn:xmpp:push:0'/>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		el, err := wire.Parse(b)
		if err != nil {
			return
		}
		r, err := parseRequest(el)
		if err != nil {
			return
		}
		if r.jid == "" || (r.op == "enable" && r.node == "") || len(r.options) > maxFormBytes {
			t.Fatalf("accepted %q as %+v", b, r)
		}
		if len(r.options) > 0 {
			if _, err := wire.Parse(r.options); err != nil {
				t.Fatalf("options do not parse again: %v", err)
			}
		}
	})
}

func TestFromApp(t *testing.T) {
	for _, tc := range []struct {
		from, app string
		want      bool
	}{
		{"push.example", "push.example", true},
		{"push.example/r", "push.example", true},
		{"a@push.example/r", "a@push.example/r", true},
		{"a@push.example/x", "a@push.example/r", false},
		{"evil.example", "push.example", false},
	} {
		if got := fromApp(tc.from, tc.app); got != tc.want {
			t.Errorf("fromApp(%q, %q) = %v, want %v", tc.from, tc.app, got, tc.want)
		}
	}
}
