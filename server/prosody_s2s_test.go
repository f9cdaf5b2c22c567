package server_test

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"

	"chatbx/server"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

// prosodyPeer runs Debian's prosody as the federation peer p.test on
// loopback, with its own configuration directory.
type prosodyPeer struct {
	dir, c2s, s2s string
	cmd           *exec.Cmd
}

// loopbackDomain returns a random 127.x.y.z: chatbx's domain in the
// Prosody tests. Prosody connects to an IP-literal domain on port 5269
// without DNS (net.resolvers.service), and every test gets its own
// address, so the fixed port does not collide.
func loopbackDomain(t testing.TB) string {
	for range 20 {
		n, _ := rand.Int(rand.Reader, big.NewInt(1<<16))
		ip := fmt.Sprintf("127.%d.%d.%d", 100+n.Int64()%100, n.Int64()>>8&0xff, 2+n.Int64()%200)
		ln, err := net.Listen("tcp", ip+":5269")
		if err == nil {
			ln.Close()
			return ip
		}
	}
	t.Fatal("no free loopback address for port 5269")
	return ""
}

// extraModules renders further modules for modules_enabled.
func extraModules(m []string) string {
	var b strings.Builder
	for _, x := range m {
		fmt.Fprintf(&b, "; %q", x)
	}
	return b.String()
}

// startProsody starts prosody for domain p.test (modules: further ones to
// enable); trustCA adds the test CA
// to its trust roots (certificate authentication), secure sets
// s2s_secure_auth.
func startProsody(t *testing.T, ca *xmpptest.CA, trustCA, secure bool, modules ...string) *prosodyPeer {
	t.Helper()
	bin := xmpptest.RequireCommand(t, "/usr/bin/prosody")
	dir := t.TempDir()
	p := &prosodyPeer{dir: dir, c2s: freeAddr(t), s2s: freeAddr(t)}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, key := xmpptest.WriteLeaf(t, dir, "p.test", ca.Issue(t, nil, "p.test"))
	port := func(a string) string { _, p, _ := net.SplitHostPort(a); return p }
	cafile := ""
	if trustCA {
		cafile = fmt.Sprintf("cafile = %q;", caFile)
	}
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(data, "p%2etest", "accounts"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "p%2etest", "accounts", "bob.dat"),
		[]byte("return {\n\t[\"password\"] = \"secret-bob\";\n};\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
run_as_root = true
pidfile = %q
data_path = %q
log = { { levels = { min = "debug" }, to = "file", filename = %q } }
modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "vcard_legacy"; "pep"%s }
authentication = "internal_plain"
storage = "internal"
c2s_ports = { %s }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = { %s }
s2s_interfaces = { "127.0.0.1" }
c2s_direct_tls_ports = { }
s2s_require_encryption = true
s2s_secure_auth = %v
ssl = { certificate = %q; key = %q; %s }
VirtualHost "p.test"
`, filepath.Join(dir, "prosody.pid"), data, filepath.Join(dir, "prosody.log"), extraModules(modules),
		port(p.c2s), port(p.s2s), secure, cert, key, cafile)
	cfgFile := filepath.Join(dir, "prosody.cfg.lua")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "-F", "--config", cfgFile)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), "HOME="+dir)
	out, _ := os.Create(filepath.Join(dir, "stdout.log"))
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "prosody.log"))
			o, _ := os.ReadFile(filepath.Join(dir, "stdout.log"))
			t.Logf("prosody output:\n%s\nprosody log (tail):\n%s", o, tail(string(b), 8000))
		}
	})
	deadline := time.Now().Add(xmpptest.Wait)
	for {
		c, err := net.Dial("tcp", p.c2s)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			o, _ := os.ReadFile(filepath.Join(dir, "stdout.log"))
			t.Fatalf("prosody did not start: %v\n%s", err, o)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestProsodyFederation: chatbx and Debian's prosody exchange messages in
// both directions, authenticated by certificates from one test CA (SASL
// EXTERNAL, s2s_secure_auth on both sides), and with dialback over TLS
// when neither trusts the other's certificate and secure_auth is off on
// both sides.
func TestProsodyFederation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secure bool
	}{{"certificates", true}, {"dialback", false}} {
		t.Run(tc.name, func(t *testing.T) {
			ca := xmpptest.NewCA(t, "ca.test")
			pr := startProsody(t, ca, tc.secure, tc.secure)
			dom := loopbackDomain(t)
			hosts := map[string]string{"p.test": pr.s2s}
			c := newPeer(t, ca, dom, hosts, func(cfg *server.Config, d *server.Deps) {
				cfg.S2S.SecureAuth = tc.secure
				if !tc.secure {
					d.S2S.Roots = nil // system roots only: the test CA is not trusted
				}
			})
			c.s2s = dom + ":5269"
			c.leaf = ca.Issue(t, func(x *x509.Certificate) { x.IPAddresses = append(x.IPAddresses, net.ParseIP(dom)) }, dom)
			c.start(t, hosts)
			c.user(t, "alice")
			alice := c.login(t, "alice")
			alice.SendRaw(`<presence/>`)
			bob := xmpptest.Login(t, pr.c2s, "p.test", "bob", "secret-bob",
				xmpptest.Options{Pool: ca.Pool, Mechanism: sasl.Plain})
			bob.SendRaw(`<presence/>`)
			bob.IQ(`<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>`)

			alice.SendRaw(`<message to='bob@p.test' type='chat' id='c1'><body>hello prosody</body></message>`)
			m := bob.Expect("message from chatbx", func(e *wire.Element) bool {
				if e.Local == "message" && e.Get("type") == "error" {
					t.Fatalf("error at bob: %s", xmpptest.String(e))
				}
				return e.Local == "message" && e.ChildText(wire.NSClient, "body") == "hello prosody"
			})
			if !strings.HasPrefix(m.Get("from"), "alice@"+dom+"/") {
				t.Errorf("from = %q", m.Get("from"))
			}
			bob.SendRaw(`<message to='alice@` + dom + `' type='chat' id='p1'><body>hello chatbx</body></message>`)
			alice.Expect("message from prosody", func(e *wire.Element) bool {
				if e.Local == "message" && e.Get("type") == "error" {
					t.Fatalf("error at alice: %s", xmpptest.String(e))
				}
				return isMsg("hello chatbx")(e)
			})
			r := alice.IQ(`<iq type='get' id='pp' to='p.test'><ping xmlns='urn:xmpp:ping'/></iq>`)
			if r.Get("type") != "result" {
				t.Errorf("ping prosody: %s", xmpptest.String(r))
			}
			r = bob.IQ(`<iq type='get' id='pc' to='` + dom + `'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
			if r.Get("type") != "result" {
				t.Errorf("prosody's user: disco#info of chatbx: %s", xmpptest.String(r))
			}
			// Prosody's log shows which authentication ran, both ways.
			b, _ := os.ReadFile(filepath.Join(pr.dir, "prosody.log"))
			log := string(b)
			want := []string{"Accepting SASL EXTERNAL identity from " + dom, "SASL EXTERNAL with " + dom + " succeeded"}
			if !tc.secure {
				want = []string{"verified dialback key... it is valid", "Initiating dialback"}
				if strings.Contains(log, "Accepting SASL EXTERNAL") {
					t.Error("SASL EXTERNAL accepted although neither side trusts the other's certificate")
				}
			}
			for _, w := range want {
				if !strings.Contains(log, w) {
					t.Errorf("prosody log lacks %q", w)
				}
			}
		})
	}
}
