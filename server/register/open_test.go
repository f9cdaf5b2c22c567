package register_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/internal/accounts"
	"chatbx/server/c2s"
	"chatbx/server/mux"
	"chatbx/server/register"
	"chatbx/server/xmpptest"
	"chatbx/store/storetest"
)

// TestSlixmppOpenRegistration: with accounts.registration = open, Debian's
// slixmpp signs up in-band before authenticating (XEP-0077 §3, offered as
// a stream feature by the c2s layer) and then logs in with the new
// account; a second sign-up with the same name gets conflict.
func TestSlixmppOpenRegistration(t *testing.T) {
	py := xmpptest.RequireCommand(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import slixmpp").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3-slixmpp is required in CI")
		}
		t.Skip("python3-slixmpp not installed")
	}
	db := storetest.Open(t)
	ca := xmpptest.NewCA(t, dom)
	cfg := c2s.DefaultConfig()
	cfg.Domain, cfg.Listen, cfg.ListenTLS = dom, "127.0.0.1:0", ""
	acc, err := accounts.New(accounts.DefaultConfig(dom), accounts.Deps{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	rcfg := register.DefaultConfig(dom)
	rcfg.Registration = register.Open
	reg, err := register.New(rcfg, register.Deps{Accounts: acc})
	if err != nil {
		t.Fatal(err)
	}
	handlers := mux.New()
	srv := c2s.New(cfg, c2s.Deps{Mux: handlers,
		DB: db, Log: zerolog.Nop(), ConnLog: zerolog.Nop(), Anon: anonIP{},
		StartTLS: func(string) *tls.Config { return ca.ServerConfig() },
		Register: reg,
	})
	handlers.Namespace(register.NS, mux.Route{Handler: reg.Handle})
	acc.AddHooks(hooks(srv, true, &connLog{}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-srv.Ready()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, ca.PEM, 0o600)
	host, port, _ := net.SplitHostPort(srv.Addrs()[0].String())
	run := func() string {
		// Longer than the script's own 90 s wait (loaded CI machines).
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Minute)
		defer ccancel()
		cmd := exec.CommandContext(cctx, py, "testdata/slix_signup.py", "carol@"+dom, "carol-password-1", host, port, caFile)
		cmd.Stderr = os.Stderr
		out, _ := cmd.Output()
		return string(out)
	}
	if out := run(); !strings.Contains(out, "REGISTERED") || !strings.Contains(out, "READY") {
		t.Fatalf("slixmpp sign-up: %q", out)
	}
	c, err := db.Credentials(ctx, "carol")
	if err != nil || !c.VerifyPlain("carol-password-1") {
		t.Fatalf("account after sign-up: %v", err)
	}
	if out := run(); !strings.Contains(out, "RESULT error conflict") {
		t.Errorf("second sign-up with the same name: %q", out)
	}
}
