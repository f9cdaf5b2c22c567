package load

import "testing"

func TestParseGoroutineTotal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line string
		want int
		ok   bool
	}{
		{"goroutine profile: total 42\n", 42, true},
		{"goroutine profile: total 7", 7, true},
		{"heap profile: 1: 2 [3: 4] @ heap/1048576\n", 0, false},
		{"goroutine profile: total many\n", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, err := parseGoroutineTotal(tc.line)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseGoroutineTotal(%q) = %d, %v; want %d, ok %v", tc.line, got, err, tc.want, tc.ok)
		}
	}
}

func TestSoakFlat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		res  SoakResult
		want bool
	}{
		{"flat", SoakResult{Margin: 0.1, RSS: SoakLevel{Warm: 100, End: 109}}, true},
		{"rss grew", SoakResult{Margin: 0.1, RSS: SoakLevel{Warm: 100, End: 111}}, false},
		{"goroutines grew", SoakResult{Margin: 0.1, GoroutinesMeasured: true, RSS: SoakLevel{Warm: 100, End: 100},
			Goroutines: SoakLevel{Start: 10, Warm: 1000, End: 1200, After: 10}}, false},
		{"goroutines leaked after close", SoakResult{Margin: 0.1, GoroutinesMeasured: true, RSS: SoakLevel{Warm: 100, End: 100},
			Goroutines: SoakLevel{Start: 10, Warm: 1000, End: 1000, After: 31}}, false},
		{"goroutines back", SoakResult{Margin: 0.1, GoroutinesMeasured: true, RSS: SoakLevel{Warm: 100, End: 100},
			Goroutines: SoakLevel{Start: 10, Warm: 1000, End: 1050, After: 30}}, true},
	}
	for _, tc := range tests {
		if got := tc.res.Flat(); got != tc.want {
			t.Errorf("%s: Flat() = %v, want %v", tc.name, got, tc.want)
		}
	}
}
