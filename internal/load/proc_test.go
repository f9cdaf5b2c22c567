package load

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Duration
	}{
		{"plain", "42 (chatbx) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 1 2 3", 3250 * time.Millisecond},
		{"name with spaces", "42 (a) (b c) R 1 42 42 0 -1 0 0 0 0 0 1 2 0 0", 30 * time.Millisecond},
		{"short", "42 (x) S 1", 0},
		{"garbage", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseStatCPU(tc.in); got != tc.want {
				t.Errorf("parseStatCPU(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
	if got := parseStatusKiB("Name:\tx\nVmRSS:\t  12345 kB\nVmSwap: 0 kB\n", "VmRSS:"); got != 12345 {
		t.Errorf("parseStatusKiB = %d, want 12345", got)
	}
	if ProcRSS(os.Getpid()) <= 0 || ProcRSS(0) != 0 || ProcCPU(-1) != 0 {
		t.Errorf("ProcRSS/ProcCPU of self or invalid pids")
	}
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {90, 9}, {99, 10}, {100, 10}, {1, 1}} {
		if got := Percentile(d, tc.p); got != tc.want {
			t.Errorf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Errorf("Percentile(nil) != 0")
	}
}
