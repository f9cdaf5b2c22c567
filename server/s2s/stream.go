package s2s

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"chatbx/server/wire"
)

// Namespaces of server-to-server negotiation.
const (
	NSDialback     = "jabber:server:dialback"     // XEP-0220 elements
	NSDialbackFeat = "urn:xmpp:features:dialback" // XEP-0220 §2.4 stream feature
	nsTLS          = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL         = "urn:ietf:params:xml:ns:xmpp-sasl"
)

// stream is one s2s TCP connection, with or without TLS yet.
type stream struct {
	raw     net.Conn
	conn    net.Conn
	tls     *tls.ConnectionState
	dec     *wire.Decoder
	limit   int
	wmu     sync.Mutex
	timeout time.Duration // write timeout
	id      string        // the receiving side's stream id
	bidi    bool          // outbound: the peer may send stanzas on it (XEP-0288)
}

func newStream(c net.Conn, limit int, wt time.Duration) *stream {
	return &stream{raw: c, conn: c, limit: limit, timeout: wt}
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// write writes p within the write timeout; safe for concurrent use.
func (st *stream) write(p []byte) error {
	st.wmu.Lock()
	defer st.wmu.Unlock()
	st.conn.SetWriteDeadline(time.Now().Add(st.timeout))
	_, err := st.conn.Write(p)
	return err
}

// writeEls writes stanzas (already in jabber:server) in one batch.
func (st *stream) writeEls(els []*wire.Element) error {
	var b bytes.Buffer
	for _, el := range els {
		el.WriteTo(&b, wire.NSServer)
	}
	return st.write(b.Bytes())
}

func (st *stream) writeEl(el *wire.Element) error { return st.writeEls([]*wire.Element{el}) }

// header writes a stream header in jabber:server with the dialback
// namespace declared (XEP-0220 §2.1).
func (st *stream) header(from, to, id string) error {
	var b bytes.Buffer
	b.WriteString(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback'`)
	for _, a := range [][2]string{{"from", from}, {"to", to}, {"id", id}} {
		if a[1] != "" {
			b.WriteString(" " + a[0] + "='")
			b.WriteString(attrEscape(a[1]))
			b.WriteString("'")
		}
	}
	b.WriteString(` version='1.0'>`)
	return st.write(b.Bytes())
}

func attrEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", "'", "&apos;", `"`, "&quot;").Replace(s)
}

// readHeader starts a new decoder and reads the peer's stream header. The
// default namespace must be jabber:server.
func (st *stream) readHeader() (*wire.Element, error) {
	st.dec = wire.NewDecoder(st.conn, st.limit)
	h, err := st.dec.Header()
	if err != nil {
		return nil, err
	}
	if st.dec.DefaultNS() != wire.NSServer {
		return nil, streamErr("invalid-namespace")
	}
	return h, nil
}

func (st *stream) next() (*wire.Element, error) { return st.dec.Next() }

// deadline sets the read deadline (zero: none).
func (st *stream) deadline(t time.Time) { st.raw.SetReadDeadline(t) }

// startTLS runs a TLS handshake over the connection.
func (st *stream) startTLS(ctx context.Context, c *tls.Conn) error {
	if err := c.HandshakeContext(ctx); err != nil {
		return err
	}
	s := c.ConnectionState()
	st.conn, st.tls = c, &s
	return nil
}

// closeWith writes a stream error (if condition is not empty) and the
// closing tag; the connection stays open for the peer's closing tag.
func (st *stream) closeWith(condition string) error {
	var b bytes.Buffer
	if condition != "" {
		b.WriteString(`<stream:error><` + condition + ` xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`)
	}
	b.WriteString(`</stream:stream>`)
	return st.write(b.Bytes())
}

// fail writes a stream error, the closing tag and closes the connection.
func (st *stream) fail(condition string) {
	st.wmu.Lock()
	st.conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	st.wmu.Unlock()
	st.closeWith(condition)
	st.raw.Close()
}

// streamError is a stream error condition (RFC 6120 §4.9.3).
type streamError string

func (e streamError) Error() string { return "s2s: stream error " + string(e) }

func streamErr(c string) error { return streamError(c) }

// condition maps a read error to a stream error condition to send.
func condition(err error) string {
	var se streamError
	switch {
	case errors.As(err, &se):
		return string(se)
	case errors.Is(err, wire.ErrTooLarge):
		return "policy-violation"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return ""
	case errors.Is(err, wire.ErrRestricted):
		return "restricted-xml"
	case errors.Is(err, wire.ErrBadNamespace):
		return "invalid-namespace"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "connection-timeout"
	}
	return "not-well-formed"
}

// convert returns a copy of el with every element in namespace from moved
// to namespace to (jabber:client ↔ jabber:server).
func convert(el *wire.Element, from, to string) *wire.Element {
	c := &wire.Element{Space: el.Space, Local: el.Local}
	if c.Space == from {
		c.Space = to
	}
	if len(el.Attr) > 0 {
		c.Attr = append([]wire.Attr(nil), el.Attr...)
	}
	if len(el.Children) > 0 {
		c.Children = make([]wire.Node, len(el.Children))
		for i, n := range el.Children {
			if n.El != nil {
				c.Children[i] = wire.Node{El: convert(n.El, from, to)}
			} else {
				c.Children[i] = n
			}
		}
	}
	return c
}
