package wire_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

// expatScript reads a JSON list of base64 documents and writes, for each,
// either {"err": ...} or {"tree": [...]}: the elements inside the stream
// element as [namespace, local, sorted [namespace, local, value] attributes,
// children], with adjacent text merged.
const expatScript = `
import sys, json, base64, xml.parsers.expat as E
HEAD = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
def split(n):
    if '\x01' in n:
        return n.split('\x01', 1)
    return ['', n]
def parse(doc):
    p = E.ParserCreate(namespace_separator='\x01')
    p.buffer_text = True
    root = ['', '', [], []]
    stack = [root]
    def start(name, attrs):
        e = split(name) + [sorted(split(k) + [v] for k, v in attrs.items()), []]
        stack[-1][3].append(e)
        stack.append(e)
    def end(name):
        stack.pop()
    def text(t):
        kids = stack[-1][3]
        if kids and isinstance(kids[-1], str):
            kids[-1] += t
        else:
            kids.append(t)
    p.StartElementHandler, p.EndElementHandler, p.CharacterDataHandler = start, end, text
    try:
        p.Parse(HEAD + doc + b"</stream:stream>", True)
    except E.ExpatError as err:
        return {"err": str(err)}
    return {"tree": [k for k in root[3][0][3] if not isinstance(k, str)]}
json.dump([parse(base64.b64decode(d)) for d in json.load(sys.stdin)], sys.stdout)
`

// expat parses each document (a sequence of elements inside the stream
// header) with Python's expat.
func expat(t *testing.T, py string, docs []string) []map[string]any {
	t.Helper()
	in := make([]string, len(docs))
	for i, d := range docs {
		in[i] = base64.StdEncoding.EncodeToString([]byte(d))
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", expatScript)
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v: %s", err, stderr.String())
	}
	var res []map[string]any
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != len(docs) {
		t.Fatalf("python3 answered %d documents, want %d", len(res), len(docs))
	}
	return res
}

// tree renders elements as the script does, through JSON so that the
// values compare with reflect.DeepEqual.
func tree(t *testing.T, els []*wire.Element) any {
	var conv func(e *wire.Element) []any
	conv = func(e *wire.Element) []any {
		attrs := make([][]string, 0, len(e.Attr))
		for _, a := range e.Attr {
			attrs = append(attrs, []string{a.Space, a.Local, a.Value})
		}
		slices.SortFunc(attrs, func(a, b []string) int { return slices.Compare(a, b) })
		kids := []any{}
		var text strings.Builder
		for _, n := range e.Children {
			if n.El == nil {
				text.WriteString(n.Text)
				continue
			}
			if text.Len() > 0 {
				kids = append(kids, text.String())
				text.Reset()
			}
			kids = append(kids, conv(n.El))
		}
		if text.Len() > 0 {
			kids = append(kids, text.String())
		}
		return []any{e.Space, e.Local, attrs, kids}
	}
	list := []any{}
	for _, e := range els {
		list = append(list, conv(e))
	}
	b, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestExpat checks the decoder and the encoder against expat, the parser
// under many XMPP clients: what a strict parser refuses the decoder
// refuses; what the decoder accepts, expat reads as the same tree, both as
// it came in and as the encoder writes it.
func TestExpat(t *testing.T) {
	py := xmpptest.RequireCommand(t, "python3")
	corpus := wire.Corpus()
	var docs []string
	type accepted struct {
		in  string
		els []*wire.Element
	}
	var acc []accepted
	for _, c := range corpus {
		docs = append(docs, c.In)
		els, err := wire.DecodeAll(c.In)
		if err == nil {
			var out bytes.Buffer
			for _, e := range els {
				e.WriteTo(&out, wire.NSClient)
			}
			acc = append(acc, accepted{c.In, els})
			docs = append(docs, out.String())
		} else if !c.Refuse {
			docs = append(docs, "") // keep the pairs aligned
		}
		if c.Refuse && err == nil {
			t.Errorf("decoder accepts %q", c.In)
		}
	}
	res := expat(t, py, docs)
	i, a := 0, 0
	for _, c := range corpus {
		in := res[i]
		i++
		if c.Refuse {
			if in["err"] == nil {
				t.Errorf("expat accepts %q, which the decoder must refuse: the case is wrong", c.In)
			}
			if _, err := wire.DecodeAll(c.In); err == nil {
				i++
			}
			continue
		}
		out := res[i]
		i++
		if _, err := wire.DecodeAll(c.In); err != nil {
			// Not well-formed to the decoder: expat must agree, or the
			// decoder is stricter than XML.
			if errors.Is(err, wire.ErrNotWellFormed) && in["err"] == nil {
				t.Errorf("decoder refuses %q, which expat accepts", c.In)
			}
			continue
		}
		want := tree(t, acc[a].els)
		a++
		if in["err"] != nil {
			t.Errorf("expat refuses %q (%v), which the decoder accepts", c.In, in["err"])
		} else if !reflect.DeepEqual(in["tree"], want) {
			t.Errorf("expat reads %q as\n%v\nthe decoder as\n%v", c.In, in["tree"], want)
		}
		if out["err"] != nil {
			t.Errorf("expat refuses the encoding of %q (%v)", c.In, out["err"])
		} else if !reflect.DeepEqual(out["tree"], want) {
			t.Errorf("expat reads the encoding of %q as\n%v\nthe decoder as\n%v", c.In, out["tree"], want)
		}
	}
	t.Logf("%d documents, %d accepted by the decoder", len(corpus), len(acc))
}
