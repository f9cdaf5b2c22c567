package load

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

const header = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x' from='d' version='1.0'>`

func TestScanner(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // elements after the header
		end  error
	}{
		{"features", header + `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`,
			[]string{`<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`}, io.EOF},
		{"keepalives dropped", header + " \n<presence/>\t <message to='a'><body>x y</body></message>",
			[]string{`<presence/>`, `<message to='a'><body>x y</body></message>`}, io.EOF},
		{"quoted angle brackets", header + `<iq id='a>b' type="x/>"/>`, []string{`<iq id='a>b' type="x/>"/>`}, io.EOF},
		{"text kept inside", header + `<message><body>  a &amp; b  </body></message>`,
			[]string{`<message><body>  a &amp; b  </body></message>`}, io.EOF},
		{"stream end", header + `<a/></stream:stream>`, []string{`<a/>`}, errStreamClosed},
		{"truncated", header + `<message><body>x`, nil, io.EOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newScanner(strings.NewReader(tc.in))
			h, err := s.next()
			if err != nil || !s.header || local(h) != "stream" {
				t.Fatalf("header = %q, %v (header %v)", h, err, s.header)
			}
			var got []string
			for {
				el, err := s.next()
				if err != nil {
					if !errors.Is(err, tc.end) {
						t.Errorf("end = %v, want %v", err, tc.end)
					}
					break
				}
				got = append(got, string(el))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("elements = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHelpers(t *testing.T) {
	el := []byte(`<iq type='result' id="b1" xid='no'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>u0@d/r</jid></bind></iq>`)
	for _, tc := range []struct{ key, want string }{{"type", "result"}, {"id", "b1"}, {"to", ""}, {"xmlns", ""}} {
		if got := attr(el, tc.key); got != tc.want {
			t.Errorf("attr(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
	if got := string(childText(el, "jid")); got != "u0@d/r" {
		t.Errorf("childText(jid) = %q", got)
	}
	if got := childText(el, "body"); got != nil {
		t.Errorf("childText(body) = %q, want nil", got)
	}
	mechs := []byte(`<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>`)
	if got := allChildText(mechs, "mechanism"); !slices.Equal(got, []string{"SCRAM-SHA-256", "PLAIN"}) {
		t.Errorf("allChildText(mechanism) = %q", got)
	}
	if got := string(innerText([]byte(`<challenge xmlns='x'>abc=</challenge>`))); got != "abc=" {
		t.Errorf("innerText = %q", got)
	}
	if got := innerText([]byte(`<success xmlns='x'/>`)); len(got) != 0 {
		t.Errorf("innerText(empty) = %q", got)
	}
	if got := local([]byte(`<stream:error>`)); got != "error" {
		t.Errorf("local = %q", got)
	}
}

// FuzzScanner feeds arbitrary server output: the scanner must not panic,
// must stop, and must only return elements that start with '<'.
func FuzzScanner(f *testing.F) {
	f.Add(header + `<presence/><message><body>x</body></message></stream:stream>`)
	f.Add(header + `<iq id='a>b'/>`)
	f.Add(`<a><b><c></c></b></a>`)
	f.Add(`<<<'"'>`)
	f.Fuzz(func(t *testing.T, in string) {
		s := newScanner(strings.NewReader(in))
		for range len(in) + 2 {
			el, err := s.next()
			if err != nil {
				return
			}
			if len(el) == 0 || el[0] != '<' {
				t.Fatalf("element %q does not start with '<'", el)
			}
			attr(el, "id")
			childText(el, "body")
			innerText(el)
		}
		t.Fatalf("scanner did not stop on %q", in)
	})
}
