package push

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbx/server/wire"
	"chatbx/store"
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

// fakeStore holds registrations in memory.
type fakeStore struct {
	mu   sync.Mutex
	regs map[string][]store.PushRegistration
}

func (f *fakeStore) PutPush(_ context.Context, user string, r store.PushRegistration, max int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.regs[user] = append(f.regs[user], r)
	return nil
}

func (f *fakeStore) DeletePush(_ context.Context, user, jid, node string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.regs[user])
	f.regs[user] = slices.DeleteFunc(f.regs[user], func(r store.PushRegistration) bool {
		return r.JID == jid && (node == "" || r.Node == node)
	})
	return n - len(f.regs[user]), nil
}

func (f *fakeStore) PushRegistrations(_ context.Context, user string) ([]store.PushRegistration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.regs[user]), nil
}

func (f *fakeStore) OfflineCount(context.Context, string) (int, error) { return 1, nil }

// MaxPending bounds the notifications awaiting answers over all users;
// an answer frees a slot.
func TestMaxPending(t *testing.T) {
	db := &fakeStore{regs: map[string][]store.PushRegistration{}}
	for i := range 3 {
		db.regs["alice"] = append(db.regs["alice"], store.PushRegistration{JID: "push.example", Node: fmt.Sprint("n", i)})
	}
	p := New(db, Config{Domain: "d.test", MaxPending: 2, MinInterval: time.Nanosecond, Timeout: time.Hour})
	defer p.Close()
	var sent []*wire.Element
	p.Attach(func(el *wire.Element) { sent = append(sent, el) })
	msg := wire.New(wire.NSClient, "message", "from", "bob@d.test/x", "to", "alice@d.test")
	p.Offline("alice", msg)
	if len(sent) != 2 {
		t.Fatalf("%d notifications sent with MaxPending 2, want 2", len(sent))
	}
	answer := wire.New(wire.NSClient, "iq", "type", "result", "id", sent[0].Get("id"), "from", "push.example", "to", "alice@d.test")
	if !p.Answer(answer) {
		t.Fatal("answer not taken")
	}
	if p.Answer(answer) {
		t.Error("the same answer taken twice")
	}
	forged := wire.New(wire.NSClient, "iq", "type", "error", "id", sent[1].Get("id"), "from", "evil.example", "to", "alice@d.test")
	if p.Answer(forged) {
		t.Error("an answer from another JID was taken")
	}
	p.Offline("alice", msg)
	if len(sent) != 3 {
		t.Errorf("after one answer: %d sent, want 3", len(sent))
	}
}

// Enable requests are bounded: JID and node length, form fields.
func TestParseRequestBounds(t *testing.T) {
	fields := ""
	for i := range maxFormFields + 1 {
		fields += fmt.Sprintf("<field var='f%d'/>", i)
	}
	for name, raw := range map[string]string{
		"long node":  "<enable xmlns='urn:xmpp:push:0' jid='p.example' node='" + strings.Repeat("n", maxNode+1) + "'/>",
		"long jid":   "<enable xmlns='urn:xmpp:push:0' jid='" + strings.Repeat("j", maxJID+1) + "' node='n'/>",
		"NUL node":   "<enable xmlns='urn:xmpp:push:0' jid='p.example' node='a&#0;b'/>",
		"many field": "<enable xmlns='urn:xmpp:push:0' jid='p.example' node='n'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>" + formPublish + "</value></field>" + fields + "</x></enable>",
		"form type":  "<enable xmlns='urn:xmpp:push:0' jid='p.example' node='n'><x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE'><value>" + formPublish + "</value></field></x></enable>",
	} {
		el, err := wire.Parse([]byte(raw))
		if err != nil {
			continue // not even XML: the stream refuses it earlier
		}
		if r, err := parseRequest(el); err == nil {
			t.Errorf("%s accepted: %+v", name, r)
		}
	}
}
