package c2s

import "testing"

// FuzzAddr checks that the fast path agrees with mellium's full parser.
func FuzzAddr(f *testing.F) {
	for _, s := range []string{"alice@example.org", "alice@example.org/phone", "example.org", "Alice@Example.org",
		"a@b/c d", "a..b@c", "ü@example.org", "a@b.", "@b", "a@", "a@b/", "a@-b", "a@b..c", "a/b@c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, ok := fastAddr(s)
		if !ok {
			return
		}
		j, err := parseFull(s)
		if err != nil {
			t.Fatalf("fastAddr(%q) = %+v, but full parse fails: %v", s, fast, err)
		}
		if j != fast {
			t.Fatalf("fastAddr(%q) = %+v, full parse = %+v", s, fast, j)
		}
	})
}

func BenchmarkParseAddr(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		parseAddr("bob@example.org/phone")
	}
}
