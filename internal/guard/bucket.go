package guard

import (
	"sync"
	"time"
)

// Bucket counts failures of one key (for example one network's failed
// logins over all accounts) as a leaky bucket: Free failures, one of which
// is forgotten every Decay. Unlike golang.org/x/time/rate it lets a caller
// reserve an attempt before the verdict and hand it back after a success.
// It is safe for concurrent use.
type Bucket struct {
	free  int
	decay time.Duration

	mu sync.Mutex
	c  counter
}

// NewBucket returns an empty bucket allowing free failures, one forgotten
// per decay.
func NewBucket(free int, decay time.Duration) *Bucket {
	return &Bucket{free: max(free, 1), decay: max(decay, time.Nanosecond)}
}

// Begin reserves one attempt at now. It returns ok false, with the time
// until an attempt is allowed, when the bucket is full. Otherwise the
// caller calls done(true) to hand the attempt back (a success); done(false)
// or no call keeps it counted.
func (b *Bucket) Begin(now time.Time) (done func(ok bool), wait time.Duration, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.c.decay(now, b.decay)
	if b.c.fails+1 > float64(b.free) {
		wait = time.Duration((b.c.fails + 1 - float64(b.free)) * float64(b.decay))
		return func(bool) {}, max(wait, time.Nanosecond), false
	}
	b.c.fails++
	var once sync.Once
	return func(ok bool) {
		if ok {
			once.Do(func() {
				b.mu.Lock()
				b.c.fails = max(0, b.c.fails-1)
				b.mu.Unlock()
			})
		}
	}, 0, true
}
