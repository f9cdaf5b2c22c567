package retention_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"chatbx/store"
)

// clock is a settable test clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// settings is an in-memory retention.Settings with store's semantics.
type settings struct {
	mu   sync.Mutex
	m    map[string][]byte
	fail error // returned by SetSetting when set
}

func newSettings() *settings { return &settings{m: map[string][]byte{}} }

func (s *settings) Setting(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok {
		return nil, fmt.Errorf("store: setting: %w", store.ErrNotFound)
	}
	return bytes.Clone(v), nil
}

func (s *settings) SetSetting(_ context.Context, key string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if v == nil {
		delete(s.m, key)
		return nil
	}
	s.m[key] = bytes.Clone(v)
	return nil
}

// offline is an in-memory offline queue with store.DB's ExpireOffline.
type offline struct {
	mu    sync.Mutex
	msgs  map[string][]store.OfflineMessage
	inTx  bool
	calls []time.Time // before arguments
}

func (o *offline) ExpireOffline(_ context.Context, before time.Time, fn func(user string, m store.OfflineMessage)) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, before)
	o.inTx = true
	defer func() { o.inTx = false }()
	n := 0
	for user, msgs := range o.msgs {
		kept := msgs[:0]
		for _, m := range msgs {
			if m.At.Before(before) {
				if fn != nil {
					fn(user, m)
				}
				n++
				continue
			}
			kept = append(kept, m)
		}
		o.msgs[user] = kept
	}
	return n, nil
}

// busy reports whether ExpireOffline's transaction is open.
func (o *offline) busy() bool {
	if o.mu.TryLock() {
		o.mu.Unlock()
		return false
	}
	return true
}
