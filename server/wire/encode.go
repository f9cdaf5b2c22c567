package wire

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// WriteTo appends the serialised element to b. parentNS is the default
// namespace in scope where the element is written (jabber:client for a
// stanza on a client stream); an xmlns declaration is written only when the
// element's namespace differs. Stanzas parsed from a jabber:server stream are
// written into a jabber:client stream with the right namespace, and vice
// versa, when the caller passes the stanza through Restamp first.
//
// The output is well-formed whatever the strings hold: characters XML 1.0
// does not allow (invalid UTF-8, control characters) are written as U+FFFD,
// each foreign attribute namespace gets its own prefix, and an attribute
// that repeats an earlier one's name, or would declare a namespace, is left
// out. Element and attribute names are written as they are; the decoder
// only produces valid ones.
func (e *Element) WriteTo(b *bytes.Buffer, parentNS string) {
	b.WriteByte('<')
	b.WriteString(e.Local)
	if e.Space != parentNS {
		b.WriteString(` xmlns="`)
		escape(b, e.Space, &attrEsc)
		b.WriteByte('"')
	}
	var num [20]byte
	for i, a := range e.Attr {
		if e.dupAttr(i) {
			continue
		}
		switch a.Space {
		case "":
			if a.Local == "xmlns" {
				continue
			}
			b.WriteByte(' ')
		case NSXML:
			b.WriteString(" xml:")
		case NSXMLNS:
			continue
		default:
			// A foreign-namespace attribute: its prefix is "ns" and the
			// index of the first attribute in that namespace, declared
			// there, so prefixes are unique on the element.
			j := 0
			for j < i && e.Attr[j].Space != a.Space {
				j++
			}
			p := strconv.AppendInt(append(num[:0], "ns"...), int64(j), 10)
			if j == i {
				b.WriteString(" xmlns:")
				b.Write(p)
				b.WriteString(`="`)
				escape(b, a.Space, &attrEsc)
				b.WriteByte('"')
			}
			b.WriteByte(' ')
			b.Write(p)
			b.WriteByte(':')
		}
		b.WriteString(a.Local)
		b.WriteString(`="`)
		escape(b, a.Value, &attrEsc)
		b.WriteByte('"')
	}
	if len(e.Children) == 0 {
		b.WriteString("/>")
		return
	}
	b.WriteByte('>')
	for _, n := range e.Children {
		if n.El != nil {
			n.El.WriteTo(b, e.Space)
		} else {
			escape(b, n.Text, &textEsc)
		}
	}
	b.WriteString("</")
	b.WriteString(e.Local)
	b.WriteByte('>')
}

// dupAttr reports whether e.Attr[i] has the name of an earlier attribute.
func (e *Element) dupAttr(i int) bool {
	a := &e.Attr[i]
	for j := 0; j < i; j++ {
		if e.Attr[j].Local == a.Local && e.Attr[j].Space == a.Space {
			return true
		}
	}
	return false
}

// Bytes returns the element serialised for a stream whose default namespace
// is parentNS.
func (e *Element) Bytes(parentNS string) []byte {
	var b bytes.Buffer
	e.WriteTo(&b, parentNS)
	return b.Bytes()
}

// Escape classes: 0 is copied; escHigh starts a multi-byte character that
// is checked; escBad is replaced; any other value is the byte to escape.
const (
	escCopy = 0
	escHigh = 1
	escBad  = 2
)

// textEsc escapes '>' too, so that "]]>" never appears in character data
// (XML 1.0 §2.4), and CR, which a parser would read as LF (§2.11). attrEsc
// escapes white space, which a parser would normalise to a space (§3.3.3).
var textEsc, attrEsc = func() (t, a [256]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c], a[c] = escBad, escBad
	}
	for c := 0x80; c < 0x100; c++ {
		t[c], a[c] = escHigh, escHigh
	}
	t['\t'], t['\n'] = escCopy, escCopy
	for _, c := range []byte("<>&\r") {
		t[c] = c
	}
	for _, c := range []byte("<>&\"'\t\n\r") {
		a[c] = c
	}
	return t, a
}()

func escape(b *bytes.Buffer, s string, class *[256]uint8) {
	last := 0
	for i := 0; i < len(s); {
		k := class[s[i]]
		if k == escCopy {
			i++
			continue
		}
		n := 1
		var esc string
		switch k {
		case escHigh:
			r, size := utf8.DecodeRuneInString(s[i:])
			if (r != utf8.RuneError || size > 1) && r != 0xFFFE && r != 0xFFFF {
				i += size
				continue
			}
			esc, n = "\uFFFD", size
		case escBad:
			esc = "\uFFFD"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '&':
			esc = "&amp;"
		case '"':
			esc = "&quot;"
		case '\'':
			esc = "&apos;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		i += n
		last = i
	}
	b.WriteString(s[last:])
}

// validChars reports whether b is valid UTF-8 made only of characters XML
// 1.0 allows (RFC 6120 §11.1: a stream with other characters is not
// well-formed).
func validChars(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 || r == 0xFFFE || r == 0xFFFF {
			return false // DecodeRune also refuses surrogates
		}
		i += n
	}
	return true
}
