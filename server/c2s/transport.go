package c2s

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"time"

	"chatbx/server/wire"
)

// Transport carries one client stream. A Session reads elements and writes
// batches through it and never sees the socket: TCP (STARTTLS or direct
// TLS, below) and WebSocket (RFC 7395, package server/ws) implement it, so
// negotiation, handlers and limits are the same for both.
//
// Next, ReadOpen and SetLimit are called by the session's reader only.
// Write and WriteRaw are called by one writer at a time (negotiation, then
// the queue's writer goroutine); Close by the reader once it ends.
// Interrupt, Abort and RemoteAddr are safe for concurrent use.
type Transport interface {
	// ReadOpen reads the client's stream opening (a <stream:stream>
	// header on TCP, <open/> on WebSocket) and returns it as an element
	// whose attributes are the header's (to, version, xml:lang). It fails
	// with a streamError when the opening is in the wrong namespace.
	ReadOpen() (*wire.Element, error)
	// WriteOpen writes the server's stream opening with the given stream
	// id and then <stream:features/> with features' children, if features
	// is not nil.
	WriteOpen(id string, features *wire.Element) error
	// Next returns the next top-level element. io.EOF means the client
	// closed its stream; io.ErrUnexpectedEOF that the connection ended.
	Next() (*wire.Element, error)
	// SetLimit sets the byte limit per element (raised after login).
	SetLimit(max int)
	// Write writes els in one batch (TCP: one write; WebSocket: one
	// message per element), within the write timeout.
	Write(els []*wire.Element) error
	// WriteRaw writes p, which holds exactly one serialised element in
	// the jabber:client default namespace (SASL and STARTTLS answers).
	WriteRaw(p []byte) error
	// Close ends the stream: the opening if none was written yet, the
	// elements of rest, a stream error when condition is not empty, the
	// stream's end, then it closes the connection. It returns the write
	// error, if any, so the caller knows whether rest reached the socket.
	Close(condition string, rest []*wire.Element) error
	// Abort closes the connection without writing anything more.
	Abort()
	// Hurry makes a pending write fail unless it completes within d (a
	// closing session waits for its writer no longer than that).
	Hurry(d time.Duration)
	// Interrupt makes a pending or later Next return an error at once
	// (os.ErrDeadlineExceeded), so the reader can end the stream.
	Interrupt()
	// TLS returns the TLS state for channel binding, or nil before TLS.
	TLS() *tls.ConnectionState
	// RemoteAddr is the peer's address (anonymised before logging).
	RemoteAddr() net.Addr
	// Kind names the transport for logs and metrics: "tcp" or "websocket".
	Kind() string
}

// startTLS is the optional STARTTLS upgrade (RFC 6120 §5) of a transport
// that is not encrypted yet; only the TCP listener's transport has it.
type startTLS interface {
	// Buffered reports whether bytes beyond the last element are waiting
	// (after dropping whitespace); pipelined plaintext must be refused.
	Buffered() bool
	// StartTLS upgrades the connection and starts a new stream.
	StartTLS(ctx context.Context, cfg *tls.Config) error
}

// tcpTransport is a Transport over a TCP connection, with STARTTLS or
// direct TLS.
type tcpTransport struct {
	raw    net.Conn // the TCP connection
	conn   net.Conn // idleConn, or TLS over it
	ic     *idleConn
	dec    *wire.Decoder
	tls    *tls.ConnectionState
	cert   *tls.Certificate // ours in the handshake, for tls-server-end-point (endpoint.go)
	domain string
	// writeTimeout bounds every write.
	writeTimeout time.Duration
	// wdl is the write deadline WriteRaw set last. Moving a deadline is a
	// timer update; a write reuses the last one while no more than a tenth
	// of the timeout (at most a second) of it has passed.
	wdl time.Time
	// headerSent is true once our stream header went out on the current
	// stream (a restart after SASL begins a new one).
	headerSent bool
	// limit is the element byte limit for new decoders.
	limit int
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (t *tcpTransport) ReadOpen() (*wire.Element, error) {
	// Each opening starts a new stream: a new decoder, a new header.
	t.dec = wire.NewDecoder(t.conn, t.limit)
	t.headerSent = false
	h, err := t.dec.Header()
	if err != nil {
		return nil, err
	}
	if t.dec.DefaultNS() != wire.NSClient {
		return nil, streamError("invalid-namespace")
	}
	return h, nil
}

func (t *tcpTransport) header(b *bytes.Buffer, id string) {
	b.WriteString(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='`)
	b.WriteString(id)
	b.WriteString(`' from='`)
	b.WriteString(t.domain)
	b.WriteString(`' version='1.0' xml:lang='en'>`)
	t.headerSent = true
}

func (t *tcpTransport) WriteOpen(id string, features *wire.Element) error {
	var b bytes.Buffer
	b.Grow(1024) // header and features in one allocation, not five
	t.header(&b, id)
	if features != nil {
		b.WriteString(`<stream:features>`)
		for _, c := range features.Elements() {
			c.WriteTo(&b, wire.NSClient)
		}
		b.WriteString(`</stream:features>`)
	}
	return t.WriteRaw(b.Bytes())
}

func (t *tcpTransport) Next() (*wire.Element, error) { return t.dec.Next() }

func (t *tcpTransport) SetLimit(max int) {
	t.limit = max
	if t.dec != nil {
		t.dec.SetLimit(max)
	}
}

func (t *tcpTransport) Write(els []*wire.Element) error {
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	buf.Reset()
	for _, el := range els {
		el.WriteTo(buf, wire.NSClient)
	}
	return t.WriteRaw(buf.Bytes())
}

func (t *tcpTransport) WriteRaw(p []byte) error {
	if d := time.Now().Add(t.writeTimeout); d.Sub(t.wdl) > min(t.writeTimeout/10, time.Second) {
		t.conn.SetWriteDeadline(d)
		t.wdl = d
	}
	_, err := t.conn.Write(p)
	return err
}

func (t *tcpTransport) Close(condition string, rest []*wire.Element) error {
	var b bytes.Buffer
	if !t.headerSent {
		t.header(&b, newID())
	}
	for _, el := range rest {
		el.WriteTo(&b, wire.NSClient)
	}
	if condition != "" {
		writeStreamError(&b, condition, "")
	}
	b.WriteString("</stream:stream>")
	t.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	_, err := t.conn.Write(b.Bytes())
	t.conn.Close()
	return err
}

func (t *tcpTransport) Abort() { t.raw.Close() }

func (t *tcpTransport) Hurry(d time.Duration) { t.raw.SetWriteDeadline(time.Now().Add(d)) }

// Interrupt moves the read deadline into the past; idleConn.Read also
// checks the session's closing flag, so a read that starts later fails too.
func (t *tcpTransport) Interrupt() { t.raw.SetReadDeadline(time.Unix(1, 0)) }

func (t *tcpTransport) TLS() *tls.ConnectionState { return t.tls }

func (t *tcpTransport) RemoteAddr() net.Addr { return t.raw.RemoteAddr() }

func (t *tcpTransport) Kind() string { return "tcp" }

// Buffered drops buffered whitespace and reports whether anything else is
// left unread (RFC 6120 §5.4.3.3: nothing may be pipelined after
// <starttls/>).
func (t *tcpTransport) Buffered() bool { return !t.dec.DiscardBufferedSpace() }

func (t *tcpTransport) StartTLS(ctx context.Context, cfg *tls.Config) error {
	tc := tls.Server(t.ic, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	st := tc.ConnectionState()
	t.conn, t.tls = tc, &st
	return nil
}

// dropTLS forgets the TLS state once SASL no longer needs it, so idle
// sessions stay small.
func (t *tcpTransport) dropTLS() { t.tls, t.cert = nil, nil }

// hostOf returns the lower-cased stream 'to' without a trailing dot.
func hostOf(h *wire.Element) string {
	return strings.ToLower(strings.TrimSuffix(h.Get("to"), "."))
}
