package register_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"chatbx/internal/accounts"
	"chatbx/server/c2s"
	"chatbx/server/mux"
	"chatbx/server/register"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

// hooks are the account service's hooks over *c2s.Server, as main
// registers them: deletion closes the account's sessions (waiting for
// them with wait) and rewrites the connection log; a password change
// closes the user's other sessions.
func hooks(s *c2s.Server, wait bool, cl *connLog) accounts.Hooks {
	return accounts.Hooks{
		AfterDelete: func(ctx context.Context, d accounts.Deleted, self string) error {
			if wait {
				if err := s.KickUserWait(ctx, d.User, self, "not-authorized"); err != nil {
					return err
				}
			} else {
				s.KickUser(d.User, "not-authorized", nil)
			}
			return cl.drop(d.User)
		},
		Effects: accounts.RewritesLogs,
		PasswordChanged: func(user, keep string) {
			var except *c2s.Session
			for _, ss := range s.Router().Sessions(user) {
				if ss.JID() == keep {
					except = ss
				}
			}
			s.KickUser(user, "reset", except)
		},
	}
}

type anonIP struct{}

func (anonIP) IP(net.Addr) string { return "127.0.0.0" }

const dom = "chatbx.test"

// server is a c2s server with the register handler, over a real store.
type server struct {
	db   *store.DB
	dir  string
	ca   *xmpptest.CA
	addr string // STARTTLS listener
	// stop shuts the server down and returns once its Run has returned.
	stop func()
	// connLog holds the connection log; deletion rewrites it.
	connLog *connLog
}

// connLog is an in-memory connection log that account deletion rewrites
// without the account's lines, as main's log sink does.
type connLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *connLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

// drop removes the lines of user.
func (l *connLog) drop(user string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = slices.DeleteFunc(l.lines, func(s string) bool { return strings.Contains(s, `"user":"`+user+`"`) })
	return nil
}

// of returns the lines of user.
func (l *connLog) of(user string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if strings.Contains(s, `"user":"`+user+`"`) {
			out = append(out, s)
		}
	}
	return out
}

func startServer(t *testing.T) *server { return startServerWith(t, false) }

// startServerWith is startServer; with wait, account deletion waits for
// the account's sessions to end, as in main.
func startServerWith(t *testing.T, wait bool) *server {
	t.Helper()
	dir := t.TempDir()
	db := storetest.OpenPath(t, filepath.Join(dir, "chatbx.db"))
	ca := xmpptest.NewCA(t, dom)
	cfg := c2s.DefaultConfig()
	cfg.Domain = dom
	cfg.Listen = "127.0.0.1:0"
	cfg.ListenTLS = ""
	cl := &connLog{}
	handlers := mux.New()
	srv := c2s.New(cfg, c2s.Deps{
		DB: db, Log: zerolog.Nop(), ConnLog: zerolog.New(cl), Anon: anonIP{}, Mux: handlers,
		StartTLS: func(string) *tls.Config { return ca.ServerConfig() },
	})
	acc, err := accounts.New(accounts.DefaultConfig(dom), accounts.Deps{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	acc.AddHooks(hooks(srv, wait, cl))
	reg, err := register.New(register.DefaultConfig(dom), register.Deps{Accounts: acc})
	if err != nil {
		t.Fatal(err)
	}
	handlers.Namespace(register.NS, mux.Route{Handler: reg.Handle})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	bg := context.Background()
	for _, u := range []string{"alice", "bob"} {
		c, err := store.DeriveCredentials("secret-"+u, store.MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateUser(bg, u, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.PutRosterItem(bg, "bob", store.RosterItem{JID: "alice@" + dom, Sub: store.SubBoth}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetVCard(bg, "alice", []byte(`<vCard xmlns='vcard-temp'><FN>inband-vcard-marker</FN></vCard>`)); err != nil {
		t.Fatal(err)
	}
	return &server{db: db, dir: dir, ca: ca, addr: srv.Addrs()[0].String(), stop: stop, connLog: cl}
}

// TestInBandOverStream removes an account and changes a password with
// XEP-0077 over a real TLS stream while other sessions are online.
func TestInBandOverStream(t *testing.T) {
	s := startServer(t)
	db, dir, ca, addr := s.db, s.dir, s.ca, s.addr
	bg := context.Background()
	login := func(user, pass, res string) *xmpptest.Client {
		return xmpptest.Login(t, addr, dom, user, pass, xmpptest.Options{Pool: ca.Pool, Resource: res})
	}
	streamError := func(c *xmpptest.Client, cond string) {
		t.Helper()
		el := c.Expect("stream error", func(e *wire.Element) bool { return e.Space == wire.NSStream && e.Local == "error" })
		if el.Child(wire.NSStreams, cond) == nil {
			t.Errorf("%s: stream error %s, want %s", c.JID, el, cond)
		}
	}

	phone := login("alice", "secret-alice", "phone")
	laptop := login("alice", "secret-alice", "laptop")
	bob := login("bob", "secret-bob", "desk")

	// Password change: the other session is reset, this one stays.
	res := phone.IQ(`<iq type='set' id='pw1'><query xmlns='jabber:iq:register'><username>alice</username><password>changed-password</password></query></iq>`)
	if res.Get("type") != "result" {
		t.Fatalf("password change: %s", res)
	}
	streamError(laptop, "reset")
	if res := phone.IQ(`<iq type='get' id='g1'><query xmlns='jabber:iq:register'/></iq>`); res.Child(register.NS, "query") == nil {
		t.Fatalf("phone after password change: %s", res)
	}
	if _, err := xmpptest.Dial(t, addr, dom, "alice", "secret-alice", xmpptest.Options{Pool: ca.Pool}); err == nil {
		t.Error("old password still logs in")
	}
	laptop = login("alice", "changed-password", "laptop")

	// Removal: the result arrives, then every session of the account ends.
	phone.SendRaw(`<iq type='set' id='rm1'><query xmlns='jabber:iq:register'><remove/></query></iq>`)
	gotResult, gotError := false, false
	for !gotError {
		el, err := phone.Next()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("phone: session still open after <remove/>")
		}
		if err != nil {
			// TODO(#6): c2s's Session.finish cuts the connection without
			// the stream error while the writer is flushing, which drops
			// the result queued just before the kick. The session ended;
			// the deletion itself is checked below.
			t.Logf("remove: stream cut (%v); result seen: %v", err, gotResult)
			break
		}
		if el.Local == "iq" && el.Get("id") == "rm1" {
			if el.Get("type") != "result" {
				t.Fatalf("remove: %s", el)
			}
			gotResult = true
			continue
		}
		if el.Space == wire.NSStream && el.Local == "error" {
			if el.Child(wire.NSStreams, "not-authorized") == nil {
				t.Errorf("remove: stream error %s, want not-authorized", el)
			}
			if !gotResult {
				t.Error("remove: stream error before the IQ result")
			}
			gotError = true
		}
	}
	// The other session ends too: with <not-authorized/>, or cut as above.
	for {
		el, err := laptop.Next()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("laptop: session still open after the account's removal")
		}
		if err != nil {
			break
		}
		if el.Space == wire.NSStream && el.Local == "error" {
			if el.Child(wire.NSStreams, "not-authorized") == nil {
				t.Errorf("laptop: stream error %s, want not-authorized", el)
			}
			break
		}
	}
	var authErr *xmpptest.AuthError
	if _, err := xmpptest.Dial(t, addr, dom, "alice", "changed-password", xmpptest.Options{Pool: ca.Pool}); !errors.As(err, &authErr) {
		t.Errorf("login after removal: %v, want an auth failure", err)
	}
	if _, err := db.RosterItem(bg, "bob", "alice@"+dom); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bob's roster still holds alice: %v", err)
	}
	// bob stays online and unharmed.
	if res := bob.IQ(`<iq type='get' id='b1'><query xmlns='jabber:iq:register'/></iq>`); res.Get("type") != "result" {
		t.Errorf("bob after alice's removal: %s", res)
	}
	if hits := storetest.ScanDir(t, dir, "inband-vcard-marker"); len(hits) > 0 {
		t.Errorf("deleted data readable: %q", hits)
	}
}
