package wire

import (
	"errors"
	"io"
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

// maxElementAttrs caps the attributes of one element, which bounds the
// quadratic duplicate check.
const maxElementAttrs = 64

// keepScratch is the largest scratch buffer a decoder keeps between
// elements, so that one large stanza does not pin its size to an idle
// session.
const keepScratch = 16 << 10

// Limits bound what one top-level element (a stanza, or the stream header)
// may cost. A zero field means no limit. Exceeding any of them is
// ErrTooLarge.
type Limits struct {
	// Bytes per top-level element.
	Bytes int
	// Depth of nesting, counting the stream header.
	Depth int
	// Elements per top-level element, itself included. With Attrs this
	// bounds the tree's memory whatever the byte count.
	Elements int
	// Attrs per top-level element, namespace declarations not included.
	Attrs int
	// NSDecls is the number of namespace declarations in scope at once
	// within a top-level element (an element's and its ancestors'), and so
	// also per element. Prefix lookups scan the declarations in scope, so
	// this keeps them short.
	NSDecls int
}

// DefaultLimits returns the limits of a decoder from NewDecoder (whose
// Bytes come from its argument). A 256 KiB stanza within them decodes to a
// tree of at most about 1 MiB.
func DefaultLimits() Limits {
	return Limits{Bytes: 256 << 10, Depth: 64, Elements: 2048, Attrs: 4096, NSDecls: 32}
}

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
	lim   Limits
	n     int       // bytes consumed by the current top-level element
	elems int       // elements in the current top-level element
	attrs int       // attributes in the current top-level element
	top   bool      // the next start tag is a top-level element's
	binds []binding // namespace declarations in scope, innermost last
	marks []int     // len(binds) when each open element started
	base  int       // len(binds) after the stream header
	depth int
	buf   []byte // text scratch
	high  bool   // buf holds raw bytes >= 0x80 not yet checked as UTF-8
	raw   []byte // name and attribute scratch
	// streamPrefix is the prefix bound to the streams namespace, usually
	// "stream", used to recognise </stream:stream>.
	streamPrefix string
}

// NewDecoder returns a decoder over r with DefaultLimits, except that
// top-level elements (and the stream header) longer than max bytes are
// refused with ErrTooLarge; 0 means no byte limit.
func NewDecoder(r io.Reader, max int) *Decoder {
	// A small buffer: the TLS layer below already buffers whole records,
	// so this only saves calls, and idle sessions stay small.
	l := DefaultLimits()
	l.Bytes = max
	return &Decoder{src: r, lim: l, rbuf: make([]byte, 512)}
}

// SetLimit changes the per-element byte limit (used after authentication).
func (d *Decoder) SetLimit(max int) { d.lim.Bytes = max }

// SetLimits replaces all limits; they apply from the next element on.
func (d *Decoder) SetLimits(l Limits) { d.lim = l }

// Limits returns the decoder's limits.
func (d *Decoder) Limits() Limits { return d.lim }

// Buffered reports how many bytes are buffered and not yet parsed. The c2s
// layer requires it to be zero before STARTTLS (RFC 6120 §5.4.3.3).
func (d *Decoder) Buffered() int { return d.rend - d.rpos }

func (d *Decoder) readByte() (byte, error) {
	if d.rpos < d.rend {
		c := d.rbuf[d.rpos]
		d.rpos++
		d.n++
		if d.lim.Bytes > 0 && d.n > d.lim.Bytes {
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

// begin starts a top-level element's accounting.
func (d *Decoder) begin() {
	d.n, d.elems, d.attrs = 0, 0, 0
}

// Header reads an optional XML declaration and the <stream:stream> start
// tag. The returned element has no children; its namespace bindings stay in
// scope for the stream's elements.
func (d *Decoder) Header() (*Element, error) {
	d.begin()
	d.binds, d.marks, d.base = d.binds[:0], d.marks[:0], 0
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
	e, _, empty, err := d.startTag(c)
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
	d.base = len(d.binds)
	return e, nil
}

// xmlDecl consumes "<?xml ... ?>" after the "<?" has been read.
func (d *Decoder) xmlDecl() error {
	var name [4]byte
	for i := range name {
		c, err := d.readByte()
		if err != nil {
			return err
		}
		name[i] = c
	}
	if string(name[:3]) != "xml" || !isSpace(name[3]) {
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
		if c < 0x20 && !isSpace(c) || c >= 0x80 {
			return ErrNotWellFormed // the declaration is ASCII
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
	d.begin()
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
		if err := d.endTag(); err != nil {
			return nil, err
		}
		if d.streamPrefix != "" {
			if len(d.raw) != len(d.streamPrefix)+7 || string(d.raw[:len(d.streamPrefix)]) != d.streamPrefix ||
				string(d.raw[len(d.streamPrefix):]) != ":stream" {
				return nil, ErrNotWellFormed
			}
		} else if string(d.raw) != "stream" {
			return nil, ErrNotWellFormed
		}
		return nil, io.EOF
	case '?', '!':
		return nil, ErrRestricted
	}
	d.top = true
	e, qname, empty, err := d.startTag(c)
	if err == nil && !empty {
		err = d.content(e, qname)
	}
	if cap(d.buf) > keepScratch {
		d.buf = nil
	}
	if cap(d.raw) > keepScratch {
		d.raw = nil
	}
	if err != nil {
		return nil, err
	}
	d.pop()
	return e, nil
}

// startTag parses a start tag whose first name byte is c. It pushes the
// element's namespace declarations (popped by pop) and returns the element,
// its name as written (for the end tag) and whether it was empty (<a/>).
func (d *Decoder) startTag(c byte) (e *Element, qname string, empty bool, err error) {
	d.depth++
	d.elems++
	if d.lim.Depth > 0 && d.depth > d.lim.Depth || d.lim.Elements > 0 && d.elems > d.lim.Elements {
		return nil, "", false, ErrTooLarge
	}
	qname, colon, c, err := d.name(c)
	if err != nil {
		return nil, "", false, err
	}
	e = &Element{}
	var attrs [8]rawAttr
	raw := attrs[:0]
	mark := len(d.binds)
	d.marks = append(d.marks, mark)
	for {
		for isSpace(c) {
			if c, err = d.readByte(); err != nil {
				return nil, "", false, err
			}
		}
		if c == '>' {
			break
		}
		if c == '/' {
			if c, err = d.readByte(); err != nil {
				return nil, "", false, err
			}
			if c != '>' {
				return nil, "", false, ErrNotWellFormed
			}
			empty = true
			break
		}
		var an string
		var acolon int
		an, acolon, c, err = d.name(c)
		if err != nil {
			return nil, "", false, err
		}
		for isSpace(c) {
			if c, err = d.readByte(); err != nil {
				return nil, "", false, err
			}
		}
		if c != '=' {
			return nil, "", false, ErrNotWellFormed
		}
		if c, err = d.readByte(); err != nil {
			return nil, "", false, err
		}
		for isSpace(c) {
			if c, err = d.readByte(); err != nil {
				return nil, "", false, err
			}
		}
		if c != '"' && c != '\'' {
			return nil, "", false, ErrNotWellFormed
		}
		v, err := d.attrValue(c)
		if err != nil {
			return nil, "", false, err
		}
		switch {
		case acolon < 0 && an == "xmlns":
			err = d.declare(mark, "", v)
		case acolon == 5 && an[:5] == "xmlns":
			err = d.declare(mark, an[6:], v)
		default:
			d.attrs++
			if len(raw) >= maxElementAttrs || d.lim.Attrs > 0 && d.attrs > d.lim.Attrs {
				return nil, "", false, ErrTooLarge
			}
			a := rawAttr{local: an, value: v}
			if acolon >= 0 {
				a.prefix, a.local = an[:acolon], an[acolon+1:]
			}
			raw = append(raw, a)
		}
		if err != nil {
			return nil, "", false, err
		}
		if c, err = d.readByte(); err != nil {
			return nil, "", false, err
		}
		if !isSpace(c) && c != '>' && c != '/' {
			return nil, "", false, ErrNotWellFormed
		}
	}
	p, l := "", qname
	if colon >= 0 {
		p, l = qname[:colon], qname[colon+1:]
	}
	if p == "" && l == "xmlns" {
		// An element named xmlns: namespace-aware parsers disagree on
		// its namespace (encoding/xml gives it none), so a client could
		// read another tree than the one the server checked.
		return nil, "", false, ErrBadNamespace
	}
	ns, ok := d.lookup(p)
	if !ok || ns == NSXML {
		// An element in the XML namespace could only be written with the
		// xml prefix, which the encoder does not do.
		return nil, "", false, ErrBadNamespace
	}
	e.Space, e.Local = ns, l
	if err := d.finishAttrs(e, raw); err != nil {
		return nil, "", false, err
	}
	return e, qname, empty, nil
}

type rawAttr struct{ prefix, local, value string }

// declare binds prefix ("" for the default namespace) to ns on the element
// whose declarations start at d.binds[mark].
func (d *Decoder) declare(mark int, prefix, ns string) error {
	if d.lim.NSDecls > 0 && len(d.binds)-d.base >= d.lim.NSDecls {
		return ErrTooLarge
	}
	// Namespaces in XML 1.0 §3: xml may be bound only to its namespace,
	// xmlns not at all, and no other prefix (nor the default) to either
	// namespace; prefixes cannot be undeclared.
	switch {
	case prefix == "xml":
		if ns != NSXML {
			return ErrNotWellFormed
		}
	case prefix == "xmlns", ns == NSXML, ns == NSXMLNS:
		return ErrNotWellFormed
	case ns == "" && prefix != "":
		return ErrBadNamespace
	}
	for _, b := range d.binds[mark:] {
		if b.prefix == prefix {
			return ErrNotWellFormed // duplicate attribute
		}
	}
	d.binds = append(d.binds, binding{prefix: prefix, ns: ns})
	return nil
}

func (d *Decoder) finishAttrs(e *Element, raw []rawAttr) error {
	top := d.top
	d.top = false
	if len(raw) == 0 {
		return nil
	}
	n := len(raw)
	if top {
		// Room for the one attribute the server adds to every stanza
		// (RFC 6120 §8.1.2.1: from), so stamping it does not copy.
		n++
	}
	e.Attr = make([]Attr, len(raw), n)
	for i, a := range raw {
		e.Attr[i].Local = a.local
		e.Attr[i].Value = a.value
		if a.prefix != "" {
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

// pop removes the bindings of the innermost element.
func (d *Decoder) pop() {
	d.depth--
	n := len(d.marks) - 1
	d.binds = d.binds[:d.marks[n]]
	d.marks = d.marks[:n]
}

// Byte classes of character data and attribute values. Bytes of class 0
// are copied as they are.
const (
	chPlain   = iota
	chInvalid // a control character XML 1.0 does not allow
	chHigh    // part of a multi-byte character, checked as UTF-8 later
	chLT
	chAmp
	chCR
	chLF
	chTab
	chGT
	chBracket
	chQuote
)

var textClass, attrClass = func() (t, a [256]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c], a[c] = chInvalid, chInvalid
	}
	for c := 0x80; c < 0x100; c++ {
		t[c], a[c] = chHigh, chHigh
	}
	t['<'], a['<'] = chLT, chLT
	t['&'], a['&'] = chAmp, chAmp
	t['\r'], a['\r'] = chCR, chCR
	t['\n'], a['\n'] = chLF, chLF
	t['\t'], a['\t'] = chPlain, chTab
	t['>'] = chGT
	t[']'] = chBracket
	a['"'], a['\''] = chQuote, chQuote
	return t, a
}()

// content reads children and text up to the end tag of e, whose start tag
// was written as qname.
func (d *Decoder) content(e *Element, qname string) error {
	d.buf = d.buf[:0]
	d.high = false
	// last holds the last two raw bytes of character data, for "]]>" and
	// CR LF (XML 1.0 §2.11: CR LF and a lone CR are read as LF).
	var last uint16
	for {
		if d.rpos < d.rend && textClass[d.rbuf[d.rpos]] == chPlain {
			d.plainRun()
			last = 0
		}
		c, err := d.readByte()
		if err != nil {
			return err
		}
		switch textClass[c] {
		case chPlain:
		case chLT:
			goto markup
		case chAmp:
			if d.buf, err = d.entity(d.buf); err != nil {
				return err
			}
			last = 0
			continue
		case chInvalid:
			return ErrNotWellFormed
		case chHigh:
			d.high = true
		case chCR:
			d.buf = append(d.buf, '\n')
			last = last<<8 | '\r'
			continue
		case chLF:
			if byte(last) == '\r' {
				last = last<<8 | '\n'
				continue
			}
		case chGT:
			if last == ']'<<8|']' {
				return ErrNotWellFormed // "]]>" outside CDATA (XML 1.0 §2.4)
			}
		}
		d.buf = append(d.buf, c)
		last = last<<8 | uint16(c)
		continue

	markup:
		// '<': flush text, then a child, an end tag or CDATA.
		last = 0
		if c, err = d.readByte(); err != nil {
			return err
		}
		switch c {
		case '/':
			if err := d.flushText(e); err != nil {
				return err
			}
			if err := d.endTag(); err != nil {
				return err
			}
			if string(d.raw) != qname {
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
		child, cq, empty, err := d.startTag(c)
		if err != nil {
			return err
		}
		if !empty {
			// d.buf is empty here (flushed above) and empty again when the
			// child returns, so the child can use it.
			if err := d.content(child, cq); err != nil {
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

// plainRun appends to d.buf the buffered bytes of character data that need
// no attention, up to the byte limit: most text is copied here in one go
// rather than byte by byte.
func (d *Decoder) plainRun() {
	i, end := d.rpos, d.rend
	if d.lim.Bytes > 0 && end-i > d.lim.Bytes-d.n {
		end = i + max(d.lim.Bytes-d.n, 0)
	}
	for i < end && textClass[d.rbuf[i]] == chPlain {
		i++
	}
	run := d.rbuf[d.rpos:i]
	if cap(d.buf)-len(d.buf) < len(run) {
		// Double rather than grow by append's 1.25: a 256 KiB text then
		// allocates 512 KiB of buffers, not 1 MiB.
		b := make([]byte, len(d.buf), max(2*cap(d.buf), len(d.buf)+len(run), 64))
		copy(b, d.buf)
		d.buf = b
	}
	d.buf = append(d.buf, run...)
	d.n += len(run)
	d.rpos = i
}

func (d *Decoder) flushText(e *Element) error {
	if len(d.buf) == 0 {
		return nil
	}
	if d.high && !validChars(d.buf) {
		return ErrNotWellFormed
	}
	s := string(d.buf)
	d.buf = d.buf[:0]
	d.high = false
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
	start := len(d.buf)
	var last uint16
	for {
		c, err := d.readByte()
		if err != nil {
			return err
		}
		switch textClass[c] {
		case chInvalid:
			return ErrNotWellFormed
		case chHigh:
			d.high = true
		case chCR:
			d.buf = append(d.buf, '\n')
			last = last<<8 | '\r'
			continue
		case chLF:
			if byte(last) == '\r' {
				last = last<<8 | '\n'
				continue
			}
		case chGT:
			if last == ']'<<8|']' && len(d.buf)-start >= 2 {
				d.buf = d.buf[:len(d.buf)-2]
				return nil
			}
		}
		d.buf = append(d.buf, c)
		last = last<<8 | uint16(c)
	}
}

// endTag reads a name and '>' after "</", leaving the name in d.raw.
func (d *Decoder) endTag() error {
	c, err := d.readByte()
	if err != nil {
		return err
	}
	if c, _, err = d.readName(c); err != nil {
		return err
	}
	for isSpace(c) {
		if c, err = d.readByte(); err != nil {
			return err
		}
	}
	if c != '>' {
		return ErrNotWellFormed
	}
	return nil
}

// readName reads the bytes of a name starting with c into d.raw, up to and
// returning the byte that ends it, and reports whether they were all
// ASCII. The caller checks them (checkQName) or compares them with a
// checked name.
func (d *Decoder) readName(c byte) (byte, bool, error) {
	c, high, _, err := d.scanName(c)
	return c, high < utf8.RuneSelf, err
}

// scanName reads a name into d.raw like readName and returns the byte after
// it, the OR of the name's bytes (ASCII if below utf8.RuneSelf) and the AND
// of their nameClass entries (nameByte set: ASCII name bytes, no colon).
func (d *Decoder) scanName(c byte) (byte, byte, uint8, error) {
	d.raw = d.raw[:0]
	var high byte
	class := uint8(0xff)
	for !isSpace(c) && c != '>' && c != '/' && c != '=' {
		if len(d.raw) >= 256 {
			return 0, 0, 0, ErrTooLarge
		}
		high |= c
		class &= nameClass[c]
		d.raw = append(d.raw, c)
		// Take the rest of the name straight from the read buffer; the
		// byte after it goes through readByte, which applies the limits.
		i, end := d.rpos, d.runEnd(256-len(d.raw))
		for i < end && !nameEnd[d.rbuf[i]] {
			high |= d.rbuf[i]
			class &= nameClass[d.rbuf[i]]
			i++
		}
		d.raw = append(d.raw, d.rbuf[d.rpos:i]...)
		d.n += i - d.rpos
		d.rpos = i
		var err error
		if c, err = d.readByte(); err != nil {
			return 0, 0, 0, err
		}
	}
	return c, high, class, nil
}

// nameEnd marks the bytes that end a name in a tag.
var nameEnd = func() (t [256]bool) {
	for _, c := range []byte(" \t\r\n>/=") {
		t[c] = true
	}
	return t
}()

// runEnd returns the end of the buffered bytes a fast path may consume at
// once: at most most of them, and none beyond the element's byte limit.
func (d *Decoder) runEnd(most int) int {
	end := d.rend
	if end-d.rpos > most {
		end = d.rpos + most
	}
	if d.lim.Bytes > 0 && end-d.rpos > d.lim.Bytes-d.n {
		end = d.rpos + max(d.lim.Bytes-d.n, 0)
	}
	return end
}

// name reads a QName starting with c and returns it, the index of its colon
// (or -1) and the byte that ended it.
func (d *Decoder) name(c byte) (string, int, byte, error) {
	c, high, class, err := d.scanName(c)
	if err != nil {
		return "", 0, 0, err
	}
	if class&nameByte != 0 && len(d.raw) > 0 && nameClass[d.raw[0]]&nameStartByte != 0 {
		// The common case: ASCII name characters without a colon.
		return intern(d.raw), -1, c, nil
	}
	colon, ok := checkQName(d.raw, high < utf8.RuneSelf)
	if !ok {
		return "", 0, 0, ErrNotWellFormed
	}
	return intern(d.raw), colon, c, nil
}

// attrValue reads a quoted value after its opening quote q.
func (d *Decoder) attrValue(q byte) (string, error) {
	d.raw = d.raw[:0]
	high := false
	cr := false
	for {
		c, err := d.readByte()
		if err != nil {
			return "", err
		}
		switch attrClass[c] {
		case chPlain:
			// Take the run of plain bytes after c from the read buffer.
			i, end := d.rpos, d.runEnd(d.rend)
			for i < end && attrClass[d.rbuf[i]] == chPlain {
				i++
			}
			d.raw = append(d.raw, c)
			d.raw = append(d.raw, d.rbuf[d.rpos:i]...)
			d.n += i - d.rpos
			d.rpos = i
			cr = false
			continue
		case chQuote:
			if c != q {
				break
			}
			if len(d.raw) == 0 {
				return "", nil
			}
			if high && !validChars(d.raw) {
				return "", ErrNotWellFormed
			}
			if len(d.raw) <= 40 {
				return intern(d.raw), nil // type values and the like
			}
			return string(d.raw), nil
		case chLT, chInvalid:
			return "", ErrNotWellFormed
		case chAmp:
			if d.raw, err = d.entity(d.raw); err != nil {
				return "", err
			}
			cr = false
			continue
		case chHigh:
			high = true
		case chLF:
			if cr { // CR LF is one line end, hence one space
				cr = false
				continue
			}
			c = ' ' // attribute value normalisation (XML 1.0 §3.3.3)
		case chCR:
			d.raw = append(d.raw, ' ')
			cr = true
			continue
		case chTab:
			c = ' '
		}
		d.raw = append(d.raw, c)
		cr = false
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
	digits, base := s[1:], rune(10)
	if s[1] == 'x' {
		digits, base = s[2:], 16
	}
	if len(digits) == 0 {
		return b, ErrNotWellFormed
	}
	var r rune
	for _, c := range digits {
		var v rune
		switch {
		case c >= '0' && c <= '9':
			v = rune(c - '0')
		case base == 16 && c|0x20 >= 'a' && c|0x20 <= 'f':
			v = rune(c|0x20-'a') + 10
		default:
			return b, ErrNotWellFormed
		}
		if r = r*base + v; r > utf8.MaxRune {
			return b, ErrNotWellFormed
		}
	}
	if !isChar(r) {
		return b, ErrNotWellFormed // XML 1.0 §4.1: a reference must match Char
	}
	return utf8.AppendRune(b, r), nil
}

// isChar is the Char production of XML 1.0 §2.2.
func isChar(r rune) bool {
	return r >= 0x20 && r <= 0xD7FF || r == '\t' || r == '\n' || r == '\r' ||
		r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= utf8.MaxRune
}

// internNames are names and values common in XMPP: parsing them returns
// the shared string instead of allocating a new one.
var internNames = []string{
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
	"chat", "normal", "headline", "groupchat", "get", "unavailable", "subscribe",
	"subscribed", "unsubscribe", "unsubscribed", "probe", "away", "xa", "dnd", "true", "false",
	"jabber:client", "urn:xmpp:ping", "jabber:iq:roster", "urn:xmpp:receipts", "urn:xmpp:hints",
	"urn:xmpp:chat-markers:0", "urn:xmpp:sid:0", "urn:xmpp:delay", "urn:xmpp:mam:2",
	"http://jabber.org/protocol/chatstates", "http://jabber.org/protocol/caps",
	"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
	"eu.siacs.conversations.axolotl", "urn:xmpp:carbons:2", "urn:xmpp:forward:0",
	"urn:xmpp:omemo:2", "urn:xmpp:sm:3", "urn:xmpp:csi:0", "jabber:x:data",
	"http://jabber.org/protocol/pubsub", "http://jabber.org/protocol/pubsub#event",
}

// The intern table: open addressing over internBits bits of internHash.
// It is much cheaper than a map lookup, which hashes every byte: most
// misses (ids, JIDs) are rejected by their length alone.
const internBits = 9

var (
	internTable [1 << internBits]string
	internLens  [64]bool // lengths of the interned strings
)

func internHash(b []byte) uint {
	n := len(b)
	return (uint(n)*0x9e37 ^ uint(b[0])*0x3b1 ^ uint(b[n-1])*0x1f ^ uint(b[n/2])*0x2d5) & (1<<internBits - 1)
}

func init() {
	for _, s := range internNames {
		if len(s) >= len(internLens) {
			panic("wire: interned name too long: " + s)
		}
		internLens[len(s)] = true
		h := internHash([]byte(s))
		for internTable[h] != "" && internTable[h] != s {
			h = (h + 1) & (1<<internBits - 1)
		}
		internTable[h] = s
	}
}

// intern returns b as a string, shared when it is one of internNames.
func intern(b []byte) string {
	if len(b) == 0 || len(b) >= len(internLens) || !internLens[len(b)] {
		return string(b)
	}
	for h := internHash(b); ; h = (h + 1) & (1<<internBits - 1) {
		s := internTable[h]
		if s == "" {
			return string(b)
		}
		if s == string(b) {
			return s
		}
	}
}

// DefaultNS returns the default namespace declared by the stream header.
func (d *Decoder) DefaultNS() string {
	ns, _ := d.lookup("")
	return ns
}

// Parse parses one element from b (for stanzas kept in the store). Its
// default namespace is jabber:client.
func Parse(b []byte) (*Element, error) {
	l := DefaultLimits()
	l.Bytes = 0
	d := &Decoder{src: bytesReader(b), lim: l, rbuf: b, rend: len(b), rerr: io.EOF}
	d.binds = append(d.binds, binding{prefix: "", ns: NSClient})
	d.base = 1
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

// StoredMessage re-validates a message stanza kept in the store (offline
// queue, archive) with the decoder, since records of older versions may
// not be well-formed, and returns it; nil if it is not a well-formed
// jabber:client message.
func StoredMessage(b []byte) *Element {
	if len(b) == 0 {
		return nil
	}
	el, err := Parse(b)
	if err != nil || el.Space != NSClient || el.Local != "message" {
		return nil
	}
	return el
}
