package upload_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"chatbx/server"
	"chatbx/server/upload"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
	webupload "chatbx/web/upload"
)

// TestOverTheWire runs the whole path with the real server: a client logs
// in over TLS on loopback, finds the feature in the server's disco#info,
// asks for a slot, PUTs the file over HTTPS and GETs it back.
func TestOverTheWire(t *testing.T) {
	t.Parallel()
	const domain = "chatbx.test"
	data := t.TempDir()
	db := storetest.OpenPath(t, filepath.Join(data, "chatbx.db"))
	c, err := store.DeriveCredentials("pencil", store.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(t.Context(), "juliet", c); err != nil {
		t.Fatal(err)
	}

	// The web side.
	var handler http.Handler
	web := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(web.Close)
	baseURL := web.URL + "/upload/"
	files, err := webupload.New(webupload.Config{Dir: filepath.Join(data, "uploads"), BaseURL: baseURL}, db)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(files.Pattern(), files)
	handler = mux

	// The XMPP side, with the slot service wired as main wires it.
	ca := xmpptest.NewCA(t, domain)
	cfg := server.DefaultConfig()
	cfg.Domain = domain
	cfg.C2SListen, cfg.C2SListenTLS = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Extra = []server.Service{upload.New(upload.DefaultConfig(baseURL), db)}
	srv, err := server.New(cfg, server.Deps{
		DB: db, Log: zerolog.Nop(), ConnLog: zerolog.Nop(),
		StartTLS:  func(string) *tls.Config { return ca.ServerConfig() },
		DirectTLS: ca.ServerConfig("xmpp-client"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatal(err)
	}

	cl := xmpptest.Login(t, srv.Addrs()[0].String(), domain, "juliet", "pencil", xmpptest.Options{Pool: ca.Pool})
	info := cl.IQ(`<iq type='get' id='d1' to='chatbx.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if !strings.Contains(info.String(), upload.NS) {
		t.Errorf("disco#info lacks %s: %s", upload.NS, info)
	}
	const content = "WIRE-CONTENT-17"
	reply := cl.IQ(`<iq type='get' id='u1' to='chatbx.test'><request xmlns='urn:xmpp:http:upload:0' filename='romeo.txt' size='15' content-type='text/plain'/></iq>`)
	slot := reply.Child(upload.NS, "slot")
	if reply.Get("type") != "result" || slot == nil {
		t.Fatalf("slot request: %s", reply)
	}
	putURL, getURL := slot.Child(upload.NS, "put").Get("url"), slot.Child(upload.NS, "get").Get("url")
	if tooBig := cl.IQ(`<iq type='get' id='u2'><request xmlns='urn:xmpp:http:upload:0' filename='big.iso' size='999999999999' content-type='application/octet-stream'/></iq>`); tooBig.Child(wire.NSClient, "error").Child(upload.NS, "file-too-large") == nil {
		t.Errorf("too large: %s", tooBig)
	}

	client := web.Client()
	req, _ := http.NewRequestWithContext(t.Context(), "PUT", putURL, bytes.NewReader([]byte(content)))
	req.Header.Set("Content-Type", "text/plain")
	res, err := client.Do(req)
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("PUT = %v, %v", res, err)
	}
	res.Body.Close()
	res, err = client.Get(getURL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != content {
		t.Errorf("GET = %d %q, want %q", res.StatusCode, b, content)
	}
}
