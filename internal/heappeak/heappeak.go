// Package heappeak measures how far the heap grows while code runs, for
// tests that show memory stays bounded (paged offline delivery, streamed
// exports): it samples runtime.MemStats.HeapAlloc every 2 ms with a
// tight GC target, so the peak follows what the code holds, not what the
// collector has not yet freed.
package heappeak

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Start collects garbage, notes the heap in use and starts sampling. The
// returned stop ends the sampling, restores the GC target and returns the
// peak heap growth in bytes since Start. Call stop exactly once; the
// process's other goroutines count too, so run such tests alone (not
// t.Parallel).
func Start() (stop func() int64) {
	old := debug.SetGCPercent(25)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := int64(ms.HeapAlloc)
	var peak atomic.Int64
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if h := int64(ms.HeapAlloc); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(quit)
		<-done
		debug.SetGCPercent(old)
		return peak.Load() - base
	}
}
