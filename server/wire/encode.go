package wire

import (
	"bytes"
	"unicode/utf8"
)

// WriteTo appends the serialised element to b. parentNS is the default
// namespace in scope where the element is written (jabber:client for a
// stanza on a client stream); an xmlns declaration is written only when the
// element's namespace differs. Stanzas parsed from a jabber:server stream are
// written into a jabber:client stream with the right namespace, and vice
// versa, when the caller passes the stanza through Restamp first.
func (e *Element) WriteTo(b *bytes.Buffer, parentNS string) {
	b.WriteByte('<')
	b.WriteString(e.Local)
	if e.Space != parentNS {
		b.WriteString(` xmlns="`)
		escapeAttr(b, e.Space)
		b.WriteByte('"')
	}
	prefixN := 0
	for _, a := range e.Attr {
		b.WriteByte(' ')
		switch a.Space {
		case "":
		case NSXML:
			b.WriteString("xml:")
		default:
			// A foreign-namespace attribute: declare a prefix on this element.
			prefixN++
			p := "ns" + string(rune('0'+prefixN%10))
			b.WriteString("xmlns:")
			b.WriteString(p)
			b.WriteString(`="`)
			escapeAttr(b, a.Space)
			b.WriteString(`" `)
			b.WriteString(p)
			b.WriteByte(':')
		}
		b.WriteString(a.Local)
		b.WriteString(`="`)
		escapeAttr(b, a.Value)
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
			escapeText(b, n.Text)
		}
	}
	b.WriteString("</")
	b.WriteString(e.Local)
	b.WriteByte('>')
}

// Bytes returns the element serialised for a stream whose default namespace
// is parentNS.
func (e *Element) Bytes(parentNS string) []byte {
	var b bytes.Buffer
	e.WriteTo(&b, parentNS)
	return b.Bytes()
}

func escapeText(b *bytes.Buffer, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '&':
			esc = "&amp;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		last = i + 1
	}
	b.WriteString(s[last:])
}

func escapeAttr(b *bytes.Buffer, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
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
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		case '\t':
			esc = "&#x9;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(esc)
		last = i + 1
	}
	b.WriteString(s[last:])
}

// validChars reports whether s is valid UTF-8 made only of characters XML
// 1.0 allows (RFC 6120 §11.1: a stream with other characters is not
// well-formed).
func validChars(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			return false
		}
		if r == 0xFFFE || r == 0xFFFF || (r >= 0xD800 && r <= 0xDFFF) {
			return false
		}
		i += n
	}
	return true
}
