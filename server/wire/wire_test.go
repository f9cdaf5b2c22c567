package wire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

const header = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'>`

func decoder(t testing.TB, body string, max int) *Decoder {
	t.Helper()
	d := NewDecoder(strings.NewReader(header+body), max)
	h, err := d.Header()
	if err != nil {
		t.Fatalf("Header() = %v", err)
	}
	if h.Get("to") != "example.org" || h.Get("version") != "1.0" {
		t.Fatalf("header attrs = %v", h.Attr)
	}
	return d
}

func TestNext(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
	}{
		{"message", `<message to='a@b' type='chat'><body>hi &amp; &lt;3 &#x263A;</body></message>`,
			`<message to="a@b" type="chat"><body>hi &amp; &lt;3 ☺</body></message>`, nil},
		{"keepalive", " \n\t <presence/>", `<presence/>`, nil},
		{"child namespace", `<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>`,
			`<iq type="get" id="1"><ping xmlns="urn:xmpp:ping"/></iq>`, nil},
		{"prefixed child", `<message><x:y xmlns:x='urn:x'><x:z a='1'/></x:y></message>`,
			`<message><y xmlns="urn:x"><z a="1"/></y></message>`, nil},
		{"xml lang", `<message xml:lang='de'/>`, `<message xml:lang="de"/>`, nil},
		{"cdata", `<message><body><![CDATA[a<b]]></body></message>`, `<message><body>a&lt;b</body></message>`, nil},
		{"mismatched", `<message></bod>`, "", ErrNotWellFormed},
		{"comment", `<!-- x --><message/>`, "", ErrRestricted},
		{"inner comment", `<message><!-- x --></message>`, "", ErrRestricted},
		{"pi", `<?foo?>`, "", ErrRestricted},
		{"entity", `<message>&foo;</message>`, "", ErrRestricted},
		{"undeclared prefix", `<a:message/>`, "", ErrBadNamespace},
		{"bad char ref", `<message>&#0;</message>`, "", ErrNotWellFormed},
		{"control char", "<message>\x01</message>", "", ErrNotWellFormed},
		{"bad utf8", "<message>\xff</message>", "", ErrNotWellFormed},
		{"dup attr", `<message to='a' to='b'/>`, "", ErrNotWellFormed},
		{"empty attr local", `<message p:=""/>`, "", ErrNotWellFormed},
		{"empty attr prefix", `<message :a=""/>`, "", ErrNotWellFormed},
		{"text at top", `hello`, "", ErrNotWellFormed},
		{"close", `</stream:stream>`, "", io.EOF},
		{"eof", `<message>`, "", io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := decoder(t, tc.in, 1<<16)
			e, err := d.Next()
			if !errors.Is(err, tc.err) {
				t.Fatalf("Next(%q) error = %v, want %v", tc.in, err, tc.err)
			}
			if err != nil {
				return
			}
			if got := string(e.Bytes(NSClient)); got != tc.want {
				t.Errorf("Next(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestLimit(t *testing.T) {
	big := "<message><body>" + strings.Repeat("x", 1<<20) + "</body></message>"
	d := decoder(t, "<presence/>"+big, 4096)
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Next(1 MiB) = %v, want ErrTooLarge", err)
	}
	deep := strings.Repeat("<a>", 100)
	d = decoder(t, deep, 1<<16)
	if _, err := d.Next(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Next(deep) = %v, want ErrTooLarge", err)
	}
}

func TestHeaderErrors(t *testing.T) {
	for _, in := range []string{"", "hello", "<foo/>", "<!DOCTYPE x><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
		"<stream:stream xmlns:stream='urn:wrong'>"} {
		d := NewDecoder(strings.NewReader(in), 4096)
		if _, err := d.Header(); err == nil {
			t.Errorf("Header(%q) succeeded", in)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	e := New(NSClient, "message", "to", `a"b<c>&'`, "type", "chat")
	e.Add(New(NSClient, "body").AddText("x<y>&z\r\n"), New("urn:x", "y", "k", "v"))
	d := decoder(t, string(e.Bytes(NSClient)), 0)
	got, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	if a, b := got.String(), e.String(); a != b {
		t.Errorf("round trip = %s, want %s", a, b)
	}
}

// FuzzDecoder checks the property that keeps one account from breaking
// another's client: whatever the decoder accepts, the encoder writes as XML
// that encoding/xml in strict mode (and the decoder) read back as the same
// tree.
func FuzzDecoder(f *testing.F) {
	f.Add(`<message to='a@b'><body>hi</body></message>`)
	f.Add(`<iq type='get'><query xmlns='jabber:iq:roster'/></iq> <presence/>`)
	f.Add(`<a:b xmlns:a='x' a:c='d'><![CDATA[z]]>&#65;</a:b>`)
	f.Add(`</stream:stream>`)
	for _, tc := range strictCases {
		f.Add(tc.in)
	}
	for _, in := range generated(64) {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d := NewDecoder(strings.NewReader(header+in), 1<<16)
		if _, err := d.Header(); err != nil {
			t.Fatal(err)
		}
		for range 8 {
			e, err := d.Next()
			if err != nil {
				return
			}
			if err := checkEncoding(e); err != nil {
				t.Fatalf("input %q: %v", in, err)
			}
		}
	})
}

// TestGenerated runs the property of FuzzDecoder over generated stanzas.
func TestGenerated(t *testing.T) {
	accepted := 0
	for _, in := range generated(3000) {
		d := decoder(t, in, 1<<16)
		e, err := d.Next()
		if err != nil {
			continue
		}
		accepted++
		if err := checkEncoding(e); err != nil {
			t.Fatalf("input %q: %v", in, err)
		}
	}
	if accepted < 300 {
		t.Errorf("only %d of 3000 generated stanzas accepted; the generator needs more valid cases", accepted)
	}
	t.Logf("%d of 3000 accepted", accepted)
}

func BenchmarkDecodeMessage(b *testing.B) {
	msg := `<message to='bob@example.org/phone' id='abc123' type='chat'><body>Hello there, how are you doing today?</body><active xmlns='http://jabber.org/protocol/chatstates'/><request xmlns='urn:xmpp:receipts'/></message>`
	stream := []byte(header + strings.Repeat(msg, 1000))
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	var d *Decoder
	r := bytes.NewReader(stream)
	n := 1000
	for b.Loop() {
		if n == 1000 {
			r.Reset(stream)
			d = NewDecoder(r, 1<<16)
			d.Header()
			n = 0
		}
		if _, err := d.Next(); err != nil {
			b.Fatal(err)
		}
		n++
	}
}

func BenchmarkEncodeMessage(b *testing.B) {
	d := decoder(b, `<message to='bob@example.org/phone' id='abc123' type='chat'><body>Hello there, how are you doing today?</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`, 0)
	e, _ := d.Next()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		e.WriteTo(&buf, NSClient)
	}
}
