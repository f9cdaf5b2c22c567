package load

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// errStreamClosed is returned by scanner.next when the peer closes the stream.
var errStreamClosed = errors.New("load: stream closed by peer")

// maxElement bounds one top-level element read by the scanner, so a
// misbehaving server cannot make the generator grow without bound.
const maxElement = 1 << 20

// scanner splits an XMPP stream into top-level elements without building
// a tree: it tracks tag nesting (quote-aware) and returns the raw bytes of
// each depth-1 element, or the stream header by itself.
// It trusts the server to send well-formed XML; it is a measuring tool, not
// a validating parser, which keeps the generator's CPU per stanza small.
type scanner struct {
	br     *bufio.Reader
	depth  int
	buf    []byte
	header bool // the last element returned was the stream header
}

func newScanner(r io.Reader) *scanner {
	return &scanner{br: bufio.NewReaderSize(r, 4096)}
}

// reset restarts the stream (after STARTTLS or SASL success); r is the new
// transport, or nil to keep the current one.
func (s *scanner) reset(r io.Reader) {
	if r != nil {
		s.br = bufio.NewReaderSize(r, 4096)
	}
	s.depth = 0
}

// next returns the next top-level element or stream header. The returned
// slice is valid until the next call.
func (s *scanner) next() ([]byte, error) {
	s.buf = s.buf[:0]
	s.header = false
	for {
		// Character data up to the next '<': kept inside elements,
		// dropped (whitespace keepalives) between them.
		for {
			chunk, err := s.br.ReadSlice('<')
			if s.depth >= 2 {
				s.buf = append(s.buf, chunk...)
			}
			if err == nil {
				break
			}
			if err != bufio.ErrBufferFull {
				return nil, err
			}
			if len(s.buf) > maxElement {
				return nil, errTooLarge
			}
		}
		if s.depth >= 2 {
			s.buf = s.buf[:len(s.buf)-1] // the '<' is re-added by tag
		}
		mark := len(s.buf)
		kind, err := s.tag()
		if err != nil {
			return nil, err
		}
		switch kind {
		case tagOther:
			if s.depth < 2 {
				s.buf = s.buf[:mark]
			}
		case tagOpen:
			s.depth++
			if s.depth == 1 {
				s.header = true
				return s.buf, nil
			}
		case tagEmpty:
			if s.depth == 1 {
				return s.buf, nil
			}
		case tagClose:
			s.depth--
			if s.depth <= 0 {
				return nil, errStreamClosed
			}
			if s.depth == 1 {
				return s.buf, nil
			}
		}
		if len(s.buf) > maxElement {
			return nil, errTooLarge
		}
	}
}

var errTooLarge = errors.New("load: element from server too large")

const (
	tagOpen = iota
	tagClose
	tagEmpty
	tagOther // <?xml ...?>, comments
)

// tag reads from just after '<' to the matching '>' and appends the whole
// tag to s.buf.
func (s *scanner) tag() (int, error) {
	start := len(s.buf)
	s.buf = append(s.buf, '<')
	var quote byte
	for {
		c, err := s.br.ReadByte()
		if err != nil {
			return 0, err
		}
		s.buf = append(s.buf, c)
		if len(s.buf)-start > maxElement {
			return 0, errTooLarge
		}
		if quote != 0 {
			if c == quote {
				quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"':
			quote = c
		case '>':
			t := s.buf[start:]
			switch {
			case t[1] == '?' || t[1] == '!':
				return tagOther, nil
			case t[1] == '/':
				return tagClose, nil
			case t[len(t)-2] == '/':
				return tagEmpty, nil
			default:
				return tagOpen, nil
			}
		}
	}
}

// name returns the qualified name of the element that el starts with.
func name(el []byte) []byte {
	if len(el) < 2 || el[0] != '<' {
		return nil
	}
	i := 1
	for i < len(el) && !isNameEnd(el[i]) {
		i++
	}
	return el[1:i]
}

func isNameEnd(c byte) bool {
	return c == ' ' || c == '>' || c == '/' || c == '\t' || c == '\n' || c == '\r'
}

// local returns name(el) without its prefix: "stream:features" → "features".
func local(el []byte) string {
	n := name(el)
	if i := bytes.IndexByte(n, ':'); i >= 0 {
		n = n[i+1:]
	}
	return string(n)
}

// startTag returns the first tag of el, up to and including its '>'.
func startTag(el []byte) []byte {
	var quote byte
	for i, c := range el {
		if quote != 0 {
			if c == quote {
				quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"':
			quote = c
		case '>':
			return el[:i+1]
		}
	}
	return el
}

// attr returns the raw (unescaped) value of attribute key in el's first tag.
func attr(el []byte, key string) string {
	tag := startTag(el)
	for i := 0; i < len(tag); {
		j := bytes.Index(tag[i:], []byte(key))
		if j < 0 {
			return ""
		}
		j += i
		k := j + len(key)
		if j > 0 && isSpaceByte(tag[j-1]) && k+1 < len(tag) && tag[k] == '=' && (tag[k+1] == '\'' || tag[k+1] == '"') {
			q := tag[k+1]
			rest := tag[k+2:]
			if e := bytes.IndexByte(rest, q); e >= 0 {
				return string(rest[:e])
			}
			return ""
		}
		i = k
	}
	return ""
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// childText returns the character data of the first descendant element
// whose local name is child (for leaf elements such as <body> or <jid>),
// or nil when there is none.
func childText(el []byte, child string) []byte {
	t, _ := findChild(el, child)
	return t
}

// findChild is childText that also returns the offset just past the text.
func findChild(el []byte, child string) ([]byte, int) {
	open := []byte("<" + child)
	for off := 0; ; {
		i := bytes.Index(el[off:], open)
		if i < 0 {
			return nil, len(el)
		}
		off += i + len(open)
		if off >= len(el) {
			return nil, len(el)
		}
		if c := el[off]; c != '>' && c != '/' && !isSpaceByte(c) {
			continue // a longer name such as <mechanisms> for <mechanism>
		}
		tag := startTag(el[off:])
		off += len(tag)
		if len(tag) >= 2 && tag[len(tag)-2] == '/' {
			return []byte{}, off
		}
		e := bytes.Index(el[off:], []byte("</"))
		if e < 0 {
			return nil, len(el)
		}
		return el[off : off+e], off + e
	}
}

// allChildText returns the text of every <child> element in el.
func allChildText(el []byte, child string) []string {
	var out []string
	for {
		t, end := findChild(el, child)
		if t == nil {
			return out
		}
		out = append(out, string(t))
		el = el[end:]
	}
}

// innerText returns what lies between el's first '>' and its last '<'.
func innerText(el []byte) []byte {
	tag := startTag(el)
	j := bytes.LastIndexByte(el, '<')
	if j <= len(tag) {
		return nil
	}
	return el[len(tag):j]
}
