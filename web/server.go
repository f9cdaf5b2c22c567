package web

import (
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// idleTimeout is how long a keep-alive connection may wait for its next
// request.
const idleTimeout = 2 * time.Minute

// NewServer returns an http.Server for h with DefaultConfig's timeouts;
// Web.Server uses the configured ones.
func NewServer(h http.Handler) *http.Server {
	return newServer(h, DefaultConfig())
}

// Server returns an http.Server for h (Handler or RedirectHandler) with
// the timeouts chatbx uses on both web listeners: HeaderTimeout for the
// TLS handshake and the request header, WriteTimeout as the base write
// deadline (Handler moves it with every write, and bounds request bodies
// by BodyTimeout). Serve it on a listener from Listener, so that the
// connection limits hold.
// Privacy: net/http's own error log (TLS handshake errors and the like)
// names the full client address, so it is discarded.
// Serve it on a TLS listener made from the certificate source's HTTPS
// tls.Config (tls.NewListener(w.Listener(ln), …)), or on the plain
// listener for the redirect.
func (w *Web) Server(h http.Handler) *http.Server {
	return newServer(h, w.cfg)
}

func newServer(h http.Handler, cfg Config) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.HeaderTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
}

// Listener returns ln with the connection limits: at most MaxConnections
// open connections over every listener wrapped by the same Web, and at
// most PerIPConnections from one client address (IPv6: one /64). A connection beyond
// either is closed as soon as it is accepted (before any TLS), so the
// accept loop never waits and an address that holds many connections
// cannot keep the others out. Wrap the raw TCP listener, under TLS.
func (w *Web) Listener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, lim: w.conns}
}

// connLimit counts open connections, in total and per client address.
// Privacy: the addresses live in memory only while their connections are
// open, and are never logged.
type connLimit struct {
	max, perIP int
	mu         sync.Mutex
	total      int
	byIP       map[string]int
}

func newConnLimit(max, perIP int) *connLimit {
	return &connLimit{max: max, perIP: perIP, byIP: map[string]int{}}
}

// acquire counts a connection from ip; it reports false (and counts
// nothing) when a limit is reached.
func (l *connLimit) acquire(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max || l.perIP > 0 && l.byIP[ip] >= l.perIP {
		return false
	}
	l.total++
	l.byIP[ip]++
	return true
}

func (l *connLimit) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

type limitListener struct {
	net.Listener
	lim *connLimit
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		if !l.lim.acquire(ip) {
			// No room to answer: a TLS client would need a handshake
			// first. Closing at once is the clearest refusal there is.
			c.Close()
			continue
		}
		return &limitConn{Conn: c, release: func() { l.lim.release(ip) }}, nil
	}
}

// remoteIP returns the address a connection counts under: the IPv4
// address, or the IPv6 /64 (one host's usual share, which it may fill
// with addresses at will).
func remoteIP(c net.Conn) string {
	a := c.RemoteAddr()
	if a == nil {
		return ""
	}
	if tcp, ok := a.(*net.TCPAddr); ok {
		if tcp.IP.To4() == nil {
			return tcp.IP.Mask(net.CIDRMask(64, 128)).String()
		}
		return tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// limitConn releases its place once, at the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
