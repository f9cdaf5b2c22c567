package main

// End-to-end test of SASL2, Bind2 and FAST (XEP-0388, XEP-0386, XEP-0484)
// with a real client library: xmpp.js (@xmpp/client 0.14) under node,
// over WebSocket, against the wired application. Not parallel (see
// e2e_javascript_test.go); the name sorts before e2e_retention_test.go so
// that TestZZZLogScan scans this test's logs too.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatbx/server/xmpptest"
)

// fastEvent is one line xmppjs-fast.mjs prints.
type fastEvent struct {
	Event     string `json:"event"`
	Phase     string `json:"phase"`
	Mechanism string `json:"mechanism"`
	Condition string `json:"condition"`
	Expiry    string `json:"expiry"`
	Length    int    `json:"length"`
	JID       string `json:"jid"`
	Message   string `json:"message"`
	raw       string
}

// TestXMPPJSFAST: xmpp.js logs in with SCRAM over SASL2 (binding with
// Bind2) and receives a FAST token; it reconnects with the token alone
// (its password is wrong then); after the password is changed with the
// CLI, the token no longer works: xmpp.js drops it, falls back to SCRAM
// with the new password and gets a new token.
func TestXMPPJSFAST(t *testing.T) {
	const (
		user     = "jsfast"
		pw       = "jsfast-pw-61b2"
		newPW    = "jsfast-pw-new-9d40"
		scriptTO = 120 * time.Second
	)
	node := xmpptest.RequireCommand(t, "node")
	dir := requireJSModules(t, "@xmpp/client")
	e := newWSE2E(t)
	e.addUser(user, pw)
	webHost := fmt.Sprintf("%s:%d", wsDomain, tcpPort(e.a.addrs.https))
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, e.ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), scriptTO+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--experimental-websocket", "--dns-result-order=ipv4first", "--no-warnings", "xmppjs-fast.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"NODE_EXTRA_CA_CERTS="+caFile,
		"WEB_HOST="+webHost,
		"DOMAIN="+wsDomain,
		"USERNAME="+user,
		"PASSWORD="+pw,
		"NEW_PASSWORD="+newPW,
		fmt.Sprintf("TIMEOUT_MS=%d", scriptTO.Milliseconds()),
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	events := make(chan fastEvent, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ev := fastEvent{Event: "stdout", Message: sc.Text()}
			json.Unmarshal(sc.Bytes(), &ev)
			ev.raw = sc.Text()
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
		}
		io.Copy(io.Discard, out)
	}()
	var seen []fastEvent
	dump := func() string {
		var b strings.Builder
		for _, ev := range seen {
			b.WriteString("\n  " + ev.raw)
		}
		return b.String() + "\nstderr: " + stderr.String()
	}
	// upTo collects events until the one named want.
	upTo := func(want string) {
		t.Helper()
		for {
			select {
			case ev, ok := <-events:
				if !ok {
					t.Fatalf("xmppjs-fast.mjs ended before %q: %v%s", want, cmd.Wait(), dump())
				}
				seen = append(seen, ev)
				t.Logf("xmpp.js: %s", ev.raw)
				if ev.Event == "fail" {
					t.Fatalf("xmppjs-fast.mjs failed: %s%s", ev.Message, dump())
				}
				if ev.Event == want {
					return
				}
			case <-ctx.Done():
				t.Fatalf("waiting for %q: %v%s", want, ctx.Err(), dump())
			}
		}
	}
	upTo("need-password-change")
	e.cli(newPW+"\n", "user", "passwd", user)
	fmt.Fprintln(stdin, "changed")
	upTo("done")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("xmppjs-fast.mjs: %v%s", err, dump())
	}

	// What each phase did, in order.
	phases := map[string][]string{}
	for _, ev := range seen {
		switch ev.Event {
		case "auth":
			phases[ev.Phase] = append(phases[ev.Phase], "auth "+ev.Mechanism)
		case "sasl2-failure":
			phases[ev.Phase] = append(phases[ev.Phase], "failure "+ev.Condition)
		case "token":
			phases[ev.Phase] = append(phases[ev.Phase], "token "+ev.Mechanism)
			exp, err := time.Parse(time.RFC3339, ev.Expiry)
			if err != nil || exp.Before(time.Now().Add(13*24*time.Hour)) || ev.Length < 80 {
				t.Errorf("token expiry %q (%v), length %d; want about 14 days (c2s.fast_token_ttl), at least 80 characters", ev.Expiry, err, ev.Length)
			}
		case "token-deleted":
			phases[ev.Phase] = append(phases[ev.Phase], "token deleted")
		case "online":
			phases[ev.Phase] = append(phases[ev.Phase], "online")
			if !strings.HasPrefix(ev.JID, user+"@"+wsDomain+"/fastjs.") {
				t.Errorf("%s: online as %q, want a Bind2 resource fastjs.…", ev.Phase, ev.JID)
			}
		case "error":
			t.Errorf("xmpp.js reported an error in %s: %s", ev.Phase, ev.Message)
		}
	}
	want := map[string][]string{
		"password":     {"token deleted", "auth SCRAM-SHA-1", "token HT-SHA-256-NONE", "online"},
		"token":        {"auth HT-SHA-256-NONE", "online"},
		"after-change": {"auth HT-SHA-256-NONE", "failure not-authorized", "token deleted", "auth SCRAM-SHA-1", "token HT-SHA-256-NONE", "online"},
	}
	for phase, w := range want {
		if got := phases[phase]; fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("phase %s: %q, want %q", phase, got, w)
		}
	}
}
