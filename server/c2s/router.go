package c2s

import (
	"hash/maphash"
	"sync"
)

const shardCount = 64

// Router is the table of bound sessions: bare JID (localpart) → resources.
// It is sharded by localpart so that routing takes no global lock; each
// user's session list is copy-on-write, so readers get it without copying.
// It is safe for concurrent use.
type Router struct {
	seed   maphash.Seed
	shards [shardCount]shard
}

type shard struct {
	mu    sync.RWMutex
	users map[string][]*Session
}

// NewRouter returns an empty table.
func NewRouter() *Router {
	r := &Router{seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].users = map[string][]*Session{}
	}
	return r
}

func (r *Router) shard(user string) *shard {
	return &r.shards[maphash.String(r.seed, user)%shardCount]
}

// Sessions returns the bound sessions of user. The slice must not be
// modified; it stays valid (as a snapshot) after later changes.
func (r *Router) Sessions(user string) []*Session {
	sh := r.shard(user)
	sh.mu.RLock()
	ss := sh.users[user]
	sh.mu.RUnlock()
	return ss
}

// Session returns user's session with the given resource, or nil.
func (r *Router) Session(user, resource string) *Session {
	for _, s := range r.Sessions(user) {
		if s.resource == resource {
			return s
		}
	}
	return nil
}

// Bind adds s under its user and resource. If a session with the same
// resource exists it is returned (the caller closes it with <conflict/>);
// it is replaced in the table by s.
func (r *Router) Bind(s *Session) (old *Session) {
	sh := r.shard(s.user)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cur := sh.users[s.user]
	next := make([]*Session, 0, len(cur)+1)
	for _, c := range cur {
		if c.resource == s.resource {
			old = c
			continue
		}
		next = append(next, c)
	}
	sh.users[s.user] = append(next, s)
	return old
}

// Unbind removes s; it reports whether s was bound.
func (r *Router) Unbind(s *Session) bool {
	sh := r.shard(s.user)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	cur := sh.users[s.user]
	for i, c := range cur {
		if c == s {
			if len(cur) == 1 {
				delete(sh.users, s.user)
				return true
			}
			next := make([]*Session, 0, len(cur)-1)
			next = append(next, cur[:i]...)
			sh.users[s.user] = append(next, cur[i+1:]...)
			return true
		}
	}
	return false
}

// Each calls fn for every bound session, outside the table's locks.
func (r *Router) Each(fn func(*Session)) {
	var all []*Session
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for _, ss := range sh.users {
			all = append(all, ss...)
		}
		sh.mu.RUnlock()
	}
	for _, s := range all {
		fn(s)
	}
}

// Count returns the number of bound sessions.
func (r *Router) Count() int {
	n := 0
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for _, ss := range sh.users {
			n += len(ss)
		}
		sh.mu.RUnlock()
	}
	return n
}
