package retention_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/retention"
	"chatbx/retention/logs"
)

// lockedBuffer collects log lines from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// events returns the message and until field of each logged line.
func (l *lockedBuffer) events(t *testing.T) []string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.b.String()) {
		var v struct {
			Message string `json:"message"`
			Until   string `json:"until"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, v.Message+" "+v.Until)
	}
	return out
}

var client = &net.TCPAddr{IP: net.ParseIP("192.0.2.77"), Port: 40000}

func TestMaintenance(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	c := newClock(t0)
	st := newSettings()
	anon := logs.NewAnonymizer(c.Now)
	var buf lockedBuffer
	m := retention.NewMaintenance(st, anon, 24*time.Hour, zerolog.New(&buf), c.Now)
	ctx := t.Context()

	if on, until, err := m.Status(ctx); on || !until.IsZero() || err != nil {
		t.Fatalf("Status() initially = %v, %v, %v; want off", on, until, err)
	}
	if err := m.Off(ctx); err != nil {
		t.Fatalf("Off() while off = %v", err)
	}

	for _, d := range []time.Duration{0, -time.Hour, 24*time.Hour + time.Nanosecond} {
		if _, err := m.On(ctx, d); !errors.Is(err, retention.ErrWindow) {
			t.Errorf("On(%v) = %v, want ErrWindow", d, err)
		}
	}
	if got := anon.IP(client); got != "192.0.2.0" {
		t.Errorf("IP after refused On = %q, want anonymised", got)
	}

	until, err := m.On(ctx, 2*time.Hour)
	if err != nil || !until.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("On(2h) = %v, %v; want %v", until, err, t0.Add(2*time.Hour))
	}
	if got := anon.IP(client); got != "192.0.2.77" {
		t.Errorf("IP during maintenance = %q, want full address", got)
	}
	if on, u, err := m.Status(ctx); !on || !u.Equal(until) || err != nil {
		t.Errorf("Status() during window = %v, %v, %v; want on, %v", on, u, err, until)
	}

	if err := m.Off(ctx); err != nil {
		t.Fatal(err)
	}
	if got := anon.IP(client); got != "192.0.2.0" {
		t.Errorf("IP after Off = %q, want anonymised", got)
	}
	if on, _, _ := m.Status(ctx); on {
		t.Error("Status() after Off = on")
	}
	if _, err := st.Setting(ctx, retention.MaintenanceKey); err == nil {
		t.Error("setting still stored after Off")
	}

	if _, err := m.On(ctx, 24*time.Hour); err != nil {
		t.Errorf("On(max) = %v", err)
	}
	want := []string{
		"maintenance on 2026-11-27T18:00:00Z",
		"maintenance off 2026-11-27T16:00:00Z",
		"maintenance on 2026-11-28T16:00:00Z",
	}
	if got := buf.events(t); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged %q, want %q", got, want)
	}
}

// TestMaintenanceExpiry runs the policy just before and just after the
// window's end.
func TestMaintenanceExpiry(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	end := t0.Add(time.Hour)
	tests := []struct {
		name     string
		now      time.Time
		wantOn   bool
		wantN    int
		wantIP   string
		wantLogs int // lines after the "maintenance on" line
	}{
		{"just before", end.Add(-time.Nanosecond), true, 0, "192.0.2.77", 0},
		{"at end", end, false, 1, "192.0.2.0", 1},
		{"long after", end.Add(48 * time.Hour), false, 1, "192.0.2.0", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newClock(t0)
			st := newSettings()
			anon := logs.NewAnonymizer(c.Now)
			var buf lockedBuffer
			m := retention.NewMaintenance(st, anon, 24*time.Hour, zerolog.New(&buf), c.Now)
			if _, err := m.On(t.Context(), time.Hour); err != nil {
				t.Fatal(err)
			}
			c.Set(tc.now)
			// The Anonymizer follows the window without any run.
			if got := anon.IP(client); got != tc.wantIP {
				t.Errorf("IP at %v before the policy ran = %q, want %q", tc.now, got, tc.wantIP)
			}
			p := m.Policy()
			if p.Name != "maintenance" || p.Tick > time.Minute {
				t.Errorf("Policy() = %q tick %v", p.Name, p.Tick)
			}
			n, err := p.Run(t.Context(), tc.now)
			if err != nil || n != tc.wantN {
				t.Errorf("Run(%v) = %d, %v; want %d, nil", tc.now, n, err, tc.wantN)
			}
			if on, _, _ := m.Status(t.Context()); on != tc.wantOn {
				t.Errorf("Status() after Run(%v) = %v, want %v", tc.now, on, tc.wantOn)
			}
			if got := anon.IP(client); got != tc.wantIP {
				t.Errorf("IP after Run(%v) = %q, want %q", tc.now, got, tc.wantIP)
			}
			_, stored := st.Setting(t.Context(), retention.MaintenanceKey)
			if (stored == nil) != tc.wantOn {
				t.Errorf("setting stored = %v, want %v", stored == nil, tc.wantOn)
			}
			got := buf.events(t)[1:]
			if len(got) != tc.wantLogs || (tc.wantLogs == 1 && got[0] != "maintenance off 2026-11-27T17:00:00Z") {
				t.Errorf("logged %q after on, want %d maintenance off line(s) with until = end", got, tc.wantLogs)
			}
			// A second run changes nothing.
			if n, err := p.Run(t.Context(), tc.now); n != 0 || err != nil {
				t.Errorf("second Run = %d, %v; want 0, nil", n, err)
			}
		})
	}
}

// TestMaintenanceRestart checks that a window survives a restart (a new
// Maintenance and Anonymizer over the same settings) and that a window
// that ended while the server was down is cleared on start.
func TestMaintenanceRestart(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	c := newClock(t0)
	st := newSettings()
	first := retention.NewMaintenance(st, logs.NewAnonymizer(c.Now), 0, zerolog.Nop(), c.Now)
	until, err := first.On(t.Context(), 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// Restart within the window.
	c.Set(t0.Add(time.Hour))
	anon := logs.NewAnonymizer(c.Now)
	var buf lockedBuffer
	second := retention.NewMaintenance(st, anon, 0, zerolog.New(&buf), c.Now)
	if got := anon.IP(client); got != "192.0.2.0" {
		t.Errorf("IP before Load = %q, want anonymised", got)
	}
	if err := second.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if on, u := anon.Maintenance(); !on || !u.Equal(until) {
		t.Errorf("after restart Maintenance() = %v, %v; want on until %v", on, u, until)
	}
	if got := anon.IP(client); got != "192.0.2.77" {
		t.Errorf("IP after restart = %q, want full address", got)
	}

	// Restart after the window ended while down.
	c.Set(t0.Add(3 * time.Hour))
	anon = logs.NewAnonymizer(c.Now)
	third := retention.NewMaintenance(st, anon, 0, zerolog.New(&buf), c.Now)
	if err := third.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if on, _ := anon.Maintenance(); on {
		t.Error("window that ended while down is on after restart")
	}
	if _, err := st.Setting(t.Context(), retention.MaintenanceKey); err == nil {
		t.Error("ended window still stored after restart")
	}
	if got := buf.events(t); len(got) != 1 || got[0] != "maintenance off 2026-11-27T18:00:00Z" {
		t.Errorf("logged %q, want one maintenance off with the window end", got)
	}
}

func TestMaintenanceCorrupt(t *testing.T) {
	t.Parallel()
	c := newClock(time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC))
	st := newSettings()
	if err := st.SetSetting(t.Context(), retention.MaintenanceKey, []byte("tomorrow")); err != nil {
		t.Fatal(err)
	}
	anon := logs.NewAnonymizer(c.Now)
	anon.SetMaintenance(c.Now().Add(time.Hour))
	m := retention.NewMaintenance(st, anon, 0, zerolog.Nop(), c.Now)
	if err := m.Load(t.Context()); err != nil {
		t.Fatalf("Load with an unreadable window = %v", err)
	}
	if on, _ := anon.Maintenance(); on {
		t.Error("unreadable window left maintenance on")
	}
	if on, _, err := m.Status(t.Context()); on || err != nil {
		t.Errorf("Status() = %v, %v; want off, nil", on, err)
	}
}

func TestMaintenanceStoreFailure(t *testing.T) {
	t.Parallel()
	c := newClock(time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC))
	st := newSettings()
	anon := logs.NewAnonymizer(c.Now)
	m := retention.NewMaintenance(st, anon, 0, zerolog.Nop(), c.Now)
	if _, err := m.On(t.Context(), time.Hour); err != nil {
		t.Fatal(err)
	}
	st.fail = errors.New("disk full")
	if _, err := m.On(t.Context(), 2*time.Hour); err == nil {
		t.Error("On with a failing store = nil error")
	}
	if err := m.Off(t.Context()); err == nil {
		t.Error("Off with a failing store = nil error")
	}
	// Privacy: Off anonymises even when the store fails.
	if got := anon.IP(client); got != "192.0.2.0" {
		t.Errorf("IP after failed Off = %q, want anonymised", got)
	}
}

// TestMaintenanceWithoutAnonymizer is the CLI's case: no server runs, the
// switch only changes the stored window.
func TestMaintenanceWithoutAnonymizer(t *testing.T) {
	t.Parallel()
	c := newClock(time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC))
	st := newSettings()
	m := retention.NewMaintenance(st, nil, 0, zerolog.Nop(), c.Now)
	if _, err := m.On(t.Context(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if on, _, err := m.Status(t.Context()); !on || err != nil {
		t.Errorf("Status() = %v, %v; want on", on, err)
	}
	if err := m.Off(t.Context()); err != nil {
		t.Fatal(err)
	}
	if on, _, _ := m.Status(t.Context()); on {
		t.Error("Status() after Off = on")
	}
}
