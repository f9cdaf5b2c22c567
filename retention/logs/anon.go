package logs

import (
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
)

// Prefix lengths the Anonymizer keeps outside maintenance windows.
const (
	KeepBitsV4 = 24 // a.b.c.0
	KeepBitsV6 = 48 // 2001:db8:1::
)

// Anonymizer shortens IP addresses for logging: IPv4 to its /24, IPv6 to
// its /48, IPv4-mapped IPv6 addresses as IPv4. While a maintenance window is
// open (SetMaintenance) it returns full addresses instead; the window closes
// by itself when its end passes, without any call.
//
// The zero value is not usable; use NewAnonymizer. An Anonymizer is safe
// for concurrent use and cheap: IP costs one small allocation (the result)
// and takes no lock.
type Anonymizer struct {
	now   func() time.Time
	until atomic.Int64 // maintenance window end, Unix nanoseconds; 0 = off
}

// NewAnonymizer returns an Anonymizer with maintenance off.
// now is the clock that decides whether a window is still open
// (nil means time.Now).
func NewAnonymizer(now func() time.Time) *Anonymizer {
	if now == nil {
		now = time.Now
	}
	return &Anonymizer{now: now}
}

// SetMaintenance opens a maintenance window until the given time; the zero
// time (or any time not after now) closes it. Persisting the window across
// restarts is the caller's job (see retention.Maintenance).
func (a *Anonymizer) SetMaintenance(until time.Time) {
	if until.IsZero() {
		a.until.Store(0)
		return
	}
	a.until.Store(until.UnixNano())
}

// Maintenance reports whether a maintenance window is open now, and its end.
// After the window ended, on is false and until is the time it ended.
func (a *Anonymizer) Maintenance() (on bool, until time.Time) {
	u := a.until.Load()
	if u == 0 {
		return false, time.Time{}
	}
	until = time.Unix(0, u).UTC()
	return a.now().Before(until), until
}

// full reports whether addresses are logged in full right now.
func (a *Anonymizer) full() bool {
	u := a.until.Load()
	return u != 0 && a.now().UnixNano() < u
}

// IP returns the address of addr for a log line: anonymised, or in full
// during a maintenance window. TCP, UDP and IP addresses are read directly;
// any other net.Addr goes through IPString(addr.String()).
// It returns "" for nil and for addresses without an IP (unix sockets).
func (a *Anonymizer) IP(addr net.Addr) string {
	var ip net.IP
	switch v := addr.(type) {
	case nil:
		return ""
	case *net.TCPAddr:
		if v == nil {
			return ""
		}
		ip = v.IP
	case *net.UDPAddr:
		if v == nil {
			return ""
		}
		ip = v.IP
	case *net.IPAddr:
		if v == nil {
			return ""
		}
		ip = v.IP
	default:
		return a.IPString(addr.String())
	}
	ap, ok := netip.AddrFromSlice(ip)
	if !ok {
		return ""
	}
	return a.format(ap)
}

// IPString is IP for an address in text: "192.0.2.7", "2001:db8::1",
// "[2001:db8::1]:443" or "192.0.2.7:5222" (as in http.Request.RemoteAddr).
// It returns "" for text that is none of these, so a malformed value is
// never logged as it came.
func (a *Anonymizer) IPString(s string) string {
	// Pick the parser by shape, so the common host:port costs no failed parse.
	var ap netip.Addr
	if i := strings.LastIndexByte(s, ':'); i >= 0 && (strings.HasPrefix(s, "[") || strings.IndexByte(s, ':') == i) {
		pp, err := netip.ParseAddrPort(s)
		if err != nil {
			return ""
		}
		ap = pp.Addr()
	} else {
		var err error
		if ap, err = netip.ParseAddr(s); err != nil {
			return ""
		}
	}
	return a.format(ap)
}

// format anonymises ap unless maintenance is on.
func (a *Anonymizer) format(ap netip.Addr) string {
	// Zones name local interfaces, never a person; drop them for a uniform format.
	ap = ap.Unmap().WithZone("")
	if a.full() {
		return ap.String()
	}
	bits := KeepBitsV6
	if ap.Is4() {
		bits = KeepBitsV4
	}
	// Privacy: only the network part is ever logged outside maintenance.
	p, err := ap.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.Addr().String()
}
