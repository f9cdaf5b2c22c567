package wire

import (
	"math/rand/v2"
	"strings"
)

// Pieces of generated stanzas: mostly valid, with the review's cases mixed
// in (bad UTF-8 and characters outside the name tables, reserved prefixes
// and namespaces, control characters, "]]>", CR LF).
var (
	genNames = []string{"a", "body", "x-y", "b.c", "_z", "\u00e9", "\u0e01\u00b7", "a\u0300",
		"\u4e00", "\u3400", "1a", "-a", "\xff", "a\xc3", "\U0001F600"}
	genPrefixes = []string{"", "", "", "p", "q", "xml", "xmlns", "stream"}
	genSpaces   = []string{"urn:a", "urn:b", "jabber:client", "", NSXML, NSXMLNS, "urn:&amp;&#x9;"}
	genChars    = []string{"x", "y z", "&amp;", "&lt;&gt;&quot;&apos;", "&#9;", "&#65;", "&#x1F600;",
		"\t", "\n", "\r\n", "\r", "\u00e9", "\u2028", "\u0085", "\x7f", "'", "\"", ">", "]", "]]",
		"&#1;", "&#xFFFE;", "&#xD800;", "\x01", "\xff", "\xed\xa0\x80", "\uFFFD", "\U0010FFFF"}
	genText = []string{"]]>", "<![CDATA[a]]]]>", "<![CDATA[x\r\ny<&]]>", "<![CDATA[]]>"}
)

// generated returns n stanzas from a fixed seed.
func generated(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	qname := func(prefixes []string) string {
		if p := pick(prefixes); p != "" {
			return p + ":" + pick(genNames)
		}
		return pick(genNames)
	}
	chars := func(k int) string {
		var b strings.Builder
		for range r.IntN(k) {
			b.WriteString(pick(genChars))
		}
		return b.String()
	}
	var elem func(b *strings.Builder, depth int)
	elem = func(b *strings.Builder, depth int) {
		// Declared prefixes are usually used.
		var decls []string
		var declared []string
		for range r.IntN(3) {
			p := pick(genPrefixes)
			if p == "" {
				decls = append(decls, " xmlns='"+pick(genSpaces)+"'")
			} else {
				decls = append(decls, " xmlns:"+p+"='"+pick(genSpaces)+"'")
				declared = append(declared, p)
			}
		}
		prefixes := append([]string{"", "", "xml"}, declared...)
		name := pick(genNames)
		if depth == 0 {
			name = pick([]string{"message", "iq", "presence"})
		} else if p := pick(prefixes); p != "" && p != "xml" || r.IntN(20) == 0 {
			name = p + ":" + name
		}
		b.WriteString("<" + name)
		for _, d := range decls {
			b.WriteString(d)
		}
		for range r.IntN(4) {
			q := pick([]string{"'", "\""})
			b.WriteString(" " + qname(prefixes) + "=" + q + strings.ReplaceAll(chars(4), q, "") + q)
		}
		if depth > 2 || r.IntN(3) == 0 {
			b.WriteString("/>")
			return
		}
		b.WriteString(">")
		for range r.IntN(4) {
			switch r.IntN(3) {
			case 0:
				elem(b, depth+1)
			case 1:
				b.WriteString(chars(5))
			default:
				b.WriteString(pick(genText))
			}
		}
		if r.IntN(30) == 0 {
			name = qname(prefixes) // usually a mismatched end tag
		}
		b.WriteString("</" + name + ">")
	}
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		elem(&b, 0)
		out[i] = b.String()
	}
	return out
}
