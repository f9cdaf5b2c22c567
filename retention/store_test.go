package retention_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/retention"
	"chatbx/retention/logs"
	"chatbx/store/storetest"
)

// TestMaintenanceStore runs the switch on the real store: the window
// survives a restart and Off deletes the stored setting.
func TestMaintenanceStore(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	c := newClock(time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC))
	m := retention.NewMaintenance(db, logs.NewAnonymizer(c.Now), 0, zerolog.Nop(), c.Now)
	if on, _, err := m.Status(t.Context()); on || err != nil {
		t.Fatalf("Status() on an empty store = %v, %v; want off, nil", on, err)
	}
	until, err := m.On(t.Context(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	anon := logs.NewAnonymizer(c.Now)
	restarted := retention.NewMaintenance(db, anon, 0, zerolog.Nop(), c.Now)
	if err := restarted.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if on, u := anon.Maintenance(); !on || !u.Equal(until) {
		t.Errorf("after restart Maintenance() = %v, %v; want on until %v", on, u, until)
	}
	if err := restarted.Off(t.Context()); err != nil {
		t.Fatal(err)
	}
	if on, _, err := m.Status(t.Context()); on || err != nil {
		t.Errorf("Status() after Off = %v, %v; want off, nil", on, err)
	}
}

// scrubSignal wraps a Scrubber and reports each finished scrub.
type scrubSignal struct {
	retention.Scrubber
	done chan struct{}
}

func (s scrubSignal) Scrub(ctx context.Context) error {
	err := s.Scrubber.Scrub(ctx)
	s.done <- struct{}{}
	return err
}

// TestRunnerOfflineStore runs the Runner on the real store with a clock
// past the offline period: the expired message is bounced, deleted, and
// after the scrub that follows no byte of it is left in the database file.
func TestRunnerOfflineStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chatbx.db")
	db := storetest.OpenPath(t, path)
	user := storetest.User(t, db, "alice")
	t0 := time.Date(2026, 11, 27, 16, 0, 0, 0, time.UTC)
	const marker = "EXPIRED-OFFLINE-MARKER-3e7d"
	if _, err := db.PushOffline(t.Context(), user, t0, []byte("<message><body>"+marker+"</body></message>"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PushOffline(t.Context(), user, t0.Add(time.Hour), []byte("<message><body>kept</body></message>"), 0); err != nil {
		t.Fatal(err)
	}

	cfg := retention.DefaultConfig()
	cfg.Offline = time.Hour
	bounced := make(chan string, 2)
	scrubs := make(chan struct{}, 8)
	r := retention.New(cfg, retention.Deps{
		Log:              zerolog.Nop(),
		Now:              func() time.Time { return t0.Add(time.Hour + time.Nanosecond) },
		Offline:          db,
		OnOfflineExpired: func(u string, stanza []byte) { bounced <- u + " " + string(stanza) },
		Scrub:            scrubSignal{db, scrubs},
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
	}()

	select {
	case got := <-bounced:
		if want := "alice <message><body>" + marker + "</body></message>"; got != want {
			t.Errorf("bounced %q, want %q", got, want)
		}
	case <-t.Context().Done():
		t.Fatal("no bounce")
	}
	// The scrub requested after the deletion follows; an earlier one (at
	// start) may finish first.
	for {
		select {
		case <-scrubs:
		case <-t.Context().Done():
			t.Fatalf("marker %q still in the database file", marker)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(marker)) {
			break
		}
	}
	msgs, err := db.Offline(t.Context(), user)
	if err != nil || len(msgs) != 1 || !bytes.Contains(msgs[0].Stanza, []byte("kept")) {
		t.Errorf("Offline(alice) = %d messages, %v; want the newer one kept", len(msgs), err)
	}
}
