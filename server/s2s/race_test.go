package s2s

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

// hostsResolver answers address lookups from a map (no SRV records).
type hostsResolver map[string][]string

func (h hostsResolver) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	return "", nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}

func (h hostsResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := h[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestHappyEyeballs: b.test's host has two addresses; the first accepts
// and never answers. The second attempt starts 250 ms later (RFC 8305
// §5), wins, and the stanza arrives long before the connect timeout; the
// abandoned connection is closed.
func TestHappyEyeballs(t *testing.T) {
	ca := xmpptest.NewCA(t, "ca.test")
	got := make(chan *wire.Element, 1)
	newServer := func(domain string, cfg Config, d Deps) (*Server, context.CancelFunc) {
		cfg.Domain, cfg.Listen, cfg.SecureAuth = domain, "127.0.0.1:0", true
		cfg.ConnectTimeout = 30 * time.Second
		leaf := ca.Issue(t, nil, domain)
		d.Log, d.ConnLog = zerolog.Nop(), zerolog.Nop()
		d.TLS, d.Roots, d.Secret = &tls.Config{Certificates: []tls.Certificate{leaf}}, ca.Pool, []byte("secret-"+domain)
		s, err := New(cfg, d)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Run(ctx)
		}()
		t.Cleanup(func() {
			cancel()
			<-done
		})
		<-s.Ready()
		return s, cancel
	}
	b, _ := newServer("b.test", Config{}, Deps{Deliver: func(el *wire.Element) {
		select {
		case got <- el:
		default:
		}
	}})

	// The silent address: accepts, reads, never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	closed := make(chan struct{})
	go func() {
		c, err := silent.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, 512)
		for {
			if _, err := c.Read(buf); err != nil {
				close(closed) // the loser was abandoned
				return
			}
		}
	}()
	var mu sync.Mutex
	var dialed []string
	// Two addresses for b's host: the silent one first. Dial maps them
	// onto the loopback listeners (the port comes from s2s.hosts).
	realAddr := b.Addrs()[0].String()
	a, _ := newServer("a.test", Config{Hosts: map[string]string{"b.test": "host.b.test:5269"}}, Deps{
		Resolver: hostsResolver{"host.b.test": {"192.0.2.1", "192.0.2.2"}},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			dialed = append(dialed, addr)
			mu.Unlock()
			to := realAddr
			if addr == "192.0.2.1:5269" {
				to = silent.Addr().String()
			}
			var d net.Dialer
			return d.DialContext(ctx, network, to)
		},
	})
	start := time.Now()
	a.Handle(context.Background(), wire.New(wire.NSClient, "message", "from", "alice@a.test/r", "to", "bob@b.test", "type", "chat").
		Add(wire.New(wire.NSClient, "body").AddText("hi")), nil)
	select {
	case el := <-got:
		if el.Get("from") != "alice@a.test/r" {
			t.Errorf("delivered %s", el.Bytes(wire.NSClient))
		}
	case <-time.After(xmpptest.Wait):
		t.Fatal("no stanza through the second address")
	}
	took := time.Since(start)
	mu.Lock()
	if len(dialed) < 2 || dialed[0] != "192.0.2.1:5269" || dialed[1] != "192.0.2.2:5269" {
		t.Errorf("dialed %v, want the silent address first", dialed)
	}
	mu.Unlock()
	// Sequential attempts would wait for the connect timeout (30 s).
	if took >= 15*time.Second {
		t.Errorf("stanza took %v: the silent address held it up", took)
	}
	select {
	case <-closed:
	case <-time.After(xmpptest.Wait):
		t.Error("the abandoned attempt's connection stays open")
	}
}
