package register_test

import (
	"context"
	"testing"
	"time"

	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

// removeDeadline bounds how long an in-band removal may take, end to end,
// on a loaded machine. Before the fix the removing session's reader waited
// for its own end (10 s, the deletion's wait limit).
const removeDeadline = 4 * time.Second

// streamEnd reads c until its stream ends and reports the stream error
// condition ("" for none) and whether the IQ with id came as a result
// before it.
func streamEnd(t *testing.T, c *xmpptest.Client, id string) (cond string, result bool) {
	t.Helper()
	for {
		el, err := c.Next()
		if err != nil {
			return cond, result
		}
		switch {
		case el.Local == "iq" && el.Get("id") == id:
			if el.Get("type") != "result" {
				t.Errorf("%s: answer %s, want a result", c.JID, el)
			}
			result = true
		case el.Space == wire.NSStream && el.Local == "error":
			if f := el.FirstChild(); f != nil {
				cond = f.Local
			}
		}
	}
}

// TestRemoveDoesNotWaitForItself removes an account in-band with main's
// session control (deletion waits for the account's sessions to end): the
// removing session gets its result and its stream ends at once, the
// account's other session is closed, the account is gone (its connection
// log lines too), and a shutdown right after the removal is not held up.
func TestRemoveDoesNotWaitForItself(t *testing.T) {
	tests := []struct {
		name     string
		shutdown bool // stop the server as soon as the result arrives
	}{
		{"streams end", false},
		{"shutdown not delayed", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startServerWith(t, true)
			opts := func(res string) xmpptest.Options { return xmpptest.Options{Pool: s.ca.Pool, Resource: res} }
			phone := xmpptest.Login(t, s.addr, dom, "alice", "secret-alice", opts("phone"))
			laptop := xmpptest.Login(t, s.addr, dom, "alice", "secret-alice", opts("laptop"))

			start := time.Now()
			phone.SendRaw(`<iq type='set' id='rm'><query xmlns='jabber:iq:register'><remove/></query></iq>`)
			if tc.shutdown {
				phone.Expect("removal result", func(e *wire.Element) bool { return e.Local == "iq" && e.Get("id") == "rm" })
				stopped := time.Now()
				s.stop()
				if took := time.Since(stopped); took > removeDeadline {
					t.Errorf("shutdown after an in-band removal took %v, want under %v", took, removeDeadline)
				}
				return
			}
			cond, result := streamEnd(t, phone, "rm")
			if took := time.Since(start); took > removeDeadline {
				t.Errorf("removing session ended after %v, want under %v", took, removeDeadline)
			}
			if !result {
				t.Error("removing session: no result before the stream ended")
			}
			if cond != "not-authorized" {
				t.Errorf("removing session: stream error %q, want not-authorized (XEP-0077 §3.2)", cond)
			}
			if cond, _ := streamEnd(t, laptop, ""); cond != "not-authorized" {
				t.Errorf("other session: stream error %q, want not-authorized", cond)
			}
			if took := time.Since(start); took > removeDeadline {
				t.Errorf("other session ended after %v, want under %v", took, removeDeadline)
			}
			if ok, err := s.db.UserExists(context.Background(), "alice"); ok || err != nil {
				t.Errorf("UserExists(alice) after removal = %v, %v", ok, err)
			}
			// Once every session has ended, no line of the deleted
			// account is left in the connection log: the removing
			// session, not waited for, writes no logout line.
			s.stop()
			if lines := s.connLog.of("alice"); len(lines) > 0 {
				t.Errorf("connection log after removal: %q", lines)
			}
		})
	}
}
