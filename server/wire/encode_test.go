package wire

import (
	"fmt"
	"strings"
	"testing"
)

func TestEncodeWellFormed(t *testing.T) {
	many := New(NSClient, "message")
	for i := range 12 {
		many.Attr = append(many.Attr, Attr{Space: fmt.Sprintf("urn:a%d", i), Local: "x", Value: "v"})
	}
	tests := []struct {
		name string
		in   *Element
		want *Element // what a parser reads back; nil means in
	}{
		{"12 foreign attribute namespaces", many, nil},
		{"one namespace twice", &Element{Space: NSClient, Local: "message", Attr: []Attr{
			{Space: "urn:a", Local: "x", Value: "1"}, {Space: "urn:b", Local: "x", Value: "2"},
			{Space: "urn:a", Local: "y", Value: "3"}, {Local: "x", Value: "4"}}}, nil},
		{"attribute white space", New(NSClient, "message", "id", "a\tb\nc\rd e\r\nf"), nil},
		{"attribute quotes", New(NSClient, "message", "id", `'"<>&`), nil},
		{"text markup", New(NSClient, "body").AddText("a]]>b<c>&d"), nil},
		{"text line ends", New(NSClient, "body").AddText("a\rb\r\nc\nd\te"), nil},
		{"invalid utf-8 text", New(NSClient, "body").AddText("a\xffb\xed\xa0\x80c"),
			New(NSClient, "body").AddText("a\uFFFDb\uFFFD\uFFFD\uFFFDc")},
		{"control characters", New(NSClient, "message", "id", "a\x01b\x00").AddText("\x1b[0m\x7f"),
			New(NSClient, "message", "id", "a\uFFFDb\uFFFD").AddText("\uFFFD[0m\x7f")},
		{"non-characters", New(NSClient, "body").AddText("\uFFFE\uFFFF\uFFFD"),
			New(NSClient, "body").AddText("\uFFFD\uFFFD\uFFFD")},
		{"duplicate attribute", &Element{Space: NSClient, Local: "message", Attr: []Attr{
			{Local: "to", Value: "a"}, {Local: "to", Value: "b"}}},
			New(NSClient, "message", "to", "a")},
		{"xmlns as an attribute", &Element{Space: NSClient, Local: "message", Attr: []Attr{
			{Local: "xmlns", Value: "urn:evil"}, {Space: NSXMLNS, Local: "p", Value: "urn:evil"}}},
			New(NSClient, "message")},
		{"child namespaces", New(NSClient, "iq").Add(New("urn:x", "q").Add(New("", "empty"), New("urn:x", "r"))), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want == nil {
				if err := checkEncoding(tc.in); err != nil {
					t.Fatal(err)
				}
				return
			}
			out := tc.in.Bytes(NSClient)
			g, err := goDecode(out)
			if err != nil {
				t.Fatalf("encoding/xml refuses %q: %v", out, err)
			}
			if a, b := canon(g), canon(tc.want); a != b {
				t.Fatalf("encoding/xml reads %q as\n%s\nwant\n%s", out, a, b)
			}
			if err := checkEncoding(g); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEncodePrefixes(t *testing.T) {
	e := New(NSClient, "message")
	for i := range 12 {
		e.Attr = append(e.Attr, Attr{Space: fmt.Sprintf("urn:a%d", i), Local: "x"})
	}
	out := e.String()
	for i := range 12 {
		if n := strings.Count(out, fmt.Sprintf(" xmlns:ns%d=", i)); n != 1 {
			t.Errorf("prefix ns%d declared %d times in %s", i, n, out)
		}
	}
}
