package server_test

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatbx/server/xmpptest"
)

// slix starts the slixmpp client script; it returns the process and a
// channel of its stdout lines.
func slix(t *testing.T, e *env, caFile string, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	py := xmpptest.RequireCommand(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import slixmpp").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3-slixmpp is required in CI")
		}
		t.Skip("python3-slixmpp not installed")
	}
	host, port, _ := net.SplitHostPort(e.plain)
	// Longer than the script's own 90 s wait, which reports TIMEOUT.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	full := append([]string{"testdata/slix_client.py", args[0], args[1], host, port, args[2], caFile}, args[3:]...)
	cmd := exec.CommandContext(ctx, py, full...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return cmd, lines
}

func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("client exited before %q", want)
			}
			if strings.HasPrefix(l, want) {
				return
			}
			if l == "AUTHFAIL" || l == "TIMEOUT" {
				t.Fatalf("client: %s (waiting for %q)", l, want)
			}
		case <-timeout:
			t.Fatalf("timeout waiting for %q", want)
		}
	}
}

func writeCA(t *testing.T, e *env) string {
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, e.ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSlixmpp: Debian's python3-slixmpp logs in with SCRAM-SHA-256 and
// SCRAM-SHA-1 and exchanges messages with a second slixmpp client.
func TestSlixmpp(t *testing.T) {
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	ca := writeCA(t, e)
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-1"} {
		t.Run(mech, func(t *testing.T) {
			rc, rl := slix(t, e, ca, "bob@chatbx.test", "secret-bob", mech, "recv", "hi via "+mech)
			waitLine(t, rl, "READY")
			sc, sl := slix(t, e, ca, "alice@chatbx.test", "secret-alice", mech, "send", "bob@chatbx.test", "hi via "+mech)
			waitLine(t, sl, "READY")
			waitLine(t, rl, "GOT hi via "+mech)
			if err := rc.Wait(); err != nil {
				t.Errorf("receiver: %v", err)
			}
			if err := sc.Wait(); err != nil {
				t.Errorf("sender: %v", err)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		c, l := slix(t, e, ca, "alice@chatbx.test", "wrong", "SCRAM-SHA-256", "recv", "x")
		for line := range l {
			if line == "READY" {
				t.Fatal("logged in with a wrong password")
			}
		}
		if c.Wait() == nil {
			t.Error("exit 0 with a wrong password")
		}
	})
}

// TestGoSendxmpp: go-sendxmpp (PLAIN over STARTTLS, newline after every
// element) sends a message that a slixmpp client receives.
func TestGoSendxmpp(t *testing.T) {
	gs := xmpptest.RequireCommand(t, "go-sendxmpp")
	e := start(t)
	e.user(t, "alice")
	e.user(t, "bob")
	ca := writeCA(t, e)
	rc, rl := slix(t, e, ca, "bob@chatbx.test", "secret-bob", "SCRAM-SHA-256", "recv", "hello from go-sendxmpp")
	waitLine(t, rl, "READY")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gs, "-f", "/dev/null", "-u", "alice@chatbx.test", "-p", "secret-alice",
		"-j", e.plain, "bob@chatbx.test")
	cmd.Stdin = strings.NewReader("hello from go-sendxmpp\n")
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+ca, "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go-sendxmpp: %v\n%s", err, out)
	}
	waitLine(t, rl, "GOT hello from go-sendxmpp")
	rc.Wait()
}
