package mam

import (
	"context"
	"errors"
	"sync"

	"chatbx/store"
)

// The preferences cache: user → compiled preferences, in shards so that
// sessions of different users rarely share a lock. Entries are filled on
// first use and replaced by every change made through Archive; a shard
// that grows past cacheShardMax is emptied (entries reload on demand), so
// messages to many unknown names cannot grow it without bound.
const (
	cacheShards   = 64
	cacheShardMax = 4096
)

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]*prefs
}

// prefs are compiled preferences; immutable once cached.
type prefs struct {
	mode          string
	always, never map[string]struct{}
	gen           uint64 // store.ArchivePrefs.Gen they were compiled from
}

// maybe reports whether the preferences can archive anything at all.
func (p *prefs) maybe() bool { return p.mode != Never || len(p.always) > 0 }

// off is shared by every user whose archive is off with empty lists, and
// by unknown users.
var off = &prefs{mode: Never}

func (a *Archive) compile(p store.ArchivePrefs, exists bool) *prefs {
	if !exists {
		return off
	}
	mode := p.Default
	if mode == "" {
		mode = a.cfg.Default
	}
	if mode == Never && len(p.Always) == 0 {
		return off
	}
	return &prefs{mode: mode, always: set(p.Always), never: set(p.Never), gen: p.Gen}
}

func set(list []string) map[string]struct{} {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]struct{}, len(list))
	for _, j := range list {
		m[j] = struct{}{}
	}
	return m
}

func (a *Archive) shard(user string) *cacheShard {
	// FNV-1a, inline: no allocation on the message path.
	h := uint32(2166136261)
	for i := 0; i < len(user); i++ {
		h ^= uint32(user[i])
		h *= 16777619
	}
	return &a.shards[h%cacheShards]
}

// prefs returns the compiled preferences of user, loading them on a miss.
// It returns nil if they cannot be loaded (a store fault: archive nothing).
func (a *Archive) prefs(ctx context.Context, user string) *prefs {
	s := a.shard(user)
	s.mu.RLock()
	p := s.m[user]
	s.mu.RUnlock()
	if p != nil {
		return p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.m[user]; p != nil {
		return p
	}
	stored, err := a.db.ArchivePrefs(ctx, user)
	exists := err == nil
	switch {
	case errors.Is(err, store.ErrNotFound):
		if a.cfg.Default != Never {
			// Not cached: an account created later must get the default.
			return off
		}
	case err != nil:
		if !errors.Is(err, context.Canceled) {
			a.cfg.Log.Error().Err(err).Msg("archive prefs load failed")
		}
		return nil
	}
	if len(s.m) >= cacheShardMax {
		clear(s.m)
	}
	p = a.compile(stored, exists)
	s.m[user] = p
	return p
}
