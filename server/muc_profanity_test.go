package server_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatbx/server/xmpptest"
)

// tmuxClient is one Profanity running in its own tmux session, with its
// own home directory.
type tmuxClient struct {
	t          *testing.T
	tmux, sock string
	name       string
}

func (c *tmuxClient) keys(text string) {
	c.t.Helper()
	if out, err := exec.Command(c.tmux, "-S", c.sock, "send-keys", "-t", c.name, "-l", text).CombinedOutput(); err != nil {
		c.t.Fatalf("tmux send-keys: %v %s", err, out)
	}
	if out, err := exec.Command(c.tmux, "-S", c.sock, "send-keys", "-t", c.name, "Enter").CombinedOutput(); err != nil {
		c.t.Fatalf("tmux send-keys: %v %s", err, out)
	}
}

func (c *tmuxClient) screen() string {
	out, _ := exec.Command(c.tmux, "-S", c.sock, "capture-pane", "-p", "-t", c.name, "-S", "-200").Output()
	return string(out)
}

// waitScreen waits until the pane shows one of the texts (a terminal
// program gives no other event to wait on) and returns which.
func (c *tmuxClient) waitScreen(what string, texts ...string) string {
	c.t.Helper()
	deadline := time.Now().Add(xmpptest.Wait)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		s := c.screen()
		for _, x := range texts {
			if strings.Contains(s, x) {
				return x
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: waiting for %s (%q); screen:\n%s", c.name, what, texts, s)
		}
		<-tick.C
	}
}

// TestMUCProfanity: two Profanity 0.13 clients (Debian) join a room and
// exchange groupchat messages; a raw client in the room watches.
func TestMUCProfanity(t *testing.T) {
	prof := xmpptest.RequireCommand(t, "profanity")
	tmux := xmpptest.RequireCommand(t, "tmux")
	e, _ := startMUC(t, nil, nil)
	for _, u := range []string{"alice", "bob", "carol"} {
		e.user(t, u)
	}
	carol := e.login(t, "carol")
	createRoom(t, carol, "prof", "carol", map[string]string{"muc#roomconfig_persistentroom": "1"})
	room := "prof@" + mucDomain
	_, port, err := net.SplitHostPort(e.plain)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	t.Cleanup(func() { exec.Command(tmux, "-S", sock, "kill-server").Run() })
	clients := map[string]*tmuxClient{}
	for _, u := range []string{"alice", "bob"} {
		home := t.TempDir()
		for _, d := range []string{".config", ".local/share"} {
			os.MkdirAll(filepath.Join(home, d), 0o700)
		}
		cmd := exec.Command(tmux, "-S", sock, "new-session", "-d", "-s", u, "-x", "200", "-y", "50",
			"env", "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
			"XDG_DATA_HOME="+filepath.Join(home, ".local/share"), "TERM=xterm-256color", prof)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tmux new-session: %v %s", err, out)
		}
		c := &tmuxClient{t: t, tmux: tmux, sock: sock, name: u}
		clients[u] = c
		c.waitScreen("start", "Profanity")
		c.keys("/connect " + u + "@" + domain + " server 127.0.0.1 port " + port + " tls force")
		c.waitScreen("password prompt", "password")
		c.keys("secret-" + u)
		// The test CA is unknown to Profanity: trust the certificate for
		// this run.
		if c.waitScreen("login", "/tls allow", "logged in successfully") == "/tls allow" {
			c.keys("/tls allow")
			c.waitScreen("login", "logged in successfully")
		}
		c.keys("/join " + room + " nick " + u)
		carol.Expect(u+" joins", presenceFrom(room+"/"+u, ""))
	}
	clients["alice"].keys("hello from profanity alice")
	carol.Expect("alice's message", groupchat("hello from profanity alice"))
	clients["bob"].waitScreen("alice's message", "hello from profanity alice")
	clients["bob"].keys("hi from profanity bob")
	m := carol.Expect("bob's message", groupchat("hi from profanity bob"))
	if m.Get("from") != room+"/bob" || m.Child("urn:xmpp:sid:0", "stanza-id") == nil {
		t.Errorf("bob's message = %s", xmpptest.String(m))
	}
	clients["alice"].waitScreen("bob's message", "hi from profanity bob")
}
