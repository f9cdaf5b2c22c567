package wire

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Errors returned by Decoder. Each maps to one stream error condition
// (RFC 6120 §4.9.3).
var (
	// ErrNotWellFormed: the input is not well-formed XML (not-well-formed).
	ErrNotWellFormed = errors.New("wire: not well-formed")
	// ErrTooLarge: an element exceeded the byte limit (policy-violation).
	ErrTooLarge = errors.New("wire: element too large")
	// ErrRestricted: a comment, processing instruction, DTD or entity
	// reference (restricted-xml).
	ErrRestricted = errors.New("wire: restricted xml")
	// ErrBadNamespace: an undeclared prefix or a wrong stream namespace
	// (invalid-namespace).
	ErrBadNamespace = errors.New("wire: invalid namespace")
)

const maxDepth = 64
const maxAttrs = 64

type binding struct {
	prefix, ns string
}

// Decoder reads an XMPP stream: a header, then top-level elements.
// A Decoder is not safe for concurrent use; each stream has one reader.
type Decoder struct {
	src   io.Reader
	rbuf  []byte // read buffer; rbuf[rpos:rend] is unread
	rpos  int
	rend  int
	rerr  error
	max   int // bytes per top-level element; 0 means no limit
	n     int // bytes consumed by the current top-level element
	binds []binding
	depth int
	buf   []byte // text scratch
	raw   []byte // attribute scratch
	// streamPrefix is the prefix bound to the streams namespace, usually
	// "stream", used to recognise </stream:stream>.
	streamPrefix string
}

// NewDecoder returns a decoder over r that refuses top-level elements (and
// the stream header) longer than max bytes with ErrTooLarge.
func NewDecoder(r io.Reader, max int) *Decoder {
	// A small buffer: the TLS layer below already buffers whole records,
	// so this only saves calls, and idle sessions stay small.
	return &Decoder{src: r, max: max, rbuf: make([]byte, 512)}
}

// SetLimit changes the per-element byte limit (used after authentication).
func (d *Decoder) SetLimit(max int) { d.max = max }

// Buffered reports how many bytes are buffered and not yet parsed. The c2s
// layer requires it to be zero before STARTTLS (RFC 6120 §5.4.3.3).
func (d *Decoder) Buffered() int { return d.rend - d.rpos }

func (d *Decoder) readByte() (byte, error) {
	if d.rpos < d.rend {
		c := d.rbuf[d.rpos]
		d.rpos++
		d.n++
		if d.max > 0 && d.n > d.max {
			return 0, ErrTooLarge
		}
		return c, nil
	}
	return d.readByteSlow()
}

func (d *Decoder) readByteSlow() (byte, error) {
	for d.rpos == d.rend {
		if d.rerr != nil {
			err := d.rerr
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		n, err := d.src.Read(d.rbuf)
		d.rpos, d.rend = 0, n
		if err != nil {
			d.rerr = err
		}
	}
	return d.readByte()
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// Header reads an optional XML declaration and the <stream:stream> start
// tag. The returned element has no children; its namespace bindings stay in
// scope for the stream's elements.
func (d *Decoder) Header() (*Element, error) {
	d.n = 0
	d.binds = d.binds[:0]
	c, err := d.skipSpace()
	if err != nil {
		return nil, err
	}
	if c != '<' {
		return nil, ErrNotWellFormed
	}
	c, err = d.readByte()
	if err != nil {
		return nil, err
	}
	if c == '?' {
		if err := d.xmlDecl(); err != nil {
			return nil, err
		}
		if c, err = d.skipSpace(); err != nil {
			return nil, err
		}
		if c != '<' {
			return nil, ErrNotWellFormed
		}
		if c, err = d.readByte(); err != nil {
			return nil, err
		}
	}
	if c == '!' {
		return nil, ErrRestricted
	}
	e, empty, err := d.startTag(c)
	if err != nil {
		return nil, err
	}
	if empty || e.Local != "stream" || e.Space != NSStream {
		return nil, ErrBadNamespace
	}
	for _, b := range d.binds {
		if b.ns == NSStream && b.prefix != "" {
			d.streamPrefix = b.prefix
		}
	}
	// The header's bindings and depth stay for the life of the stream.
	return e, nil
}

// xmlDecl consumes "<?xml ... ?>" after the "<?" has been read.
func (d *Decoder) xmlDecl() error {
	var name [3]byte
	for i := range name {
		c, err := d.readByte()
		if err != nil {
			return err
		}
		name[i] = c
	}
	if string(name[:]) != "xml" {
		return ErrRestricted
	}
	var prev byte
	for {
		c, err := d.readByte()
		if err != nil {
			return err
		}
		if c == '>' && prev == '?' {
			return nil
		}
		prev = c
	}
}

func (d *Decoder) skipSpace() (byte, error) {
	for {
		c, err := d.readByte()
		if err != nil {
			return 0, err
		}
		if !isSpace(c) {
			return c, nil
		}
		// Whitespace keepalives do not count towards the element limit.
		d.n = 0
	}
}

// Next returns the next top-level element, skipping whitespace keepalives.
// It returns io.EOF when the peer closes the stream with </stream:stream>
// and io.ErrUnexpectedEOF when the connection ends without it.
func (d *Decoder) Next() (*Element, error) {
	d.n = 0
	c, err := d.skipSpace()
	if err != nil {
		return nil, err
	}
	if c != '<' {
		return nil, ErrNotWellFormed
	}
	c, err = d.readByte()
	if err != nil {
		return nil, err
	}
	switch c {
	case '/':
		name, err := d.endTag()
		if err != nil {
			return nil, err
		}
		want := "stream"
		if d.streamPrefix != "" {
			want = d.streamPrefix + ":stream"
		}
		if name != want {
			return nil, ErrNotWellFormed
		}
		return nil, io.EOF
	case '?', '!':
		return nil, ErrRestricted
	}
	e, empty, err := d.startTag(c)
	if err != nil {
		return nil, err
	}
	if !empty {
		if err := d.content(e); err != nil {
			return nil, err
		}
	}
	d.pop()
	return e, nil
}

// startTag parses a start tag whose first name byte is c. It pushes the
// element's namespace declarations (popped by pop/popTo).
func (d *Decoder) startTag(c byte) (*Element, bool, error) {
	d.depth++
	if d.depth > maxDepth {
		return nil, false, ErrTooLarge
	}
	qname, c, err := d.name(c)
	if err != nil {
		return nil, false, err
	}
	e := &Element{}
	var attrs [8]struct{ prefix, local, value string }
	raw := attrs[:0]
	d.binds = append(d.binds, binding{prefix: "\x00"}) // scope marker
	for {
		for isSpace(c) {
			if c, err = d.readByte(); err != nil {
				return nil, false, err
			}
		}
		if c == '>' {
			break
		}
		if c == '/' {
			if c, err = d.readByte(); err != nil {
				return nil, false, err
			}
			if c != '>' {
				return nil, false, ErrNotWellFormed
			}
			e.Space, e.Local, err = d.resolve(qname, true)
			if err != nil {
				return nil, false, err
			}
			if err := d.finishAttrs(e, raw); err != nil {
				return nil, false, err
			}
			return e, true, nil
		}
		var an string
		an, c, err = d.name(c)
		if err != nil {
			return nil, false, err
		}
		for isSpace(c) {
			if c, err = d.readByte(); err != nil {
				return nil, false, err
			}
		}
		if c != '=' {
			return nil, false, ErrNotWellFormed
		}
		if c, err = d.readByte(); err != nil {
			return nil, false, err
		}
		for isSpace(c) {
			if c, err = d.readByte(); err != nil {
				return nil, false, err
			}
		}
		if c != '"' && c != '\'' {
			return nil, false, ErrNotWellFormed
		}
		v, err := d.attrValue(c)
		if err != nil {
			return nil, false, err
		}
		if len(raw) >= maxAttrs {
			return nil, false, ErrTooLarge
		}
		switch {
		case an == "xmlns":
			d.binds = append(d.binds, binding{prefix: "", ns: v})
		case strings.HasPrefix(an, "xmlns:"):
			if v == "" {
				return nil, false, ErrBadNamespace
			}
			d.binds = append(d.binds, binding{prefix: an[6:], ns: v})
		default:
			p, l := "", an
			if i := strings.IndexByte(an, ':'); i >= 0 {
				p, l = an[:i], an[i+1:]
				if p == "" || l == "" || strings.IndexByte(l, ':') >= 0 {
					return nil, false, ErrNotWellFormed
				}
			}
			raw = append(raw, struct{ prefix, local, value string }{p, l, v})
		}
		if c, err = d.readByte(); err != nil {
			return nil, false, err
		}
		if !isSpace(c) && c != '>' && c != '/' {
			return nil, false, ErrNotWellFormed
		}
	}
	e.Space, e.Local, err = d.resolve(qname, true)
	if err != nil {
		return nil, false, err
	}
	if err := d.finishAttrs(e, raw); err != nil {
		return nil, false, err
	}
	return e, false, nil
}

func (d *Decoder) finishAttrs(e *Element, raw []struct{ prefix, local, value string }) error {
	if len(raw) == 0 {
		return nil
	}
	e.Attr = make([]Attr, len(raw))
	for i, a := range raw {
		e.Attr[i].Local = a.local
		e.Attr[i].Value = a.value
		switch a.prefix {
		case "":
		case "xml":
			e.Attr[i].Space = NSXML
		default:
			ns, ok := d.lookup(a.prefix)
			if !ok {
				return ErrBadNamespace
			}
			e.Attr[i].Space = ns
		}
		for j := 0; j < i; j++ {
			if e.Attr[j].Local == a.local && e.Attr[j].Space == e.Attr[i].Space {
				return ErrNotWellFormed // duplicate attribute
			}
		}
	}
	return nil
}

func (d *Decoder) lookup(prefix string) (string, bool) {
	if prefix == "xml" {
		return NSXML, true
	}
	for i := len(d.binds) - 1; i >= 0; i-- {
		if d.binds[i].prefix == prefix {
			return d.binds[i].ns, true
		}
	}
	return "", prefix == ""
}

func (d *Decoder) resolve(qname string, elem bool) (space, local string, err error) {
	p, l := "", qname
	if i := strings.IndexByte(qname, ':'); i >= 0 {
		p, l = qname[:i], qname[i+1:]
		if p == "" || l == "" || strings.IndexByte(l, ':') >= 0 {
			return "", "", ErrNotWellFormed
		}
	}
	ns, ok := d.lookup(p)
	if !ok {
		return "", "", ErrBadNamespace
	}
	return ns, l, nil
}

// pop removes the bindings of the innermost element.
func (d *Decoder) pop() {
	d.depth--
	for i := len(d.binds) - 1; i >= 0; i-- {
		if d.binds[i].prefix == "\x00" {
			d.binds = d.binds[:i]
			return
		}
	}
}

// content reads children and text up to e's end tag.
func (d *Decoder) content(e *Element) error {
	d.buf = d.buf[:0]
	for {
		c, err := d.readByte()
		if err != nil {
			return err
		}
		switch c {
		case '<':
		case '&':
			if d.buf, err = d.entity(d.buf); err != nil {
				return err
			}
			continue
		default:
			d.buf = append(d.buf, c)
			continue
		}
		// '<': flush text, then a child, an end tag or CDATA.
		if c, err = d.readByte(); err != nil {
			return err
		}
		switch c {
		case '/':
			if err := d.flushText(e); err != nil {
				return err
			}
			name, err := d.endTag()
			if err != nil {
				return err
			}
			sp, l, err := d.resolve(name, true)
			if err != nil {
				return err
			}
			if sp != e.Space || l != e.Local {
				return ErrNotWellFormed
			}
			return nil
		case '!':
			if err := d.cdata(); err != nil {
				return err
			}
			continue
		case '?':
			return ErrRestricted
		}
		if err := d.flushText(e); err != nil {
			return err
		}
		child, empty, err := d.startTag(c)
		if err != nil {
			return err
		}
		if !empty {
			// d.buf is empty here (flushed above) and empty again when the
			// child returns, so the child can use it.
			if err := d.content(child); err != nil {
				return err
			}
		}
		d.pop()
		if e.Children == nil {
			e.Children = make([]Node, 0, 4)
		}
		e.Children = append(e.Children, Node{El: child})
	}
}

func (d *Decoder) flushText(e *Element) error {
	if len(d.buf) == 0 {
		return nil
	}
	if !validChars(d.buf) {
		return ErrNotWellFormed
	}
	s := string(d.buf)
	d.buf = d.buf[:0]
	e.Children = append(e.Children, Node{Text: s})
	return nil
}

// cdata reads a CDATA section after "<!" into d.buf. Comments and DTDs are
// restricted XML.
func (d *Decoder) cdata() error {
	const open = "[CDATA["
	for i := 0; i < len(open); i++ {
		c, err := d.readByte()
		if err != nil {
			return err
		}
		if c != open[i] {
			return ErrRestricted
		}
	}
	for {
		c, err := d.readByte()
		if err != nil {
			return err
		}
		d.buf = append(d.buf, c)
		if n := len(d.buf); c == '>' && n >= 3 && d.buf[n-2] == ']' && d.buf[n-3] == ']' {
			d.buf = d.buf[:n-3]
			return nil
		}
	}
}

// endTag reads a name and '>' after "</".
func (d *Decoder) endTag() (string, error) {
	c, err := d.readByte()
	if err != nil {
		return "", err
	}
	name, c, err := d.name(c)
	if err != nil {
		return "", err
	}
	for isSpace(c) {
		if c, err = d.readByte(); err != nil {
			return "", err
		}
	}
	if c != '>' {
		return "", ErrNotWellFormed
	}
	return name, nil
}

// name reads an XML name starting with c and returns it with the byte that
// ended it.
func (d *Decoder) name(c byte) (string, byte, error) {
	if !nameStart(c) {
		return "", 0, ErrNotWellFormed
	}
	d.raw = append(d.raw[:0], c)
	for {
		c, err := d.readByte()
		if err != nil {
			return "", 0, err
		}
		if isSpace(c) || c == '>' || c == '/' || c == '=' {
			return intern(d.raw), c, nil
		}
		if !nameChar(c) {
			return "", 0, ErrNotWellFormed
		}
		if len(d.raw) > 256 {
			return "", 0, ErrTooLarge
		}
		d.raw = append(d.raw, c)
	}
}

func nameStart(c byte) bool {
	return c == '_' || c == ':' || (c|0x20 >= 'a' && c|0x20 <= 'z') || c >= 0x80
}

func nameChar(c byte) bool {
	return nameStart(c) || c == '-' || c == '.' || (c >= '0' && c <= '9')
}

// attrValue reads a quoted value after its opening quote q.
func (d *Decoder) attrValue(q byte) (string, error) {
	d.raw = d.raw[:0]
	for {
		c, err := d.readByte()
		if err != nil {
			return "", err
		}
		switch c {
		case q:
			if len(d.raw) == 0 {
				return "", nil
			}
			var s string
			if len(d.raw) <= 40 {
				s = intern(d.raw) // type values and the like
			} else {
				s = string(d.raw)
			}
			if !validChars(d.raw) {
				return "", ErrNotWellFormed
			}
			return s, nil
		case '<':
			return "", ErrNotWellFormed
		case '&':
			if d.raw, err = d.entity(d.raw); err != nil {
				return "", err
			}
		case '\t', '\n', '\r':
			d.raw = append(d.raw, ' ') // attribute value normalisation
		default:
			d.raw = append(d.raw, c)
		}
	}
}

// entity decodes a reference after '&' and appends it to b.
func (d *Decoder) entity(b []byte) ([]byte, error) {
	var name [12]byte
	n := 0
	for {
		c, err := d.readByte()
		if err != nil {
			return b, err
		}
		if c == ';' {
			break
		}
		if n == len(name) {
			return b, ErrNotWellFormed
		}
		name[n] = c
		n++
	}
	s := name[:n]
	switch string(s) {
	case "lt":
		return append(b, '<'), nil
	case "gt":
		return append(b, '>'), nil
	case "amp":
		return append(b, '&'), nil
	case "quot":
		return append(b, '"'), nil
	case "apos":
		return append(b, '\''), nil
	}
	if len(s) < 2 || s[0] != '#' {
		return b, ErrRestricted
	}
	var v uint64
	var err error
	if s[1] == 'x' {
		v, err = strconv.ParseUint(string(s[2:]), 16, 32)
	} else {
		v, err = strconv.ParseUint(string(s[1:]), 10, 32)
	}
	r := rune(v)
	if err != nil || !utf8.ValidRune(r) || (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0xFFFE || r == 0xFFFF {
		return b, ErrNotWellFormed
	}
	return utf8.AppendRune(b, r), nil
}

// interned holds names common in XMPP so that parsing them does not allocate.
var interned = func() map[string]string {
	m := map[string]string{}
	for _, s := range []string{
		"message", "presence", "iq", "body", "subject", "thread", "to", "from", "id", "type",
		"xmlns", "xml:lang", "show", "status", "priority", "query", "item", "jid", "name",
		"subscription", "ask", "group", "c", "hash", "node", "ver", "ext", "stream", "stream:stream",
		"version", "error", "text", "active", "composing", "paused", "inactive", "gone",
		"request", "received", "markable", "displayed", "origin-id", "stanza-id", "by",
		"delay", "stamp", "x", "r", "a", "h", "enable", "enabled", "resume", "resumed",
		"bind", "resource", "session", "auth", "mechanism", "response", "abort", "starttls",
		"ping", "encrypted", "header", "key", "payload", "iv", "sid", "rid", "store",
		"no-store", "no-copy", "private", "pubsub", "publish", "items", "event", "value",
		"field", "var", "set", "max", "before", "after", "first", "last", "count", "result",
		"queryid", "forwarded", "sent", "nick", "photo", "vCard", "blocklist", "block", "unblock",
		"chat", "normal", "headline", "groupchat", "get", "result", "unavailable", "subscribe",
		"subscribed", "unsubscribe", "unsubscribed", "probe", "away", "xa", "dnd", "true", "false",
		"jabber:client", "urn:xmpp:ping", "jabber:iq:roster", "urn:xmpp:receipts", "urn:xmpp:hints",
		"urn:xmpp:chat-markers:0", "urn:xmpp:sid:0", "urn:xmpp:delay", "urn:xmpp:mam:2",
		"http://jabber.org/protocol/chatstates", "http://jabber.org/protocol/caps",
		"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
		"eu.siacs.conversations.axolotl", "urn:xmpp:carbons:2", "urn:xmpp:forward:0",
	} {
		m[s] = s
	}
	return m
}()

func intern(b []byte) string {
	if s, ok := interned[string(b)]; ok {
		return s
	}
	return string(b)
}

// DefaultNS returns the default namespace declared by the stream header.
func (d *Decoder) DefaultNS() string {
	ns, _ := d.lookup("")
	return ns
}

// Parse parses one element from b (for stanzas kept in the store). Its
// default namespace is jabber:client.
func Parse(b []byte) (*Element, error) {
	d := &Decoder{src: bytesReader(b), rbuf: b, rend: len(b), rerr: io.EOF}
	d.binds = append(d.binds, binding{prefix: "", ns: NSClient})
	d.depth = 1
	return d.Next()
}

// DiscardBufferedSpace drops buffered whitespace (a keepalive or a newline
// after an element) and reports whether nothing else is buffered. Before
// STARTTLS any other buffered byte would be plaintext read as if protected.
func (d *Decoder) DiscardBufferedSpace() bool {
	for _, c := range d.rbuf[d.rpos:d.rend] {
		if !isSpace(c) {
			return false
		}
	}
	d.rpos = d.rend
	return true
}
