package logs

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// Leak is a full IP address found in a log file by FindFullIPs.
type Leak struct {
	Path string // file
	Line int    // line number, from 1
	Addr string // the address as found
}

// FindFullIPs scans every regular file in dir for IP addresses that are
// not anonymised (more than /24 of IPv4 or /48 of IPv6), in any field of
// any line: also in error texts such as "read tcp 192.0.2.7:5222->...".
// Tests use it to prove that no full client address reached the logs
// outside maintenance windows; lines written during a window are reported
// too, and the caller filters them by line number or time.
func FindFullIPs(dir string) ([]Leak, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("logs: scan: %w", err)
	}
	var leaks []Leak
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		found, err := scanFile(path)
		if err != nil {
			return leaks, err
		}
		leaks = append(leaks, found...)
	}
	return leaks, nil
}

func scanFile(path string) ([]Leak, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("logs: scan: %w", err)
	}
	defer f.Close()
	var leaks []Leak
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; s.Scan(); n++ {
		for _, a := range FullIPs(s.Bytes()) {
			leaks = append(leaks, Leak{Path: path, Line: n, Addr: a})
		}
	}
	if err := s.Err(); err != nil {
		return leaks, fmt.Errorf("logs: scan %s: %w", filepath.Base(path), err)
	}
	return leaks, nil
}

// FullIPs returns the IP addresses in line that are not anonymised.
// It splits line into runs of the characters addresses are written with
// (hex digits, '.', ':', '[' and ']'; a zone ends the run) and checks each
// run that parses as an address, address:port or [address].
func FullIPs(line []byte) []string {
	var out []string
	for tok := range bytes.FieldsFuncSeq(line, func(r rune) bool { return !isAddrChar(r) }) {
		ap, ok := parseToken(string(tok))
		if !ok {
			// A sentence may end right after an address: "from 192.0.2.7."
			tok = bytes.TrimRight(tok, ".:")
			if ap, ok = parseToken(string(tok)); !ok {
				continue
			}
		}
		ap = ap.Unmap()
		bits := KeepBitsV6
		if ap.Is4() {
			bits = KeepBitsV4
		}
		if p, err := ap.Prefix(bits); err == nil && p.Addr() != ap {
			out = append(out, string(tok))
		}
	}
	return out
}

func isAddrChar(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' ||
		r == '.' || r == ':' || r == '[' || r == ']'
}

// parseToken parses "addr", "addr:port", "[addr]:port" or "[addr]".
func parseToken(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a, true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a, true
		}
	}
	return netip.Addr{}, false
}
