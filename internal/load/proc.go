package load

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat;
// it is 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcCPU returns the CPU time (user + system) that process pid has used,
// from /proc/PID/stat, with 10 ms resolution. It returns 0 for pid <= 0
// or when the file cannot be read.
func ProcCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/PID/stat line. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseStatCPU(s string) time.Duration {
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0
	}
	f := strings.Fields(s[i+2:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * time.Second / clockTicks
}

// ProcRSS returns the resident set size of process pid in KiB (VmRSS in
// /proc/PID/status), or 0 when it cannot be read.
func ProcRSS(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	return parseStatusKiB(string(b), "VmRSS:")
}

func parseStatusKiB(s, key string) int64 {
	for _, l := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(l, key); ok {
			f := strings.Fields(v)
			if len(f) == 0 {
				return 0
			}
			n, _ := strconv.ParseInt(f[0], 10, 64)
			return n
		}
	}
	return 0
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy returns the busy CPU time of the whole machine (/proc/stat).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 {
		return 0
	}
	var busy int64
	for i, x := range f[1:9] { // user nice system idle iowait irq softirq steal
		if i == 3 || i == 4 {
			continue
		}
		v, _ := strconv.ParseInt(x, 10, 64)
		busy += v
	}
	return time.Duration(busy) * time.Second / clockTicks
}

// meter measures server CPU (from /proc), the generator's own CPU and
// the rest of the machine's CPU (noise) over an interval.
type meter struct {
	pid              int
	srv0, cli0, all0 time.Duration
	t0               time.Time
	// Set by stop.
	elapsed, srv, cli, other time.Duration
}

func startMeter(pid int) *meter {
	return &meter{pid: pid, srv0: ProcCPU(pid), cli0: selfCPU(), all0: machineBusy(), t0: time.Now()}
}

func (m *meter) stop() {
	m.elapsed = time.Since(m.t0)
	m.srv = ProcCPU(m.pid) - m.srv0
	m.cli = selfCPU() - m.cli0
	m.other = max(machineBusy()-m.all0-m.srv-m.cli, 0)
}

// Percentile returns the p-th percentile (0 < p <= 100, nearest rank) of
// d, sorting d in place; 0 for an empty slice.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	if !slices.IsSorted(d) {
		slices.Sort(d)
	}
	i := int(p/100*float64(len(d))+0.5) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// per returns d divided by n in microseconds, or NaN for n == 0.
func per(d time.Duration, n int) string {
	if n == 0 {
		return "NaN"
	}
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Microsecond)/float64(n))
}
