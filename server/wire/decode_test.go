package wire

import (
	"errors"
	"strings"
	"testing"
)

// strictCases are inputs a strict XML 1.0 parser with namespaces (expat,
// encoding/xml) refuses; the decoder must refuse them too. They seed
// FuzzDecoder and the expat test.
var strictCases = []struct {
	name, in string
	err      error
}{
	{"invalid utf-8 in element name", "<message><b\xffdy/></message>", ErrNotWellFormed},
	{"invalid utf-8 in attribute name", "<message \xff='1'/>", ErrNotWellFormed},
	{"invalid utf-8 in prefix", "<message xmlns:\xe9='urn:x'/>", ErrNotWellFormed},
	{"invalid utf-8 in attribute value", "<message id='\xc3('/>", ErrNotWellFormed},
	{"invalid utf-8 in text", "<message><body>\xed\xa0\x80</body></message>", ErrNotWellFormed},
	{"name start middle dot", "<message><\u00b7a/></message>", ErrNotWellFormed},
	{"name outside appendix B", "<message><\u3400/></message>", ErrNotWellFormed},
	{"local part starts with digit", "<message xmlns:a='urn:x'><a:1b/></message>", ErrNotWellFormed},
	{"local part starts with hyphen", "<message xmlns:a='urn:x' a:-b='1'/>", ErrNotWellFormed},
	{"two colons", "<message xmlns:a='urn:x'><a:b:c/></message>", ErrNotWellFormed},
	{"quote in name", `<message a"b='1'/>`, ErrNotWellFormed},
	{"xmlns:xmlns", "<message xmlns:xmlns='urn:x'/>", ErrNotWellFormed},
	{"xmlns:xml elsewhere", "<message xmlns:xml='urn:x'/>", ErrNotWellFormed},
	{"prefix bound to xmlns namespace", "<message xmlns:a='http://www.w3.org/2000/xmlns/' a:b='1'/>", ErrNotWellFormed},
	{"default bound to xmlns namespace", "<message><b xmlns='http://www.w3.org/2000/xmlns/'/></message>", ErrNotWellFormed},
	{"prefix bound to xml namespace", "<message xmlns:a='http://www.w3.org/XML/1998/namespace' a:lang='en'/>", ErrNotWellFormed},
	{"default bound to xml namespace", "<message><b xmlns='http://www.w3.org/XML/1998/namespace'/></message>", ErrNotWellFormed},
	{"empty prefix declaration", "<message xmlns:='urn:x'/>", ErrNotWellFormed},
	{"prefix with colon declared", "<message xmlns:a:b='urn:x'/>", ErrNotWellFormed},
	{"prefix undeclared", "<message xmlns:a=''/>", ErrBadNamespace},
	{"duplicate declaration", "<message xmlns:a='urn:x' xmlns:a='urn:y'/>", ErrNotWellFormed},
	{"duplicate default declaration", "<message><b xmlns='urn:x' xmlns='urn:x'/></message>", ErrNotWellFormed},
	{"duplicate attribute via two prefixes", "<message xmlns:a='urn:x' xmlns:b='urn:x' a:c='1' b:c='2'/>", ErrNotWellFormed},
	{"duplicate xml:lang via xml namespace", "<message xmlns:a='http://www.w3.org/XML/1998/namespace' xml:lang='en' a:lang='de'/>", ErrNotWellFormed},
	{"control char", "<message><body>\x01</body></message>", ErrNotWellFormed},
	{"control char in attribute", "<message id='\x1b'/>", ErrNotWellFormed},
	{"control char ref", "<message><body>&#1;</body></message>", ErrNotWellFormed},
	{"control char ref in attribute", "<message id='&#x1b;'/>", ErrNotWellFormed},
	{"surrogate char ref", "<message><body>&#xD800;</body></message>", ErrNotWellFormed},
	{"non-character ref", "<message><body>&#xFFFF;</body></message>", ErrNotWellFormed},
	{"huge char ref", "<message><body>&#x110000;</body></message>", ErrNotWellFormed},
	{"empty char ref", "<message><body>&#x;</body></message>", ErrNotWellFormed},
	{"signed char ref", "<message><body>&#+65;</body></message>", ErrNotWellFormed},
	{"]]> in text", "<message><body>a]]>b</body></message>", ErrNotWellFormed},
	{"end tag by another prefix", "<message xmlns:a='urn:x' xmlns:b='urn:x'><a:c></b:c></message>", ErrNotWellFormed},
	{"end tag with prefix of default", "<message xmlns:a='jabber:client'></a:message>", ErrNotWellFormed},
	{"element in xml namespace", "<message><xml:b/></message>", ErrBadNamespace},
	{"element with xmlns prefix", "<message><xmlns:b/></message>", ErrBadNamespace},
}

func TestStrict(t *testing.T) {
	for _, tc := range strictCases {
		t.Run(tc.name, func(t *testing.T) {
			d := decoder(t, tc.in, 1<<16)
			e, err := d.Next()
			if !errors.Is(err, tc.err) {
				t.Fatalf("Next(%q) = %v, %v; want %v", tc.in, e, err, tc.err)
			}
		})
	}
}

// acceptedCases are inputs the decoder accepts (or, with an empty want,
// refuses for another reason than well-formedness).
var acceptedCases = []struct{ name, in, want string }{
	{"non-ascii names", "<message><b\u00e9 xmlns='urn:x' \u0e01\u00b7='1'/></message>",
		`<message><bé xmlns="urn:x" ก·="1"/></message>`},
	{"xml prefix declared", "<message xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='en'/>",
		`<message xml:lang="en"/>`},
	{"xmlns undeclared", "<message><b xmlns=''/></message>", `<message><b xmlns=""/></message>`},
	{"two prefixes, two namespaces", "<message xmlns:a='urn:x' xmlns:b='urn:y' a:c='1' b:c='2'/>",
		`<message xmlns:ns0="urn:x" ns0:c="1" xmlns:ns1="urn:y" ns1:c="2"/>`},
	{"line ends in text", "<message><body>a\r\nb\rc\n\rd&#xD;</body></message>",
		`<message><body>a
b
c

d&#xD;</body></message>`},
	{"line ends in attribute", "<message id='a\r\nb\rc\td&#9;'/>", `<message id="a b c d&#x9;"/>`},
	{"brackets", "<message><body>]]]&gt;]>]</body></message>", `<message><body>]]]&gt;]&gt;]</body></message>`},
	{"cdata brackets", "<message><body><![CDATA[]]]]><![CDATA[>\r\n]]></body></message>",
		`<message><body>]]&gt;
</body></message>`},
	{"uppercase X char ref", "<message><body>&#65;&#x42;&#X43;</body></message>", ""},
	{"leading zeros", "<message><body>&#x000041;</body></message>", `<message><body>A</body></message>`},
}

func TestAccepted(t *testing.T) {
	for _, tc := range acceptedCases {
		t.Run(tc.name, func(t *testing.T) {
			d := decoder(t, tc.in, 1<<16)
			e, err := d.Next()
			if tc.want == "" {
				if err == nil {
					t.Fatalf("Next(%q) accepted %s", tc.in, e.Bytes(NSClient))
				}
				return
			}
			if err != nil {
				t.Fatalf("Next(%q) = %v", tc.in, err)
			}
			if got := string(e.Bytes(NSClient)); got != tc.want {
				t.Errorf("Next(%q) = %s, want %s", tc.in, got, tc.want)
			}
			if err := checkEncoding(e); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestElementNamedXMLNS: an element named xmlns is refused. Expat
// accepts it, but encoding/xml puts it in no namespace while a strict
// reader applies the default one, so clients could disagree on what the
// server relayed (found by FuzzDecoder).
func TestElementNamedXMLNS(t *testing.T) {
	for _, in := range []string{"<xmlns/>", "<message><xmlns>x</xmlns></message>"} {
		d := NewDecoder(strings.NewReader(header+in), 1<<16)
		if _, err := d.Header(); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Next(); !errors.Is(err, ErrBadNamespace) {
			t.Errorf("%q: %v, want ErrBadNamespace", in, err)
		}
	}
}

// TestStoredMessage: only a well-formed jabber:client message comes back
// from a stored record.
func TestStoredMessage(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", false},
		{"<message", false},
		{"<iq type='get' xmlns='jabber:client'/>", false},
		{"<message xmlns='urn:x'/>", false},
		{"<message xmlns='jabber:client'><body>hi</body></message>", true},
	} {
		if got := StoredMessage([]byte(tc.in)) != nil; got != tc.want {
			t.Errorf("StoredMessage(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
