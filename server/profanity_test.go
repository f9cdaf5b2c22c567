package server_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"chatbx/server"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

// profanity is one Profanity client in its own tmux session, with its own
// HOME and XDG directories.
type profanity struct {
	t      *testing.T
	tmux   string // the tmux binary
	socket string // our own tmux server's socket
	name   string // session name
	jid    string
}

// startProfanity writes an account (the test server on loopback, TLS with
// the server's certificate trusted as presented: the test CA's) and
// starts `profanity -a` in a detached tmux session.
func startProfanity(t *testing.T, prof, tmux, socket, addr, user string) *profanity {
	t.Helper()
	home := t.TempDir()
	host, port, _ := net.SplitHostPort(addr)
	jid := user + "@" + domain
	data := filepath.Join(home, "data", "profanity")
	conf := filepath.Join(home, "config", "profanity")
	for _, d := range []string{data, conf} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	account := fmt.Sprintf("[%s]\nenabled=true\njid=%s\nserver=%s\nport=%s\nresource=prof\npassword=secret-%s\ntls.policy=trust\n", jid, jid, host, port, user)
	if err := os.WriteFile(filepath.Join(data, "accounts"), []byte(account), 0o600); err != nil {
		t.Fatal(err)
	}
	// Quiet, predictable UI: no splash, no version check, no logs of
	// chats, no desktop notifications, no autoaway or reconnect timers.
	rc := "[ui]\nsplash=false\nvercheck=false\nintype=false\ntitlebar=false\n" +
		"[connection]\nreconnect=0\nautoping=0\n" +
		"[chatstates]\nenabled=false\n" +
		"[notifications]\nmessage=false\nroom=false\ninvite=false\nsub=false\ntyping=false\n" +
		"[logging]\nchlog=false\ngrlog=false\n" +
		"[presence]\nautoaway.mode=off\n"
	if err := os.WriteFile(filepath.Join(conf, "profrc"), []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &profanity{t: t, tmux: tmux, socket: socket, name: user, jid: jid}
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_DATA_HOME=" + filepath.Join(home, "data"), "TERM=xterm-256color", "LANG=C.UTF-8"}
	cmd := exec.Command(tmux, "-S", socket, "new-session", "-d", "-s", user, "-x", "180", "-y", "50",
		"env "+strings.Join(env, " ")+" "+prof+" -a "+jid)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	return p
}

// send types a line and presses Enter.
func (p *profanity) send(line string) {
	p.t.Helper()
	if out, err := exec.Command(p.tmux, "-S", p.socket, "send-keys", "-t", p.name, "-l", line).CombinedOutput(); err != nil {
		p.t.Fatalf("send-keys: %v: %s", err, out)
	}
	if out, err := exec.Command(p.tmux, "-S", p.socket, "send-keys", "-t", p.name, "Enter").CombinedOutput(); err != nil {
		p.t.Fatalf("send-keys: %v: %s", err, out)
	}
}

// screen returns what the client shows now.
func (p *profanity) screen() string {
	out, err := exec.Command(p.tmux, "-S", p.socket, "capture-pane", "-p", "-J", "-t", p.name, "-S", "-200").CombinedOutput()
	if err != nil {
		return ""
	}
	return string(out)
}

// await waits until the screen matches re (a terminal gives no events:
// the screen is read until it shows the text, with a generous deadline).
func (p *profanity) await(what, re string) string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(xmpptest.Wait)
	for {
		s := p.screen()
		if m := rx.FindString(s); m != "" {
			return m
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: %s never showed %q; screen:\n%s", p.name, what, re, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestProfanityOMEMO: two Profanity 0.13 clients log in, subscribe to
// each other, generate OMEMO keys, trust each other and exchange OMEMO
// messages; every message that crosses the server is encrypted and
// carries no plaintext. A bookmark Profanity stores the XEP-0048 way
// becomes a XEP-0402 bookmark.
func TestProfanityOMEMO(t *testing.T) {
	prof := xmpptest.RequireCommand(t, "profanity")
	tmux := xmpptest.RequireCommand(t, "tmux")

	// Every one-to-one message with content the server routes, as it
	// crossed it (the archive hook sees each, for sender and recipient).
	var mu sync.Mutex
	var seen []string
	e := startWith(t, nil, func(c *server.Config, d *server.Deps) {
		d.Archive = func(_ context.Context, _ string, el *wire.Element, _ bool) string {
			mu.Lock()
			seen = append(seen, xmpptest.String(el))
			mu.Unlock()
			return ""
		}
	})
	e.user(t, "alice")
	e.user(t, "bob")

	dir, err := os.MkdirTemp("", "chatbx-tmux")
	if err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "s")
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range []string{"alice", "bob"} {
				out, _ := exec.Command(tmux, "-S", socket, "capture-pane", "-p", "-t", n).CombinedOutput()
				t.Logf("%s's screen:\n%s", n, out)
			}
		}
		exec.Command(tmux, "-S", socket, "kill-server").Run()
		os.RemoveAll(dir)
	})
	a := startProfanity(t, prof, tmux, socket, e.plain, "alice")
	b := startProfanity(t, prof, tmux, socket, e.plain, "bob")
	for _, c := range []*profanity{a, b} {
		c.await("login", c.jid+`/prof logged in successfully`)
	}

	// Subscribe both ways, as users do.
	a.send("/sub request bob@" + domain)
	b.await("subscription request", `(?i)received authorization request from alice@`)
	b.send("/sub allow alice@" + domain)
	b.send("/sub request alice@" + domain)
	a.await("subscription request", `(?i)received authorization request from bob@`)
	a.send("/sub allow bob@" + domain)

	// OMEMO keys, and each side's fingerprint.
	for _, c := range []*profanity{a, b} {
		c.send("/omemo gen")
	}
	fp := regexp.MustCompile(`[0-9a-f]{8}(-[0-9a-f]{8}){7}`)
	fingerprint := map[*profanity]string{}
	for _, c := range []*profanity{a, b} {
		c.await("omemo keys", `(?i)OMEMO cr[a-z]*graphic materials generated`)
		c.send("/omemo fingerprint")
		fingerprint[c] = fp.FindString(c.await("own fingerprint", `(?i)your OMEMO fingerprint: `+fp.String()))
	}

	// Each opens a chat with the other, starts OMEMO (which fetches the
	// contact's device list and bundle) and trusts the contact's
	// fingerprint as read from the other screen.
	const secret = "omemo-plaintext-marker-5d1e"
	for _, pair := range [][2]*profanity{{a, b}, {b, a}} {
		me, other := pair[0], pair[1]
		me.send("/msg " + other.jid)
		me.send("/omemo start")
		me.await("omemo window", regexp.QuoteMeta(other.jid)+` \[online\] \[OMEMO\]`)
		me.send("/omemo trust " + other.jid + " " + fingerprint[other])
		me.await("trusted", regexp.QuoteMeta(other.jid+"'s OMEMO fingerprint: "+fingerprint[other]+" (trusted)"))
	}
	a.send(secret + " from alice")
	a.await("sent", `~ me: `+secret+` from alice`)
	b.await("received", `~ alice@`+regexp.QuoteMeta(domain)+`/prof: `+secret+` from alice`)
	b.send(secret + " from bob")
	b.await("sent", `~ me: `+secret+` from bob`)
	a.await("received", `~ bob@`+regexp.QuoteMeta(domain)+`/prof: `+secret+` from bob`)

	// A XEP-0048 bookmark from Profanity (private XML storage) shows up
	// as a XEP-0402 bookmark (the #compat conversion).
	a.send("/win 1") // the console, where command output goes
	a.send("/bookmark add room@conference." + domain + " nick alice-nick")
	a.await("bookmark", `(?i)bookmark added`)
	waitFor(t, func() bool {
		_, items, _ := e.db.PEPItems(context.Background(), "alice", "urn:xmpp:bookmarks:1", nil, 0)
		return len(items) == 1 && items[0].ID == "room@conference."+domain && strings.Contains(string(items[0].Payload), "alice-nick")
	})

	// What crossed the server: encrypted, and never the plaintext.
	mu.Lock()
	defer mu.Unlock()
	var encrypted int
	for _, s := range seen {
		if strings.Contains(s, secret) {
			t.Errorf("plaintext crossed the server: %s", s)
		}
		if strings.Contains(s, "eu.siacs.conversations.axolotl") && strings.Contains(s, "<payload>") {
			encrypted++
		}
	}
	if encrypted < 2 {
		t.Errorf("%d OMEMO messages crossed the server, want at least 2 (one each way)", encrypted)
	}
}
