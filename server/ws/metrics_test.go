package ws_test

import (
	"context"
	"crypto/tls"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"chatbx/internal/metrics"
	"chatbx/server"
	"chatbx/server/wire"
	"chatbx/server/ws"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

// TestWebSocketSessionMetrics: a session over WebSocket counts under the
// transport "websocket", one over TCP under "tcp".
func TestWebSocketSessionMetrics(t *testing.T) {
	db, ca := storetest.Open(t), xmpptest.NewCA(t, domain)
	m := metrics.New(metrics.Sources{})
	scfg := server.DefaultConfig()
	scfg.Domain = domain
	scfg.C2SListen, scfg.C2SListenTLS = "127.0.0.1:0", "127.0.0.1:0"
	srv, err := server.New(scfg, server.Deps{
		DB: db, Log: zerolog.Nop(), ConnLog: zerolog.Nop(), Metrics: m,
		StartTLS:  func(string) *tls.Config { return ca.ServerConfig() },
		DirectTLS: ca.ServerConfig("xmpp-client"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	<-srv.Ready()
	hs := httptest.NewUnstartedServer(ws.New(ctx, ws.Config{Domain: domain}, srv))
	hs.TLS = ca.ServerConfig()
	hs.StartTLS()
	t.Cleanup(func() {
		cancel()
		<-done
		hs.Close()
	})
	for _, u := range []string{"alice", "bob"} {
		c, err := store.DeriveCredentials("secret-"+u, store.MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateUser(context.Background(), u, c); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{srv: srv, ca: ca, plain: srv.Addrs()[0].String(),
		url: "wss" + strings.TrimPrefix(hs.URL, "https") + "/xmpp-websocket"}

	w := e.dial(t)
	w.login("alice")
	// A round trip: the session's stanza loop runs, so it is counted.
	w.send(`<iq xmlns='jabber:client' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`)
	w.expect("ping result", func(el *wire.Element) bool { return el.Local == "iq" && el.Get("id") == "p1" })
	c := xmpptest.Login(t, e.plain, domain, "bob", "secret-bob", xmpptest.Options{Pool: ca.Pool})
	c.IQ(`<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>`)
	got := m.Sessions()
	if got[metrics.TransportWebSocket] != 1 || got[metrics.TransportTCP] != 1 {
		t.Errorf("Sessions = %v, want websocket 1, tcp 1", got)
	}
}
