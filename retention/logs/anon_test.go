package logs_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"chatbx/retention/logs"
)

func TestAnonymizer(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	off := time.Time{}
	open := now.Add(time.Hour)
	tests := []struct {
		name  string
		in    string
		until time.Time // maintenance window end; zero = never switched on
		want  string
	}{
		{"ipv4", "192.0.2.77", off, "192.0.2.0"},
		{"ipv4 with port", "192.0.2.77:5222", off, "192.0.2.0"},
		{"ipv4 network address", "192.0.2.0", off, "192.0.2.0"},
		{"ipv6", "2001:db8:1:2:3:4:5:6", off, "2001:db8:1::"},
		{"ipv6 short", "2001:db8::1", off, "2001:db8::"},
		{"ipv6 bracketed with port", "[2001:db8:abcd:12::1]:443", off, "2001:db8:abcd::"},
		{"ipv6 zone", "fe80::1%eth0", off, "fe80::"},
		{"ipv4-mapped", "::ffff:198.51.100.9", off, "198.51.100.0"},
		{"ipv4-mapped with port", "[::ffff:198.51.100.9]:5222", off, "198.51.100.0"},
		{"loopback", "127.0.0.1", off, "127.0.0.0"},
		{"garbage", "alice@example.org", off, ""},
		{"host name", "example.org:443", off, ""},
		{"empty", "", off, ""},
		{"maintenance ipv4", "192.0.2.77", open, "192.0.2.77"},
		{"maintenance ipv4 with port", "192.0.2.77:5222", open, "192.0.2.77"},
		{"maintenance ipv6", "2001:db8:1:2:3:4:5:6", open, "2001:db8:1:2:3:4:5:6"},
		{"maintenance mapped", "::ffff:198.51.100.9", open, "198.51.100.9"},
		{"maintenance zone", "fe80::1%eth0", open, "fe80::1"},
		{"maintenance garbage", "alice@example.org", open, ""},
		{"maintenance ends now", "192.0.2.77", now, "192.0.2.0"},
		{"maintenance just before end", "192.0.2.77", now.Add(time.Nanosecond), "192.0.2.77"},
		{"maintenance expired", "192.0.2.77", now.Add(-time.Minute), "192.0.2.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := logs.NewAnonymizer(func() time.Time { return now })
			a.SetMaintenance(tc.until)
			if got := a.IPString(tc.in); got != tc.want {
				t.Errorf("IPString(%q) with window until %v = %q, want %q", tc.in, tc.until, got, tc.want)
			}
			// The same through IP for every net.Addr kind.
			ap, err := netip.ParseAddrPort(tc.in)
			if err != nil {
				a2, err := netip.ParseAddr(tc.in)
				if err != nil {
					return
				}
				ap = netip.AddrPortFrom(a2, 5222)
			}
			addrs := []net.Addr{
				net.TCPAddrFromAddrPort(ap),
				net.UDPAddrFromAddrPort(ap),
				&net.IPAddr{IP: ap.Addr().AsSlice(), Zone: ap.Addr().Zone()},
				otherAddr(ap.String()),
			}
			for _, addr := range addrs {
				if got := a.IP(addr); got != tc.want {
					t.Errorf("IP(%T %v) with window until %v = %q, want %q", addr, addr, tc.until, got, tc.want)
				}
			}
		})
	}
}

// otherAddr is a net.Addr of a type IP does not know.
type otherAddr string

func (a otherAddr) Network() string { return "other" }
func (a otherAddr) String() string  { return string(a) }

func TestAnonymizerNoIP(t *testing.T) {
	t.Parallel()
	a := logs.NewAnonymizer(nil)
	for _, addr := range []net.Addr{
		nil,
		(*net.TCPAddr)(nil),
		&net.TCPAddr{},
		&net.UnixAddr{Name: "/data/admin.sock", Net: "unix"},
	} {
		if got := a.IP(addr); got != "" {
			t.Errorf("IP(%#v) = %q, want empty", addr, got)
		}
	}
}

func TestAnonymizerMaintenance(t *testing.T) {
	t.Parallel()
	c := newClock(time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC))
	a := logs.NewAnonymizer(c.Now)
	addr := &net.TCPAddr{IP: net.ParseIP("192.0.2.77"), Port: 5222}

	if on, until := a.Maintenance(); on || !until.IsZero() {
		t.Errorf("new Anonymizer: Maintenance() = %v, %v; want off", on, until)
	}
	end := c.Now().Add(2 * time.Hour)
	a.SetMaintenance(end)
	if on, until := a.Maintenance(); !on || !until.Equal(end) {
		t.Errorf("after SetMaintenance(%v): Maintenance() = %v, %v; want on", end, on, until)
	}
	if got := a.IP(addr); got != "192.0.2.77" {
		t.Errorf("IP during window = %q, want full address", got)
	}

	// The window ends by itself, without any call.
	c.Set(end)
	if on, until := a.Maintenance(); on || !until.Equal(end) {
		t.Errorf("at window end: Maintenance() = %v, %v; want off, %v", on, until, end)
	}
	if got := a.IP(addr); got != "192.0.2.0" {
		t.Errorf("IP after window = %q, want anonymised", got)
	}

	c.Set(end.Add(-time.Hour))
	a.SetMaintenance(time.Time{})
	if on, _ := a.Maintenance(); on {
		t.Error("SetMaintenance(zero time) left maintenance on")
	}
	if got := a.IP(addr); got != "192.0.2.0" {
		t.Errorf("IP after switching off = %q, want anonymised", got)
	}
}

// FuzzIPString checks that IPString never panics and, outside maintenance,
// returns only the network part of an address: never more bits than /24 or /48.
func FuzzIPString(f *testing.F) {
	for _, s := range []string{
		"192.0.2.77", "192.0.2.77:5222", "2001:db8:1:2:3:4:5:6", "[2001:db8::1]:443",
		"::ffff:198.51.100.9", "fe80::1%eth0", "[fe80::1%25eth0]:1", "", "x", "1.2.3.4.5",
	} {
		f.Add(s)
	}
	a := logs.NewAnonymizer(nil)
	f.Fuzz(func(t *testing.T, s string) {
		got := a.IPString(s)
		if got == "" {
			return
		}
		ip, err := netip.ParseAddr(got)
		if err != nil {
			t.Fatalf("IPString(%q) = %q: not an address", s, got)
		}
		if ip.Zone() != "" || ip.Is4In6() {
			t.Fatalf("IPString(%q) = %q: zone or mapped form", s, got)
		}
		bits := logs.KeepBitsV6
		if ip.Is4() {
			bits = logs.KeepBitsV4
		}
		if p, _ := ip.Prefix(bits); p.Addr() != ip {
			t.Fatalf("IPString(%q) = %q: more than the first %d bits", s, got, bits)
		}
		if strings.Contains(got, "%") {
			t.Fatalf("IPString(%q) = %q: zone leaked", s, got)
		}
	})
}

func BenchmarkAnonymizerIP(b *testing.B) {
	a := logs.NewAnonymizer(nil)
	v4 := &net.TCPAddr{IP: net.ParseIP("192.0.2.77"), Port: 5222}
	v6 := &net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 5222}
	b.Run("ipv4", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = a.IP(v4)
		}
	})
	b.Run("ipv6", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = a.IP(v6)
		}
	})
	b.Run("maintenance", func(b *testing.B) {
		m := logs.NewAnonymizer(nil)
		m.SetMaintenance(time.Now().Add(time.Hour))
		b.ReportAllocs()
		for b.Loop() {
			_ = m.IP(v4)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = a.IP(v4)
			}
		})
	})
}

func BenchmarkAnonymizerIPString(b *testing.B) {
	a := logs.NewAnonymizer(nil)
	b.ReportAllocs()
	for b.Loop() {
		_ = a.IPString("192.0.2.77:5222")
	}
}
