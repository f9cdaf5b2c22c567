package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/server"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
)

// crashChild runs a real server in a child process (the re-executed test
// binary) on a durable store, so the parent can kill -9 it.
func crashChild() {
	dir := os.Getenv("CHATBX_CRASH_CHILD")
	db, err := store.Open(filepath.Join(dir, "chatbx.db"), store.Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}}
	cfg := server.DefaultConfig()
	cfg.Domain = domain
	cfg.C2SListen, cfg.C2SListenTLS = "127.0.0.1:0", ""
	srv, _ := server.New(cfg, server.Deps{DB: db, Log: zerolog.Nop(), ConnLog: zerolog.Nop(), Anon: anon{},
		StartTLS: func(string) *tls.Config { return tc }, DirectTLS: tc})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		<-srv.Ready()
		fmt.Println("ADDR", srv.Addrs()[0])
	}()
	srv.Run(ctx)
	db.Close()
	os.Exit(0)
}

func TestMain(m *testing.M) {
	if os.Getenv("CHATBX_CRASH_CHILD") != "" {
		crashChild()
	}
	os.Exit(m.Run())
}

func startChild(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CHATBX_CRASH_CHILD="+dir)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd, a
		}
		t.Fatalf("child: %s", sc.Text())
	}
	t.Fatal("child exited before listening")
	return nil, ""
}

// TestCrashKeepsOfflineMessages kills the server with SIGKILL while one
// client sends messages to an online and an offline recipient. After a
// restart the database opens cleanly, every message the server had
// acknowledged (by answering a later ping on the same stream) is delivered
// to the offline recipient, and none twice.
func TestCrashKeepsOfflineMessages(t *testing.T) {
	dir := t.TempDir()
	ca := xmpptest.NewCA(t, domain)
	ca.WriteFiles(t, dir)
	db, err := store.Open(filepath.Join(dir, "chatbx.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		c, _ := store.DeriveCredentials("secret-"+u, store.MinIterations)
		if err := db.CreateUser(context.Background(), u, c); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	cmd, addr := startChild(t, dir)
	opt := xmpptest.Options{Pool: ca.Pool}
	alice := xmpptest.Login(t, addr, domain, "alice", "secret-alice", opt)
	carol := xmpptest.Login(t, addr, domain, "carol", "secret-carol", opt)
	carol.SendRaw(`<presence/>`)
	carol.IQ(`<iq type='get' id='c0'><ping xmlns='urn:xmpp:ping'/></iq>`)

	// Send in rounds of 20 messages to each, each round closed by a ping;
	// kill the server in the middle of round 10, before its ping.
	acked := 0
	sent := 0
	for round := 0; round < 10; round++ {
		for i := 0; i < 20; i++ {
			alice.SendRaw(fmt.Sprintf(`<message to='bob@chatbx.test' type='chat'><body>m%d</body></message>`+
				`<message to='carol@chatbx.test' type='chat'><body>c%d</body></message>`, sent, sent))
			sent++
		}
		if round == 9 {
			break
		}
		alice.IQ(fmt.Sprintf(`<iq type='get' id='r%d'><ping xmlns='urn:xmpp:ping'/></iq>`, round))
		acked = sent
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	// The file opens cleanly and passes bbolt's consistency check.
	db, err = store.Open(filepath.Join(dir, "chatbx.db"), store.Options{})
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	if err := db.Check(context.Background()); err != nil {
		t.Fatalf("consistency after kill -9: %v", err)
	}
	db.Close()

	cmd, addr = startChild(t, dir)
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	bob := xmpptest.Login(t, addr, domain, "bob", "secret-bob", opt)
	bob.SendRaw(`<presence/>`)
	bob.SendRaw(`<iq type='get' id='done'><ping xmlns='urn:xmpp:ping'/></iq>`)
	seen := map[int]int{}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		el, err := bob.Next()
		if err != nil {
			t.Fatal(err)
		}
		if el.Local == "iq" && el.Get("id") == "done" {
			// Offline messages are queued before the ping's answer.
			break
		}
		if el.Local == "message" {
			n, err := strconv.Atoi(strings.TrimPrefix(el.ChildText(wire.NSClient, "body"), "m"))
			if err == nil {
				seen[n]++
			}
		}
	}
	for i := 0; i < acked; i++ {
		if seen[i] != 1 {
			t.Errorf("acknowledged message m%d delivered %d times after the crash, want 1", i, seen[i])
		}
	}
	for n, c := range seen {
		if c > 1 {
			t.Errorf("message m%d delivered %d times", n, c)
		}
	}
	t.Logf("sent %d, acknowledged %d before kill -9, delivered %d after restart", sent, acked, len(seen))
}
