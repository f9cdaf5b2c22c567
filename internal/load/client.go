package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	nsTLS  = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind = "urn:ietf:params:xml:ns:xmpp-bind"
)

// Config says where and how the generator's clients connect.
type Config struct {
	// Addr is the server's host:port (STARTTLS, or direct TLS with Direct).
	Addr string
	// Domain is the XMPP domain, sent in the stream header and as TLS SNI
	// unless TLS.ServerName is set.
	Domain string
	// TLS is the client TLS configuration (RootCAs or InsecureSkipVerify).
	// Nil means verification against the system roots.
	TLS *tls.Config
	// Direct selects direct TLS (XEP-0368) instead of STARTTLS.
	Direct bool
	// Mechanism is SCRAM-SHA-256 (default), SCRAM-SHA-1 or PLAIN. A
	// mechanism the server does not offer is an error, not a fallback.
	Mechanism string
	// User is the account prefix: accounts are User+"0", User+"1", ...
	// Password is every account's password.
	User, Password string
	// Timeout bounds each connection's negotiation and close handshake.
	// Zero means 30 s.
	Timeout time.Duration
	// PID is the server process sampled for CPU and memory (0: none).
	PID int
	// NoSCRAMCache makes every login derive the salted password again;
	// by default it is cached per account as real clients do.
	NoSCRAMCache bool
	// Sources are local IP addresses to dial from, used in turn. One
	// source address reaches one server port about 28,000 times (the
	// ephemeral port range); 127.0.0.2 and up give more. Empty: the
	// system's choice.
	Sources []net.IP
	// PostQuantum offers Go's default TLS key exchanges, including the
	// X25519MLKEM768 hybrid. By default, unless TLS sets CurvePreferences,
	// only X25519 and P-256 are offered: the reference servers (OpenSSL 3.0)
	// cannot use the hybrid, and it costs both sides CPU per handshake.
	PostQuantum bool
}

// Runner runs scenarios with one Config. Create it with New; a Runner may
// run several scenarios one after the other (the SCRAM cache carries over).
type Runner struct {
	cfg     Config
	tls     *tls.Config
	cache   *scramCache
	ids     atomic.Uint64
	dialers []*net.Dialer
	dials   atomic.Uint64
}

// New returns a Runner for cfg.
func New(cfg Config) *Runner {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Mechanism == "" {
		cfg.Mechanism = "SCRAM-SHA-256"
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = cfg.Domain
	}
	if !cfg.PostQuantum && tc.CurvePreferences == nil {
		tc.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	}
	r := &Runner{cfg: cfg, tls: tc}
	for _, ip := range cfg.Sources {
		r.dialers = append(r.dialers, &net.Dialer{Timeout: cfg.Timeout, LocalAddr: &net.TCPAddr{IP: ip}})
	}
	if len(r.dialers) == 0 {
		r.dialers = []*net.Dialer{{Timeout: cfg.Timeout}}
	}
	if !cfg.NoSCRAMCache {
		r.cache = &scramCache{}
	}
	return r
}

// Username returns the name of account i.
func (r *Runner) Username(i int) string { return r.cfg.User + strconv.Itoa(i) }

// conn is one client stream. Reads happen on one goroutine; send may be
// called from several (tls.Conn serialises writes).
type conn struct {
	r        *Runner
	nc       net.Conn
	sc       *scanner
	features []byte
	jid      string
	wmu      sync.Mutex
}

func (c *conn) send(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write([]byte(s))
	return err
}

func (c *conn) sendBytes(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(b)
	return err
}

// next returns the next top-level element; a stream error is an error.
func (c *conn) next() ([]byte, error) {
	el, err := c.sc.next()
	if err != nil {
		return nil, err
	}
	if !c.sc.header && bytes.Equal(name(el), []byte("stream:error")) {
		return nil, fmt.Errorf("stream error: %.200s", el)
	}
	return el, nil
}

// open sends a stream header and reads up to the server's features.
func (c *conn) open() error {
	if err := c.send("<?xml version='1.0'?><stream:stream to='" + c.r.cfg.Domain +
		"' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"); err != nil {
		return err
	}
	for {
		el, err := c.next()
		if err != nil {
			return fmt.Errorf("stream open: %w", err)
		}
		if !c.sc.header && local(el) == "features" {
			c.features = append(c.features[:0], el...)
			return nil
		}
	}
}

// dial connects and negotiates TLS; the stream is open, features read.
func (r *Runner) dial(ctx context.Context) (*conn, error) {
	d := r.dialers[r.dials.Add(1)%uint64(len(r.dialers))]
	nc, err := d.DialContext(ctx, "tcp", r.cfg.Addr)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(r.cfg.Timeout))
	c := &conn{r: r, nc: nc}
	if r.cfg.Direct {
		tc := r.tls.Clone()
		tc.NextProtos = []string{"xmpp-client"}
		t := tls.Client(nc, tc)
		if err := t.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("tls: %w", err)
		}
		c.nc = t
	}
	c.sc = newScanner(c.nc)
	if err := c.open(); err != nil {
		c.nc.Close()
		return nil, err
	}
	if r.cfg.Direct {
		return c, nil
	}
	if !bytes.Contains(c.features, []byte("<starttls")) {
		nc.Close()
		return nil, errors.New("server offers no starttls")
	}
	if err := c.send("<starttls xmlns='" + nsTLS + "'/>"); err != nil {
		nc.Close()
		return nil, err
	}
	el, err := c.next()
	if err != nil || local(el) != "proceed" {
		nc.Close()
		return nil, fmt.Errorf("starttls: %v %.100s", err, el)
	}
	t := tls.Client(nc, r.tls)
	if err := t.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("tls: %w", err)
	}
	c.nc = t
	c.sc.reset(t)
	if err := c.open(); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// auth runs SASL with the configured mechanism and restarts the stream.
func (c *conn) auth(user string) error {
	mech := c.r.cfg.Mechanism
	offered := allChildText(c.features, "mechanism")
	found := false
	for _, m := range offered {
		found = found || m == mech
	}
	if !found {
		return fmt.Errorf("mechanism %s not offered (offered %v)", mech, offered)
	}
	b64 := base64.StdEncoding
	pass := c.r.cfg.Password
	if mech == "PLAIN" {
		if err := c.send("<auth xmlns='" + nsSASL + "' mechanism='PLAIN'>" +
			b64.EncodeToString([]byte("\x00"+user+"\x00"+pass)) + "</auth>"); err != nil {
			return err
		}
		el, err := c.next()
		if err != nil {
			return err
		}
		if local(el) != "success" {
			return fmt.Errorf("auth failed: %.200s", el)
		}
	} else {
		sc, err := newSCRAM(mech, user, pass, c.r.cache)
		if err != nil {
			return err
		}
		if err := c.send("<auth xmlns='" + nsSASL + "' mechanism='" + mech + "'>" +
			b64.EncodeToString(sc.clientFirst()) + "</auth>"); err != nil {
			return err
		}
		el, err := c.next()
		if err != nil {
			return err
		}
		if local(el) != "challenge" {
			return fmt.Errorf("auth failed: %.200s", el)
		}
		first, err := b64.DecodeString(strings.TrimSpace(string(innerText(el))))
		if err != nil {
			return fmt.Errorf("auth: bad challenge: %w", err)
		}
		final, err := sc.clientFinal(first)
		if err != nil {
			return err
		}
		if err := c.send("<response xmlns='" + nsSASL + "'>" + b64.EncodeToString(final) + "</response>"); err != nil {
			return err
		}
		el, err = c.next()
		if err != nil {
			return err
		}
		if local(el) != "success" {
			return fmt.Errorf("auth failed: %.200s", el)
		}
		v, err := b64.DecodeString(strings.TrimSpace(string(innerText(el))))
		if err != nil {
			return fmt.Errorf("auth: bad success: %w", err)
		}
		if err := sc.verify(v); err != nil {
			return err
		}
	}
	c.sc.reset(nil)
	return c.open()
}

// bind binds resource and returns when the server has answered.
func (c *conn) bind(resource string) error {
	id := "b" + strconv.FormatUint(c.r.ids.Add(1), 36)
	if err := c.send("<iq type='set' id='" + id + "'><bind xmlns='" + nsBind + "'><resource>" +
		resource + "</resource></bind></iq>"); err != nil {
		return err
	}
	for {
		el, err := c.next()
		if err != nil {
			return err
		}
		if string(name(el)) == "iq" && attr(el, "id") == id {
			if attr(el, "type") != "result" {
				return fmt.Errorf("bind failed: %.200s", el)
			}
			c.jid = string(childText(el, "jid"))
			return nil
		}
	}
}

// login connects, negotiates TLS, authenticates as account i, binds
// resource (plain ASCII, not escaped) and sends initial presence.
func (r *Runner) login(ctx context.Context, i int, resource string) (*conn, error) {
	c, err := r.dial(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.auth(r.Username(i)); err != nil {
		c.nc.Close()
		return nil, err
	}
	if err := c.bind(resource); err != nil {
		c.nc.Close()
		return nil, err
	}
	if err := c.send("<presence/>"); err != nil {
		c.nc.Close()
		return nil, err
	}
	return c, nil
}

// close sends </stream:stream>; with wait it reads until the server closes
// its side (bounded by the timeout), then closes the socket.
func (c *conn) close(wait bool) error {
	defer c.nc.Close()
	c.nc.SetDeadline(time.Now().Add(c.r.cfg.Timeout))
	if err := c.send("</stream:stream>"); err != nil {
		return err
	}
	if !wait {
		return nil
	}
	for {
		if _, err := c.sc.next(); err != nil {
			if errors.Is(err, errStreamClosed) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "EOF") {
				return nil
			}
			return err
		}
	}
}

// answerIQ replies to an IQ get or set from the server (such as a XEP-0199
// ping) with an empty result, and reports whether el was one.
func (c *conn) answerIQ(el []byte) bool {
	if string(name(el)) != "iq" {
		return false
	}
	t := attr(el, "type")
	if t != "get" && t != "set" {
		return true
	}
	reply := "<iq type='result' id='" + attr(el, "id") + "'"
	if from := attr(el, "from"); from != "" {
		reply += " to='" + from + "'"
	}
	c.send(reply + "/>")
	return true
}

// Addr returns the server address the Runner connects to.
func (r *Runner) Addr() string { return r.cfg.Addr }
