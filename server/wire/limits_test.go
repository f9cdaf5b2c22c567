package wire

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestLimits(t *testing.T) {
	l := DefaultLimits()
	elems := func(n int) string { return "<message>" + strings.Repeat("<a/>", n-1) + "</message>" }
	attrs := func(n int) string {
		var b strings.Builder
		b.WriteString("<message>")
		for i := 0; i < n; i += 32 {
			b.WriteString("<a")
			for j := i; j < n && j < i+32; j++ {
				fmt.Fprintf(&b, " a%d=''", j)
			}
			b.WriteString("/>")
		}
		b.WriteString("</message>")
		return b.String()
	}
	decls := func(n int) string {
		var b strings.Builder
		b.WriteString("<message>")
		for i := range n {
			fmt.Fprintf(&b, " xmlns:p%d='urn:%d'", i, i)
		}
		return strings.Replace(b.String(), "<message>", "<message", 1) + "/>"
	}
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"elements at limit", elems(l.Elements), true},
		{"elements over limit", elems(l.Elements + 1), false},
		{"attributes at limit", attrs(l.Attrs), true},
		{"attributes over limit", attrs(l.Attrs + 1), false},
		{"declarations at limit", decls(l.NSDecls), true},
		{"declarations over limit", decls(l.NSDecls + 1), false},
		{"declarations in scope at limit", strings.Repeat("<a xmlns:p='urn:x'>", l.NSDecls) +
			strings.Repeat("</a>", l.NSDecls), true},
		{"declarations in scope over limit", strings.Repeat("<a xmlns:p='urn:x'>", l.NSDecls+1) +
			strings.Repeat("</a>", l.NSDecls+1), false},
		{"declarations of siblings", "<iq>" + strings.Repeat("<a xmlns='urn:x' xmlns:p='urn:y'/>", 4*l.NSDecls) + "</iq>", true},
		{"depth at limit", strings.Repeat("<a>", l.Depth-1) + strings.Repeat("</a>", l.Depth-1), true},
		{"depth over limit", strings.Repeat("<a>", l.Depth) + strings.Repeat("</a>", l.Depth), false},
		{"attributes of one element", "<a" + strings.Repeat(" a=''", maxElementAttrs+1) + "/>", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := decoder(t, tc.in+"<presence/>", 1<<20)
			_, err := d.Next()
			if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Next() = %v, want ok=%v or ErrTooLarge", err, tc.ok)
			}
			if tc.ok {
				if e, err := d.Next(); err != nil || e.Local != "presence" {
					t.Fatalf("Next() after = %v, %v", e, err)
				}
			}
		})
	}
	// Zero means no limit; SetLimits applies from the next element.
	d := decoder(t, elems(l.Elements+1)+elems(l.Elements+1), 0)
	d.SetLimits(Limits{})
	if _, err := d.Next(); err != nil {
		t.Fatalf("Next() without limits = %v", err)
	}
	d.SetLimits(l)
	if _, err := d.Next(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Next() with limits = %v, want ErrTooLarge", err)
	}
}

// worstStanzas are 256 KiB stanzas shaped to make the biggest trees.
func worstStanzas() map[string]string {
	const n = 256<<10 - 64
	var b strings.Builder
	for i := range 60 {
		fmt.Fprintf(&b, " %c%c=''", 'a'+i/26, 'a'+i%26)
	}
	wide := "<a" + b.String() + "/>"
	fill := func(unit string) string {
		return "<message>" + strings.Repeat(unit, n/len(unit)) + "</message>"
	}
	return map[string]string{
		"empty children":    fill("<a/>"),
		"children and text": fill("<a/>x"),
		"nested pairs":      fill("<a><a/></a>"),
		"one attribute":     fill("<a a=''/>"),
		"wide elements":     fill(wide),
		// Within every limit: as many elements and attributes as allowed,
		// the rest text.
		"at the limits": "<message>" + strings.Repeat("<a b='' c=''>xy</a>", DefaultLimits().Elements-2) +
			"<a>" + strings.Repeat("x", n-(DefaultLimits().Elements-2)*19-32) + "</a></message>",
	}
}

// TestStanzaMemory shows that no 256 KiB stanza costs more than a bounded
// amount of memory: with only the byte limit (main before the element and
// attribute limits) the worst shape kept a 6.7 MB tree and allocated 17 MB.
func TestStanzaMemory(t *testing.T) {
	const maxTree, maxAlloc = 1 << 20, 2 << 20
	for name, in := range worstStanzas() {
		t.Run(name, func(t *testing.T) {
			d := decoder(t, in, 256<<10)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			e, err := d.Next()
			runtime.GC()
			runtime.ReadMemStats(&after)
			tree := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes: err=%v tree=%d allocated=%d", len(in), err, tree, alloc)
			if err != nil && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Next() = %v", err)
			}
			if tree > maxTree || alloc > maxAlloc {
				t.Errorf("tree %d bytes (max %d), allocated %d (max %d)", tree, maxTree, alloc, maxAlloc)
			}
			runtime.KeepAlive(e)
			runtime.KeepAlive(d)
		})
	}
}

// BenchmarkDecodeWorst decodes the worst stanzas of TestStanzaMemory and
// one that makes every prefix lookup scan the most declarations.
func BenchmarkDecodeWorst(b *testing.B) {
	cases := worstStanzas()
	l := DefaultLimits()
	var s strings.Builder
	s.WriteString("<message")
	for i := range l.NSDecls / 2 {
		fmt.Fprintf(&s, " xmlns:z%d='urn:z%d'", i, i)
	}
	s.WriteString(">")
	for i := range l.Depth - 3 {
		s.WriteString("<a")
		if i < l.NSDecls/2 {
			fmt.Fprintf(&s, " xmlns:p%d='urn:p'", i)
		}
		s.WriteString(">")
	}
	attrs := l.Attrs / (l.Elements - l.Depth)
	for i := range l.Elements - l.Depth {
		s.WriteString("<z0:b")
		for j := range attrs {
			fmt.Fprintf(&s, " z%d:c='%d'", j, i)
		}
		s.WriteString("/>")
	}
	s.WriteString(strings.Repeat("</a>", l.Depth-3) + "</message>")
	cases["namespace lookups"] = s.String()
	if _, err := decoder(b, s.String(), 256<<10).Next(); err != nil {
		b.Fatalf("namespace lookups: %v", err)
	}
	for name, in := range cases {
		b.Run(name, func(b *testing.B) {
			stream := []byte(header + in)
			r := bytes.NewReader(stream)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(stream)
				d := NewDecoder(r, 256<<10)
				if _, err := d.Header(); err != nil {
					b.Fatal(err)
				}
				d.Next()
			}
		})
	}
}
