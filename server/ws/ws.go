// Package ws implements XMPP over WebSocket (RFC 7395) as a transport of
// the c2s layer: the endpoint upgrades an HTTPS request with the "xmpp"
// subprotocol and hands the connection to the same negotiation, handlers
// and limits as TCP (package c2s). There is no STARTTLS: the page's TLS
// protects the stream, and its state serves SASL channel binding.
//
// Framing (RFC 7395 §3.3): every text message is one complete element.
// The stream opens with <open/> and ends with <close/> in the
// urn:ietf:params:xml:ns:xmpp-framing namespace; stanzas carry their
// jabber:client namespace. Binary messages, text that is not exactly one
// element, and messages over the stanza limit end the connection with a
// close code that says why.
package ws

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/coder/websocket"

	"chatbx/server/c2s"
	"chatbx/server/wire"
)

// NSFraming is the RFC 7395 framing namespace of <open/> and <close/>.
const NSFraming = "urn:ietf:params:xml:ns:xmpp-framing"

// Protocol is the WebSocket subprotocol (RFC 7395 §3.1).
const Protocol = "xmpp"

// Config holds the endpoint's settings.
type Config struct {
	// Domain is the XMPP domain (the <open/>'s from).
	Domain string
	// MaxStanzaBytes is the largest message accepted (the c2s stanza
	// limit); larger ones close the connection with 1009.
	MaxStanzaBytes int
	// NegotiationTimeout bounds the time from upgrade to bound session.
	NegotiationTimeout time.Duration
	// IdleTimeout: after this long without a message the server sends a
	// WebSocket ping; no pong within PongTimeout closes the connection.
	IdleTimeout time.Duration
	PongTimeout time.Duration
	// WriteTimeout bounds every write.
	WriteTimeout time.Duration
	// Origins are the Origin host patterns allowed to open a stream
	// (path.Match syntax, e.g. "chat.example.org"). Empty or "*" allows
	// any origin: XMPP authenticates itself and sets no cookies.
	Origins []string
}

// DefaultConfig returns the defaults documented in docs/configuration.md.
func DefaultConfig() Config {
	return Config{
		MaxStanzaBytes:     256 << 10,
		NegotiationTimeout: 30 * time.Second,
		IdleTimeout:        5 * time.Minute,
		PongTimeout:        30 * time.Second,
		WriteTimeout:       30 * time.Second,
	}
}

// Streams is what runs a stream over a transport: the c2s server.
type Streams interface {
	Serve(ctx context.Context, tr c2s.Transport, ready func())
}

// Handler is the WebSocket endpoint. It is safe for concurrent use.
type Handler struct {
	cfg     Config
	streams Streams
	ctx     context.Context
}

// New returns the endpoint. Streams run under ctx: when it ends, new
// upgrades are refused (the c2s server closes running streams itself).
func New(ctx context.Context, cfg Config, streams Streams) *Handler {
	def := DefaultConfig()
	if cfg.MaxStanzaBytes <= 0 {
		cfg.MaxStanzaBytes = def.MaxStanzaBytes
	}
	if cfg.NegotiationTimeout <= 0 {
		cfg.NegotiationTimeout = def.NegotiationTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = def.IdleTimeout
	}
	if cfg.PongTimeout <= 0 {
		cfg.PongTimeout = def.PongTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = def.WriteTimeout
	}
	return &Handler{cfg: cfg, streams: streams, ctx: ctx}
}

// ServeHTTP upgrades the request and runs the stream until it ends.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		// Only reachable through the HTTPS listener; refuse anything else.
		http.Error(w, "TLS required", http.StatusForbidden)
		return
	}
	if h.ctx.Err() != nil {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	opts := &websocket.AcceptOptions{
		Subprotocols:    []string{Protocol},
		CompressionMode: websocket.CompressionDisabled, // compression oracles; stanzas are small
	}
	if len(h.cfg.Origins) == 0 || (len(h.cfg.Origins) == 1 && h.cfg.Origins[0] == "*") {
		opts.InsecureSkipVerify = true // any origin (web.websocket_origins)
	} else {
		opts.OriginPatterns = h.cfg.Origins
	}
	conn, err := websocket.Accept(w, r, opts)
	if err != nil {
		return // Accept answered with an HTTP error
	}
	if conn.Subprotocol() != Protocol {
		// RFC 7395 §3.2: the client must ask for "xmpp".
		conn.Close(websocket.StatusProtocolError, "subprotocol xmpp required")
		return
	}
	// Next refuses a message over the stanza limit with a stream error;
	// the library's own limit, twice that, is the backstop that closes a
	// connection (1009) without reading a huge message into memory.
	conn.SetReadLimit(2*int64(h.cfg.MaxStanzaBytes) + 4096)
	t := newTransport(conn, r, h.cfg)
	defer t.stop()
	h.streams.Serve(h.ctx, t, t.bound)
}

// transport is one WebSocket stream.
type transport struct {
	conn   *websocket.Conn
	cfg    Config
	remote net.Addr
	tls    *tls.ConnectionState

	in   chan frame // messages from the reader goroutine
	intr chan struct{}
	once sync.Once

	// limit is the current byte limit per element (raised after login).
	limit int
	// idle pings the client when no message came for IdleTimeout; before
	// the session is bound it is the negotiation deadline instead.
	idle      *time.Timer
	negotiate *time.Timer

	// wctx bounds writes; Hurry cancels it.
	wctx    context.Context
	wcancel context.CancelFunc
	// closeCode, if not zero, is the WebSocket close code Close sends
	// (set by Next for framing errors).
	closeCode websocket.StatusCode
	opened    bool // our <open/> went out on the current stream
}

type frame struct {
	typ  websocket.MessageType
	data []byte
	err  error
}

func newTransport(conn *websocket.Conn, r *http.Request, cfg Config) *transport {
	t := &transport{conn: conn, cfg: cfg, tls: r.TLS, limit: 16 << 10,
		in: make(chan frame, 1), intr: make(chan struct{})}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		t.remote = net.TCPAddrFromAddrPort(ap)
	} else {
		t.remote = &net.TCPAddr{}
	}
	t.wctx, t.wcancel = context.WithCancel(context.Background())
	t.negotiate = time.AfterFunc(cfg.NegotiationTimeout, func() { conn.CloseNow() })
	t.idle = time.AfterFunc(cfg.IdleTimeout, t.ping)
	go t.read()
	return t
}

// read runs until the connection ends: one message at a time, handed to
// Next. It is a goroutine of its own so that Interrupt can end Next
// without closing the connection (the stream error still goes out).
func (t *transport) read() {
	for {
		typ, data, err := t.conn.Read(context.Background())
		select {
		case t.in <- frame{typ, data, err}:
		case <-t.wctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// ping runs when the client was quiet for IdleTimeout.
func (t *transport) ping() {
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.PongTimeout)
	defer cancel()
	if err := t.conn.Ping(ctx); err != nil {
		t.conn.CloseNow()
		return
	}
	t.idle.Reset(t.cfg.IdleTimeout)
}

// bound lifts the negotiation deadline once the session is bound.
func (t *transport) bound() { t.negotiate.Stop() }

// stop releases the timers and the reader after the stream ended.
func (t *transport) stop() {
	t.negotiate.Stop()
	t.idle.Stop()
	t.wcancel()
	t.conn.CloseNow()
}

// Next returns the next message's element; <close/> is io.EOF.
func (t *transport) Next() (*wire.Element, error) {
	el, err := t.next()
	if err != nil {
		return nil, err
	}
	if el.Space == NSFraming {
		if el.Local == "close" {
			return nil, io.EOF
		}
		if el.Local == "open" {
			// A restart is read by ReadOpen only.
			t.closeCode = websocket.StatusProtocolError
			return nil, c2s.StreamError("not-authorized")
		}
	}
	return el, nil
}

func (t *transport) next() (*wire.Element, error) {
	var f frame
	select {
	case f = <-t.in:
	case <-t.intr:
		return nil, os.ErrDeadlineExceeded
	}
	if f.err != nil {
		// The client closed the WebSocket without <close/>, or the
		// connection broke (or the library's backstop limit closed it).
		return nil, io.ErrUnexpectedEOF
	}
	t.idle.Reset(t.cfg.IdleTimeout)
	if f.typ != websocket.MessageText {
		// RFC 7395 §3.2: XMPP goes in text messages only.
		t.closeCode = websocket.StatusUnsupportedData
		return nil, c2s.StreamError("unsupported-encoding")
	}
	if len(f.data) > t.limit {
		t.closeCode = websocket.StatusMessageTooBig
		return nil, wire.ErrTooLarge
	}
	el, err := wire.ParseFrame(f.data)
	if err != nil {
		t.closeCode = websocket.StatusProtocolError
	}
	return el, err
}

// ReadOpen reads <open/> (RFC 7395 §3.4); its attributes are the header's.
func (t *transport) ReadOpen() (*wire.Element, error) {
	t.opened = false
	el, err := t.next()
	if err != nil {
		return nil, err
	}
	if el.Space != NSFraming || el.Local != "open" {
		t.closeCode = websocket.StatusProtocolError
		if el.Space == NSFraming && el.Local == "close" {
			return nil, io.EOF
		}
		return nil, c2s.StreamError("invalid-namespace")
	}
	return el, nil
}

// openEl is the server's <open/> (RFC 7395 §3.4).
func (t *transport) openEl(id string) []byte {
	return wire.New(NSFraming, "open", "from", t.cfg.Domain, "id", id,
		"version", "1.0", "xml:lang", "en").Bytes("")
}

func (t *transport) WriteOpen(id string, features *wire.Element) error {
	if err := t.send(t.openEl(id)); err != nil {
		return err
	}
	t.opened = true
	if features == nil {
		return nil
	}
	var b bytes.Buffer
	b.WriteString(`<stream:features xmlns:stream='http://etherx.jabber.org/streams'>`)
	for _, c := range features.Elements() {
		c.WriteTo(&b, "")
	}
	b.WriteString(`</stream:features>`)
	return t.send(b.Bytes())
}

// send writes one message within the write timeout.
func (t *transport) send(p []byte) error {
	ctx, cancel := context.WithTimeout(t.wctx, t.cfg.WriteTimeout)
	defer cancel()
	return t.conn.Write(ctx, websocket.MessageText, p)
}

func (t *transport) SetLimit(max int) { t.limit = max }

// Write sends each element as one message (RFC 7395 §3.3.3), each with
// its jabber:client namespace declared.
func (t *transport) Write(els []*wire.Element) error {
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	for _, el := range els {
		buf.Reset()
		el.WriteTo(buf, "")
		if err := t.send(buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (t *transport) WriteRaw(p []byte) error { return t.send(p) }

// Close sends what is left, the stream error, <close/> and a WebSocket
// close whose code tells the kind of error (RFC 7395 §3.6).
func (t *transport) Close(condition string, rest []*wire.Element) error {
	defer t.stop()
	var werr error
	if !t.opened {
		werr = t.send(t.openEl(newID()))
	}
	if werr == nil {
		werr = t.Write(rest)
	}
	if werr == nil && condition != "" {
		werr = t.send([]byte(`<stream:error xmlns:stream='http://etherx.jabber.org/streams'><` + condition +
			` xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`))
	}
	if werr == nil {
		werr = t.send(wire.New(NSFraming, "close").Bytes(""))
	}
	code := t.closeCode
	if code == 0 {
		switch condition {
		case "", "system-shutdown", "conflict", "reset", "connection-timeout":
			code = websocket.StatusNormalClosure
		case "policy-violation":
			code = websocket.StatusPolicyViolation
		default:
			code = websocket.StatusProtocolError
		}
	}
	if werr != nil {
		return werr
	}
	// The close handshake waits for the client's answer; a client that
	// does not answer is cut off after the library's timeout.
	t.conn.Close(code, condition)
	return nil
}

// Abort closes the connection; a reader waiting in Next gets an error
// (stop alone may end the read goroutine without handing Next one).
func (t *transport) Abort() {
	t.stop()
	t.Interrupt()
}

func (t *transport) Hurry(d time.Duration) { time.AfterFunc(d, t.wcancel) }

func (t *transport) Interrupt() { t.once.Do(func() { close(t.intr) }) }

func (t *transport) TLS() *tls.ConnectionState { return t.tls }

func (t *transport) RemoteAddr() net.Addr { return t.remote }

func (t *transport) Kind() string { return "websocket" }

var _ c2s.Transport = (*transport)(nil)

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
