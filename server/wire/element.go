package wire

import (
	"bytes"
	"strings"
)

// Namespaces used by the stream layer.
const (
	NSClient = "jabber:client"
	NSServer = "jabber:server"
	NSStream = "http://etherx.jabber.org/streams"
	NSXML    = "http://www.w3.org/XML/1998/namespace"
	// NSXMLNS is the namespace of namespace declarations; no prefix may
	// be bound to it (Namespaces in XML 1.0 §3).
	NSXMLNS   = "http://www.w3.org/2000/xmlns/"
	NSStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	NSStreams = "urn:ietf:params:xml:ns:xmpp-streams"
)

// Attr is one attribute. Space is empty for unqualified attributes (to, from,
// type, id) and NSXML for xml:lang.
type Attr struct {
	Space, Local, Value string
}

// Node is one child of an element: either an element or character data.
type Node struct {
	El   *Element
	Text string
}

// Element is one XML element with its namespace resolved.
// Elements are not safe for concurrent mutation; the router treats a parsed
// stanza as immutable once it has been handed to another session.
type Element struct {
	Space, Local string
	Attr         []Attr
	Children     []Node
}

// New returns an element with the given namespace, name and unqualified
// attributes given as name/value pairs.
func New(space, local string, attrs ...string) *Element {
	e := &Element{Space: space, Local: local}
	if len(attrs) > 0 {
		e.Attr = make([]Attr, 0, len(attrs)/2)
		for i := 0; i+1 < len(attrs); i += 2 {
			if attrs[i+1] != "" {
				e.Attr = append(e.Attr, Attr{Local: attrs[i], Value: attrs[i+1]})
			}
		}
	}
	return e
}

// Get returns the value of the unqualified attribute name, or "".
func (e *Element) Get(name string) string {
	for i := range e.Attr {
		if e.Attr[i].Local == name && e.Attr[i].Space == "" {
			return e.Attr[i].Value
		}
	}
	return ""
}

// Has reports whether the unqualified attribute name is present.
func (e *Element) Has(name string) bool {
	for i := range e.Attr {
		if e.Attr[i].Local == name && e.Attr[i].Space == "" {
			return true
		}
	}
	return false
}

// Set sets (or, with an empty value, removes) the unqualified attribute name.
func (e *Element) Set(name, value string) *Element {
	for i := range e.Attr {
		if e.Attr[i].Local == name && e.Attr[i].Space == "" {
			if value == "" {
				e.Attr = append(e.Attr[:i], e.Attr[i+1:]...)
			} else {
				e.Attr[i].Value = value
			}
			return e
		}
	}
	if value != "" {
		e.Attr = append(e.Attr, Attr{Local: name, Value: value})
	}
	return e
}

// Add appends child elements and returns e.
func (e *Element) Add(children ...*Element) *Element {
	for _, c := range children {
		if c != nil {
			e.Children = append(e.Children, Node{El: c})
		}
	}
	return e
}

// AddText appends character data and returns e.
func (e *Element) AddText(s string) *Element {
	if s != "" {
		e.Children = append(e.Children, Node{Text: s})
	}
	return e
}

// Child returns the first child element with the given namespace and name
// (an empty local matches any name), or nil.
func (e *Element) Child(space, local string) *Element {
	for _, n := range e.Children {
		if n.El != nil && n.El.Space == space && (local == "" || n.El.Local == local) {
			return n.El
		}
	}
	return nil
}

// FirstChild returns the first child element, or nil.
func (e *Element) FirstChild() *Element {
	for _, n := range e.Children {
		if n.El != nil {
			return n.El
		}
	}
	return nil
}

// Elements returns the child elements.
func (e *Element) Elements() []*Element {
	var out []*Element
	for _, n := range e.Children {
		if n.El != nil {
			out = append(out, n.El)
		}
	}
	return out
}

// Text returns the concatenated character data directly inside e.
func (e *Element) Text() string {
	switch {
	case len(e.Children) == 1:
		return e.Children[0].Text
	case len(e.Children) == 0:
		return ""
	}
	var b strings.Builder
	for _, n := range e.Children {
		b.WriteString(n.Text)
	}
	return b.String()
}

// ChildText returns the text of the first child with the given name, or "".
func (e *Element) ChildText(space, local string) string {
	if c := e.Child(space, local); c != nil {
		return c.Text()
	}
	return ""
}

// RemoveChildren removes every child element with the given namespace (and
// name, if local is not empty).
func (e *Element) RemoveChildren(space, local string) {
	out := e.Children[:0]
	for _, n := range e.Children {
		if n.El != nil && n.El.Space == space && (local == "" || n.El.Local == local) {
			continue
		}
		out = append(out, n)
	}
	for i := len(out); i < len(e.Children); i++ {
		e.Children[i] = Node{}
	}
	e.Children = out
}

// Copy returns a shallow copy of e with its own attribute and child slices,
// so attributes and the child list can be changed without touching e.
// Child elements themselves are shared.
func (e *Element) Copy() *Element {
	c := &Element{Space: e.Space, Local: e.Local}
	c.Attr = append(make([]Attr, 0, len(e.Attr)+1), e.Attr...)
	c.Children = append([]Node(nil), e.Children...)
	return c
}

// String returns the element serialised with its namespace declared.
// It is meant for tests and debugging output; never log stanzas.
func (e *Element) String() string {
	var b bytes.Buffer
	e.WriteTo(&b, "")
	return b.String()
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
