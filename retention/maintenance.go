package retention

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"chatbx/retention/logs"
	"chatbx/store"
)

// MaintenanceKey is the settings key holding the end of the maintenance
// window (RFC 3339, UTC); absent when maintenance is off.
const MaintenanceKey = "maintenance_until"

// ErrWindow reports a maintenance window that is not positive or longer
// than the configured maximum.
var ErrWindow = errors.New("retention: maintenance window out of range")

// Settings reads and writes server-wide settings (store.DB provides it).
// Setting returns an error wrapping store.ErrNotFound for a missing key;
// SetSetting with a nil value deletes the key.
type Settings interface {
	Setting(ctx context.Context, key string) ([]byte, error)
	SetSetting(ctx context.Context, key string, v []byte) error
}

// Maintenance is the maintenance switch: while it is on, connection logs
// carry full IP addresses (the Anonymizer stops anonymising). It switches
// itself off at the end of its window: the Anonymizer by itself at that
// instant, the stored state at the next run of its policy, also across
// restarts. Switching on and off is logged ("maintenance on",
// "maintenance off", with the window end in "until").
// A Maintenance is safe for concurrent use.
type Maintenance struct {
	settings Settings
	anon     *logs.Anonymizer // nil when no server runs (CLI on the database)
	max      time.Duration
	log      zerolog.Logger
	now      func() time.Time

	mu sync.Mutex
}

// NewMaintenance returns the switch storing its window in settings and
// applying it to anon (which may be nil when only the stored state
// matters, as for the CLI without a running server). Windows are at most
// max long (0 means the default 24 h). now nil means time.Now.
func NewMaintenance(settings Settings, anon *logs.Anonymizer, max time.Duration, log zerolog.Logger, now func() time.Time) *Maintenance {
	if max <= 0 {
		max = DefaultConfig().MaintenanceMax
	}
	if now == nil {
		now = time.Now
	}
	return &Maintenance{
		settings: settings,
		anon:     anon,
		max:      max,
		log:      log.With().Str("component", "maintenance").Logger(),
		now:      now,
	}
}

// On opens a maintenance window of length d from now, replacing any open
// window, and returns its end. It fails with ErrWindow when d is not
// positive or longer than the maximum, and with the store's error when
// the window cannot be stored (the Anonymizer is then left unchanged).
func (m *Maintenance) On(ctx context.Context, d time.Duration) (time.Time, error) {
	if d <= 0 || d > m.max {
		return time.Time{}, fmt.Errorf("%w: %v, want more than 0 and at most %v", ErrWindow, d, m.max)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	until := m.now().Add(d).UTC()
	if err := m.settings.SetSetting(ctx, MaintenanceKey, []byte(until.Format(time.RFC3339Nano))); err != nil {
		return time.Time{}, fmt.Errorf("retention: maintenance on: %w", err)
	}
	if m.anon != nil {
		m.anon.SetMaintenance(until)
	}
	m.log.Info().Time("until", until).Msg("maintenance on")
	return until, nil
}

// Off closes the maintenance window now. Switching off when already off
// does nothing and logs nothing.
func (m *Maintenance) Off(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Privacy: anonymise first; a failure to store must not keep full IPs.
	if m.anon != nil {
		m.anon.SetMaintenance(time.Time{})
	}
	until, err := m.stored(ctx)
	if err != nil {
		return fmt.Errorf("retention: maintenance off: %w", err)
	}
	if until.IsZero() {
		return nil
	}
	if err := m.settings.SetSetting(ctx, MaintenanceKey, nil); err != nil {
		return fmt.Errorf("retention: maintenance off: %w", err)
	}
	end := until
	if now := m.now(); now.Before(end) {
		end = now.UTC()
	}
	m.log.Info().Time("until", end).Msg("maintenance off")
	return nil
}

// Status reports whether a window is open now and when it ends, from the
// stored state (so it also answers without a running server).
func (m *Maintenance) Status(ctx context.Context) (on bool, until time.Time, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	until, err = m.stored(ctx)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("retention: maintenance status: %w", err)
	}
	if until.IsZero() || !m.now().Before(until) {
		return false, time.Time{}, nil
	}
	return true, until, nil
}

// Load applies the stored window to the Anonymizer, or clears it when it
// ended while the server was down. Call it before the server accepts
// connections, so a window survives a restart; the policy's first run
// does the same.
func (m *Maintenance) Load(ctx context.Context) error {
	_, err := m.expire(ctx, m.now())
	return err
}

// Policy returns the policy that ends expired windows: it clears the
// stored window, makes sure the Anonymizer is off and logs
// "maintenance off". It runs every minute at most, so the stored state
// and the log line follow the window's end within a minute; the
// Anonymizer itself stops at the end exactly.
func (m *Maintenance) Policy() Policy {
	return Policy{
		Name:   "maintenance",
		Period: m.max,
		Tick:   min(TickFor(m.max), time.Minute),
		Run:    m.expire,
	}
}

// expire applies the stored window at now: an open one to the Anonymizer,
// an ended one is cleared. It returns 1 when it ended a window.
func (m *Maintenance) expire(ctx context.Context, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	until, err := m.stored(ctx)
	if errors.Is(err, errCorrupt) {
		// Privacy: an unreadable window is no window.
		if m.anon != nil {
			m.anon.SetMaintenance(time.Time{})
		}
		m.log.Error().Err(err).Msg("maintenance off")
		if err := m.settings.SetSetting(ctx, MaintenanceKey, nil); err != nil {
			return 0, fmt.Errorf("retention: maintenance expire: %w", err)
		}
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("retention: maintenance expire: %w", err)
	}
	if until.IsZero() {
		if m.anon != nil {
			m.anon.SetMaintenance(time.Time{})
		}
		return 0, nil
	}
	if now.Before(until) {
		if m.anon != nil {
			m.anon.SetMaintenance(until)
		}
		return 0, nil
	}
	if m.anon != nil {
		m.anon.SetMaintenance(time.Time{})
	}
	if err := m.settings.SetSetting(ctx, MaintenanceKey, nil); err != nil {
		return 0, fmt.Errorf("retention: maintenance expire: %w", err)
	}
	m.log.Info().Time("until", until).Msg("maintenance off")
	return 1, nil
}

var errCorrupt = errors.New("unreadable maintenance window")

// stored returns the stored window end, the zero time when none is stored.
// The caller holds m.mu.
func (m *Maintenance) stored(ctx context.Context) (time.Time, error) {
	v, err := m.settings.Setting(ctx, MaintenanceKey)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	if len(v) == 0 {
		return time.Time{}, nil
	}
	until, err := time.Parse(time.RFC3339Nano, string(v))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return until.UTC(), nil
}
