package wire

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
)

// canon renders a tree so that two trees compare equal when they have the
// same namespaces, local names, attributes (as a set of expanded names) and
// character data (adjacent text merged, empty text dropped).
func canon(e *Element) string {
	var b strings.Builder
	canonTo(&b, e)
	return b.String()
}

func canonTo(b *strings.Builder, e *Element) {
	fmt.Fprintf(b, "<{%q}%q", e.Space, e.Local)
	attrs := make([]string, 0, len(e.Attr))
	for _, a := range e.Attr {
		attrs = append(attrs, fmt.Sprintf(" {%q}%q=%q", a.Space, a.Local, a.Value))
	}
	slices.Sort(attrs)
	b.WriteString(strings.Join(attrs, ""))
	b.WriteString(">")
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			fmt.Fprintf(b, "%q", text.String())
			text.Reset()
		}
	}
	for _, n := range e.Children {
		if n.El == nil {
			text.WriteString(n.Text)
			continue
		}
		flush()
		canonTo(b, n.El)
	}
	flush()
	b.WriteString("</>")
}

// goDecode parses out, one serialised element written for a jabber:client
// stream, with encoding/xml in strict mode and returns its tree.
func goDecode(out []byte) (*Element, error) {
	in := "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" + string(out) + "</stream:stream>"
	d := xml.NewDecoder(strings.NewReader(in))
	d.Strict = true
	var stack []*Element
	var root *Element
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			e := &Element{Space: t.Name.Space, Local: t.Name.Local}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" {
					continue
				}
				e.Attr = append(e.Attr, Attr{Space: a.Name.Space, Local: a.Name.Local, Value: a.Value})
			}
			if len(stack) == 1 {
				if root != nil {
					return nil, fmt.Errorf("two elements in %q", out)
				}
				root = e
			} else if len(stack) > 1 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, Node{El: e})
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) < 2 {
				return nil, fmt.Errorf("text outside the element in %q", out)
			}
			p := stack[len(stack)-1]
			p.Children = append(p.Children, Node{Text: string(t)})
		default:
			return nil, fmt.Errorf("unexpected token %T in %q", tok, out)
		}
	}
	if root == nil {
		return nil, fmt.Errorf("no element in %q", out)
	}
	return root, nil
}

// checkEncoding reports how e's serialisation fails the property: it must
// be accepted by encoding/xml and by this package's decoder, and both must
// read it back as e.
func checkEncoding(e *Element) error {
	out := e.Bytes(NSClient)
	g, err := goDecode(out)
	if err != nil {
		return fmt.Errorf("encoding/xml refuses %q: %v", out, err)
	}
	if a, b := canon(g), canon(e); a != b {
		return fmt.Errorf("encoding/xml reads %q as\n%s\nwant\n%s", out, a, b)
	}
	d := NewDecoder(bytes.NewReader(append([]byte(header), out...)), 0)
	if _, err := d.Header(); err != nil {
		return err
	}
	w, err := d.Next()
	if err != nil {
		return fmt.Errorf("wire refuses %q: %v", out, err)
	}
	if a, b := canon(w), canon(e); a != b {
		return fmt.Errorf("wire reads %q as\n%s\nwant\n%s", out, a, b)
	}
	return nil
}
