package pep

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"slices"
	"strings"
	"sync"
	"time"

	"chatbx/server/wire"
)

const (
	nsCaps     = "http://jabber.org/protocol/caps"
	nsDiscoInf = "http://jabber.org/protocol/disco#info"
)

// capsCache maps verified XEP-0115 hashes to the +notify features behind
// them. Unknown hashes are asked of a client with disco#info, at most
// Config.CapsQueries at a time and one per hash; answers are cached only
// when they hash to the advertised ver (XEP-0115 §5.4), so a client cannot
// poison the cache for others. In memory only, bounded by Config.CapsCache
// entries, oldest evicted first, except that the hashes of connected
// sessions are pinned (reference-counted per session): a client presenting
// many distinct hashes evicts only unused ones, and never another
// session's. Pins of sessions that ended are dropped by sweep.
type capsCache struct {
	mu      sync.Mutex
	known   map[string][]string // hash NUL ver → sorted +notify features
	order   []string            // insertion order, for eviction
	pending map[string]*capsQuery
	max     int
	queries int
	timeout time.Duration
	// forget drops the answer callback of a query that timed out.
	forget func(id string)

	// sessions maps a session's full JID to the caps it pinned; refs
	// counts the pins of each key.
	sessions map[string]*capsPin
	refs     map[string]int
	// pinsSinceSweep counts pins since the last sweep, so that sweeps
	// (which cost one look-up per pinned session) are amortized.
	pinsSinceSweep int
	now            func() time.Time
}

type capsPin struct {
	user, key string
	// retry is when the session may be queried again after a failed
	// query (a client that does not answer, or answers wrongly, is not
	// asked again for every notification).
	retry time.Time
}

type capsQuery struct {
	id      string
	waiters []func(features []string, ok bool)
}

func capsKey(hashName, ver string) string { return hashName + "\x00" + ver }

func newCapsCache(max, queries int, timeout time.Duration) *capsCache {
	return &capsCache{known: map[string][]string{}, pending: map[string]*capsQuery{}, max: max, queries: queries, timeout: timeout,
		sessions: map[string]*capsPin{}, refs: map[string]int{}, now: time.Now}
}

// lookup returns the cached +notify features of a caps hash.
func (c *capsCache) lookup(hashName, ver string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.known[capsKey(hashName, ver)]
	return f, ok
}

func (c *capsCache) store(key string, features []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.known[key]; ok {
		return
	}
	c.known[key] = features
	c.order = append(c.order, key)
	c.trim()
}

// trim evicts the oldest unpinned entries while the cache holds more than
// max; pinned ones stay (there are at most as many as connected sessions
// with caps). Called with mu held.
func (c *capsCache) trim() {
	for n := len(c.order); len(c.known) > c.max && n > 0; n-- {
		key := c.order[0]
		c.order = c.order[1:]
		if c.refs[key] > 0 {
			c.order = append(c.order, key) // in use: keep, look further
			continue
		}
		delete(c.known, key)
	}
	if cap(c.order) > 4*len(c.order)+64 {
		c.order = slices.Clone(c.order)
	}
}

// pin records that session full (of user) uses the caps hashName/ver,
// releasing the caps it used before. It reports whether a sweep of ended
// sessions is due.
func (c *capsCache) pin(user, full, hashName, ver string) (sweep bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := capsKey(hashName, ver)
	if p := c.sessions[full]; p != nil {
		if p.key == key && p.user == user {
			return false
		}
		c.release(p.key)
	}
	c.sessions[full] = &capsPin{user: user, key: key}
	c.refs[key]++
	c.pinsSinceSweep++
	if c.pinsSinceSweep > len(c.sessions)/2+32 {
		c.pinsSinceSweep = 0
		return true
	}
	return false
}

// unpin releases the caps of session full.
func (c *capsCache) unpin(full string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.sessions[full]; p != nil {
		delete(c.sessions, full)
		c.release(p.key)
	}
}

// release drops one pin of key. Called with mu held.
func (c *capsCache) release(key string) {
	if c.refs[key]--; c.refs[key] <= 0 {
		delete(c.refs, key)
		c.trim()
	}
}

// sweep unpins the sessions that alive reports gone or no longer using
// the caps they pinned. alive is called without the lock held.
func (c *capsCache) sweep(alive func(user, full, hashName, ver string) bool) {
	type rec struct{ user, full, key string }
	c.mu.Lock()
	recs := make([]rec, 0, len(c.sessions))
	for full, p := range c.sessions {
		recs = append(recs, rec{p.user, full, p.key})
	}
	c.mu.Unlock()
	for _, r := range recs {
		hashName, ver, _ := strings.Cut(r.key, "\x00")
		if alive(r.user, r.full, hashName, ver) {
			continue
		}
		c.mu.Lock()
		if p := c.sessions[r.full]; p != nil && p.key == r.key && p.user == r.user {
			delete(c.sessions, r.full)
			c.release(p.key)
		}
		c.mu.Unlock()
	}
}

// mayQuery reports whether session full may be asked for its caps now:
// not within the timeout after a query for it failed.
func (c *capsCache) mayQuery(full string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.sessions[full]
	return p == nil || !c.now().Before(p.retry)
}

// failed holds back queries to session full for the timeout.
func (c *capsCache) failed(full string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.sessions[full]; p != nil {
		p.retry = c.now().Add(c.timeout)
	}
}

// maxWaiters bounds the sessions waiting for one query.
const maxWaiters = 256

// resolve calls done with the +notify features of a caps hash: at once
// when cached, after a disco#info query otherwise. send sends the query
// (an IQ with the given id) and registers answer for its reply; it is
// not called when a query for the same hash is under way. done gets
// ok=false when the features cannot be known. resolve returns false,
// without calling done, when it cannot take the request now: too many
// queries are outstanding, or too many sessions wait for this one; the
// caller may try again later.
func (c *capsCache) resolve(hashName, ver string, send func(id string, answer func(*wire.Element)) bool, done func([]string, bool)) bool {
	key := capsKey(hashName, ver)
	if _, ok := hashFunc(hashName); !ok || ver == "" {
		done(nil, false) // legacy or unknown hash: nothing to verify against
		return true
	}
	c.mu.Lock()
	if f, ok := c.known[key]; ok {
		c.mu.Unlock()
		done(f, true)
		return true
	}
	if q := c.pending[key]; q != nil {
		if len(q.waiters) >= maxWaiters {
			c.mu.Unlock()
			return false
		}
		q.waiters = append(q.waiters, done)
		c.mu.Unlock()
		return true
	}
	if c.queries >= 0 && len(c.pending) >= c.queries {
		c.mu.Unlock()
		return false
	}
	q := &capsQuery{id: "caps-" + randomID(), waiters: []func([]string, bool){done}}
	c.pending[key] = q
	c.mu.Unlock()

	finish := func(features []string, ok bool) {
		c.mu.Lock()
		if c.pending[key] != q {
			c.mu.Unlock()
			return
		}
		delete(c.pending, key)
		c.mu.Unlock()
		if ok {
			c.store(key, features)
		}
		for _, w := range q.waiters {
			w(features, ok)
		}
	}
	timer := time.AfterFunc(c.timeout, func() {
		if c.forget != nil {
			c.forget(q.id)
		}
		finish(nil, false)
	})
	sent := send(q.id, func(el *wire.Element) {
		timer.Stop()
		if el.Get("type") != "result" {
			finish(nil, false)
			return
		}
		query := el.Child(nsDiscoInf, "query")
		if query == nil || capsVer(hashName, query) != ver {
			finish(nil, false) // not verified: not cached, not used
			return
		}
		finish(notifyFeatures(query), true)
	})
	if !sent {
		timer.Stop()
		finish(nil, false)
	}
	return true
}

// notifyFeatures returns the sorted +notify features of a disco#info
// result (the only ones PEP needs).
func notifyFeatures(q *wire.Element) []string {
	var out []string
	for _, f := range q.Elements() {
		if f.Space == nsDiscoInf && f.Local == "feature" && strings.HasSuffix(f.Get("var"), "+notify") {
			out = append(out, f.Get("var"))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func hashFunc(name string) (func() hash.Hash, bool) {
	switch name {
	case "sha-1":
		return sha1.New, true
	case "sha-224":
		return sha256.New224, true
	case "sha-256":
		return sha256.New, true
	case "sha-384":
		return sha512.New384, true
	case "sha-512":
		return sha512.New, true
	}
	return nil, false
}

// CapsVer computes the XEP-0115 §5.1 verification string of a disco#info
// <query/> with the named hash function, or "" when the query is not
// acceptable (unknown hash, duplicate identities, features or forms, a
// form without FORM_TYPE; §5.4 step 3).
func CapsVer(hashName string, query *wire.Element) string { return capsVer(hashName, query) }

func capsVer(hashName string, query *wire.Element) string {
	newHash, ok := hashFunc(hashName)
	if !ok {
		return ""
	}
	var ids, features []string
	type xform struct {
		typ    string
		fields []string
	}
	var forms []xform
	for _, el := range query.Elements() {
		switch {
		case el.Space == nsDiscoInf && el.Local == "identity":
			lang := ""
			for _, a := range el.Attr {
				if a.Space == wire.NSXML && a.Local == "lang" {
					lang = a.Value
				}
			}
			ids = append(ids, el.Get("category")+"/"+el.Get("type")+"/"+lang+"/"+el.Get("name"))
		case el.Space == nsDiscoInf && el.Local == "feature":
			features = append(features, el.Get("var"))
		case el.Space == nsData && el.Local == "x":
			var f xform
			hasType := false
			for _, fe := range el.Elements() {
				if fe.Space != nsData || fe.Local != "field" {
					continue
				}
				var vals []string
				for _, v := range fe.Elements() {
					if v.Space == nsData && v.Local == "value" {
						vals = append(vals, v.Text())
					}
				}
				if fe.Get("var") == "FORM_TYPE" {
					if hasType || len(vals) != 1 {
						return ""
					}
					hasType, f.typ = true, vals[0]
					continue
				}
				slices.Sort(vals)
				s := fe.Get("var") + "<"
				for _, v := range vals {
					s += v + "<"
				}
				f.fields = append(f.fields, s)
			}
			if !hasType {
				continue // §5.4: forms without FORM_TYPE are ignored
			}
			slices.Sort(f.fields)
			forms = append(forms, f)
		}
	}
	slices.Sort(ids)
	slices.Sort(features)
	if len(slices.Compact(slices.Clone(ids))) != len(ids) || len(slices.Compact(slices.Clone(features))) != len(features) {
		return ""
	}
	slices.SortFunc(forms, func(a, b xform) int { return strings.Compare(a.typ, b.typ) })
	for i := 1; i < len(forms); i++ {
		if forms[i].typ == forms[i-1].typ {
			return ""
		}
	}
	h := newHash()
	for _, s := range ids {
		h.Write([]byte(s + "<"))
	}
	for _, s := range features {
		h.Write([]byte(s + "<"))
	}
	for _, f := range forms {
		h.Write([]byte(f.typ + "<"))
		for _, s := range f.fields {
			h.Write([]byte(s))
		}
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
