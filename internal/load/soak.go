package load

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// SoakOptions shape the soak scenario: Sessions accounts each cycle
// online (login, messages to random accounts, logout) and offline, so the
// server sees logins, routed messages, logouts and offline delivery at a
// steady rate for Warmup plus For.
type SoakOptions struct {
	Sessions    int // accounts Offset … Offset+Sessions-1, one session each at most
	Concurrency int // parallel logins during the initial ramp
	Offset      int
	Warmup      time.Duration // churn before the measurement starts
	For         time.Duration // measured churn
	// OnlineMean and OfflineMean are the mean (exponentially distributed)
	// times a session stays logged in and an account stays logged out.
	// Defaults: 60 s and 5 s.
	OnlineMean, OfflineMean time.Duration
	// MessageEvery is the mean interval between two messages of one online
	// session, each to the bare JID of a random account. Default 20 s.
	MessageEvery time.Duration
	// Sample is the interval of the RSS and goroutine samples (default 1 s).
	Sample time.Duration
	// Margin is the growth allowed from the post-warm-up level to the end
	// level (default 0.10: ten per cent).
	Margin float64
	// Goroutines returns the server's goroutine count; nil means not
	// measured. CountGoroutines reads it from a net/http/pprof endpoint.
	Goroutines func() (int, error)
	// Seed makes the random schedule repeatable (0: a fixed default).
	Seed uint64
}

// SoakLevel is one metric over a soak: before the first login, the
// post-warm-up level (median of the first tenth of the measured phase),
// the peak, the end level (median of its last tenth) and after every
// session closed.
type SoakLevel struct{ Start, Warm, Peak, End, After int64 }

// flat reports whether l stayed within margin of its post-warm-up level.
func (l SoakLevel) flat(margin float64) bool {
	return float64(l.End) <= float64(l.Warm)*(1+margin)
}

// SoakResult reports a soak run.
type SoakResult struct {
	Sessions                int
	Warmup, For             time.Duration
	Logins, Logouts, Errors int
	OnlineMin, OnlineMax    int // sessions online during the measured phase
	Sent, Delivered         int // unique messages
	Offline                 int // delivered with a <delay/>: stored while the recipient was offline
	Bounced, Lost, Dup, Bad int
	// Stranded messages were still in offline storage after the final
	// settle although their recipient was online: they arrived only when
	// every account logged out and in once more at the end. Stale ones
	// were left over from an earlier run (another run id), not counted.
	Stranded, Stale    int
	RSS                SoakLevel // KiB
	Goroutines         SoakLevel // zero when not measured
	GoroutinesMeasured bool
	Margin             float64
	ServerCPU          time.Duration // measured phase
	Samples            []SoakSample
	ErrorText          string
}

// SoakSample is one sample of the server.
type SoakSample struct {
	At         time.Duration // since the measured phase started (negative before)
	RSS        int64         // KiB
	Goroutines int
	Online     int
}

// Flat reports whether RSS and goroutines (when measured) ended within the
// margin of their post-warm-up levels, and the goroutines fell back to
// their starting level (within the margin, at least 20) once every
// session had closed.
func (r SoakResult) Flat() bool {
	if !r.RSS.flat(r.Margin) {
		return false
	}
	if r.GoroutinesMeasured {
		slack := max(int64(float64(r.Goroutines.Start)*r.Margin), 20)
		if !r.Goroutines.flat(r.Margin) || r.Goroutines.After > r.Goroutines.Start+slack {
			return false
		}
	}
	return true
}

// Line formats r as one RESULT line.
func (r SoakResult) Line() string {
	g := "gor=not_measured"
	if r.GoroutinesMeasured {
		g = fmt.Sprintf("gor_start=%d gor_warm=%d gor_peak=%d gor_end=%d gor_after=%d",
			r.Goroutines.Start, r.Goroutines.Warm, r.Goroutines.Peak, r.Goroutines.End, r.Goroutines.After)
	}
	return fmt.Sprintf("RESULT scenario=soak sessions=%d warmup_s=%.0f for_s=%.0f online_min=%d online_max=%d "+
		"logins=%d logouts=%d errors=%d sent=%d delivered=%d offline=%d stranded=%d stale=%d bounced=%d lost=%d dup=%d bad=%d "+
		"rss_start_kib=%d rss_warm_kib=%d rss_peak_kib=%d rss_end_kib=%d rss_after_kib=%d %s "+
		"srv_cpu_util=%.2f margin=%.2f flat=%v",
		r.Sessions, r.Warmup.Seconds(), r.For.Seconds(), r.OnlineMin, r.OnlineMax,
		r.Logins, r.Logouts, r.Errors, r.Sent, r.Delivered, r.Offline, r.Stranded, r.Stale, r.Bounced, r.Lost, r.Dup, r.Bad,
		r.RSS.Start, r.RSS.Warm, r.RSS.Peak, r.RSS.End, r.RSS.After, g,
		r.ServerCPU.Seconds()/max(r.For.Seconds(), 1e-9), r.Margin, r.Flat())
}

// soak is the shared state of one Soak run.
type soak struct {
	r      *Runner
	opt    SoakOptions
	errs   errorLog
	stop   chan struct{} // closed at the end of the measured phase
	online atomic.Int64

	logins, logouts atomic.Int64
	sent            atomic.Int64

	run string // this run's id, the first word of every body

	mu                                      sync.Mutex
	seen                                    map[uint64]uint8 // sender<<32 | seq
	delivered, offline, dup, bad, bo, stale int
}

// soakConn is one logged-in session of a soak slot.
type soakConn struct {
	c     *conn
	done  chan struct{} // closed when the reader returned
	pings chan struct{} // answers to settle pings
}

// Soak runs the soak scenario (see SoakOptions). It logs every account in
// (the ramp), lets them churn for opt.Warmup and opt.For while sampling
// the server, then stops the churn, logs the offline accounts in to
// receive their offline messages, waits until every message sent has been
// delivered or bounced, logs every account out and in once more (what
// arrives then was stranded in offline storage), closes every session and
// samples once more.
func (r *Runner) Soak(ctx context.Context, opt SoakOptions) (SoakResult, error) {
	if opt.Sessions < 2 || opt.For <= 0 {
		return SoakResult{}, fmt.Errorf("load: soak: sessions must be at least 2 and the duration positive")
	}
	opt.OnlineMean = cmp0(opt.OnlineMean, 60*time.Second)
	opt.OfflineMean = cmp0(opt.OfflineMean, 5*time.Second)
	opt.MessageEvery = cmp0(opt.MessageEvery, 20*time.Second)
	opt.Sample = cmp0(opt.Sample, time.Second)
	if opt.Margin <= 0 {
		opt.Margin = 0.10
	}
	if opt.Seed == 0 {
		opt.Seed = 0x5eed
	}
	s := &soak{r: r, opt: opt, stop: make(chan struct{}), seen: map[uint64]uint8{},
		run: strconv.FormatInt(time.Now().UnixNano(), 36)}
	res := SoakResult{Sessions: opt.Sessions, Warmup: opt.Warmup, For: opt.For, Margin: opt.Margin,
		GoroutinesMeasured: opt.Goroutines != nil}
	gor := func() int64 {
		if opt.Goroutines == nil {
			return 0
		}
		n, err := opt.Goroutines()
		if err != nil {
			s.errs.add(fmt.Errorf("goroutines: %w", err))
		}
		return int64(n)
	}
	res.RSS.Start, res.Goroutines.Start = ProcRSS(r.cfg.PID), gor()

	// Ramp: every account logs in once.
	first := make([]*soakConn, opt.Sessions)
	parallel(ctx, opt.Sessions, max(opt.Concurrency, 1), func(i int) {
		first[i] = s.login(ctx, i)
	})
	if n := s.errs.Count(); n > 0 || ctx.Err() != nil {
		for _, sc := range first {
			if sc != nil {
				s.logout(sc)
			}
		}
		return res, fmt.Errorf("load: soak: %d logins failed in the ramp:\n%s", n, s.errs.String())
	}

	// Churn, sampled.
	var samplesMu sync.Mutex
	var samples []SoakSample
	t0 := time.Now().Add(opt.Warmup) // start of the measured phase
	sampleDone := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		t := time.NewTicker(opt.Sample)
		defer t.Stop()
		for {
			smp := SoakSample{At: time.Since(t0), RSS: ProcRSS(r.cfg.PID), Goroutines: int(gor()), Online: int(s.online.Load())}
			samplesMu.Lock()
			samples = append(samples, smp)
			samplesMu.Unlock()
			select {
			case <-t.C:
			case <-sampleDone:
				return
			}
		}
	})
	last := make([]*soakConn, opt.Sessions)
	var slots sync.WaitGroup
	for i := range opt.Sessions {
		slots.Go(func() { last[i] = s.slot(ctx, i, first[i]) })
	}
	var m *meter
	select {
	case <-time.After(opt.Warmup):
	case <-ctx.Done():
	}
	m = startMeter(r.cfg.PID)
	select {
	case <-time.After(opt.For):
	case <-ctx.Done():
	}
	m.stop()
	close(sampleDone)
	sampler.Wait()
	close(s.stop)
	slots.Wait()
	res.ServerCPU = m.srv

	// Every message sent has reached a session's queue or offline storage
	// once its sender's ping is answered; every queue has reached its
	// client once the recipient's own ping is answered after that.
	for range 2 {
		s.settle(ctx, last)
	}
	s.mu.Lock()
	settled := s.delivered
	s.mu.Unlock()
	// Whatever is still in offline storage now is stranded there: every
	// recipient is online. One more logout and login of every account
	// collects it, so it is told apart from lost messages.
	parallel(context.WithoutCancel(ctx), len(last), 200, func(i int) {
		if last[i] != nil {
			s.logout(last[i])
			last[i] = nil
		}
	})
	if ctx.Err() == nil {
		parallel(ctx, len(last), max(opt.Concurrency, 1), func(i int) { last[i] = s.login(ctx, i) })
		for range 2 {
			s.settle(ctx, last)
		}
		parallel(context.WithoutCancel(ctx), len(last), 200, func(i int) {
			if last[i] != nil {
				s.logout(last[i])
			}
		})
	}
	s.mu.Lock()
	res.Delivered, res.Offline, res.Dup, res.Bad, res.Bounced, res.Stale = s.delivered, s.offline, s.dup, s.bad, s.bo, s.stale
	res.Stranded = s.delivered - settled
	s.mu.Unlock()
	res.Sent = int(s.sent.Load())
	res.Lost = res.Sent - res.Delivered - res.Bounced
	res.Logins, res.Logouts = int(s.logins.Load()), int(s.logouts.Load())

	// The server ends its sessions asynchronously: wait (up to 30 s) for
	// its goroutines to come back down before the last sample.
	res.Goroutines.After = gor()
	if opt.Goroutines != nil {
		slack := max(int64(float64(res.Goroutines.Start)*opt.Margin), 20)
		for deadline := time.Now().Add(30 * time.Second); res.Goroutines.After > res.Goroutines.Start+slack && time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
			res.Goroutines.After = gor()
		}
	}
	res.RSS.After = ProcRSS(r.cfg.PID)

	res.Samples = samples
	window := max(opt.For/10, 3*opt.Sample)
	var rssWarm, rssEnd, gWarm, gEnd []int64
	res.OnlineMin = opt.Sessions
	for _, smp := range samples {
		res.RSS.Peak = max(res.RSS.Peak, smp.RSS)
		res.Goroutines.Peak = max(res.Goroutines.Peak, int64(smp.Goroutines))
		if smp.At < 0 {
			continue
		}
		res.OnlineMin, res.OnlineMax = min(res.OnlineMin, smp.Online), max(res.OnlineMax, smp.Online)
		if smp.At < window {
			rssWarm, gWarm = append(rssWarm, smp.RSS), append(gWarm, int64(smp.Goroutines))
		}
		if smp.At > opt.For-window {
			rssEnd, gEnd = append(rssEnd, smp.RSS), append(gEnd, int64(smp.Goroutines))
		}
	}
	res.RSS.Warm, res.RSS.End = median(rssWarm), median(rssEnd)
	res.Goroutines.Warm, res.Goroutines.End = median(gWarm), median(gEnd)
	res.Errors = s.errs.Count()
	res.ErrorText = s.errs.String()
	return res, ctx.Err()
}

func cmp0(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func median(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// exp returns an exponentially distributed duration with the given mean.
func exp(rng *rand.Rand, mean time.Duration) time.Duration {
	return time.Duration(rng.ExpFloat64() * float64(mean))
}

// login logs account i in and starts its reader; nil on error (counted).
func (s *soak) login(ctx context.Context, i int) *soakConn {
	c, err := s.r.login(ctx, s.opt.Offset+i, "soak")
	if err != nil {
		if ctx.Err() == nil {
			s.errs.add(err)
		}
		return nil
	}
	c.nc.SetDeadline(time.Time{})
	s.logins.Add(1)
	s.online.Add(1)
	sc := &soakConn{c: c, done: make(chan struct{}), pings: make(chan struct{}, 4)}
	go s.read(sc)
	return sc
}

// logout closes the stream and waits (bounded by the timeout) until the
// server has closed its side, so everything it sent before was read.
func (s *soak) logout(sc *soakConn) {
	sc.c.nc.SetDeadline(time.Now().Add(s.r.cfg.Timeout))
	sc.c.send("</stream:stream>")
	<-sc.done
	sc.c.nc.Close()
	s.online.Add(-1)
	s.logouts.Add(1)
}

// slot cycles account i online and offline until s.stop is closed, then
// returns its session, logging in once more if it was offline.
func (s *soak) slot(ctx context.Context, i int, sc *soakConn) *soakConn {
	rng := rand.New(rand.NewPCG(s.opt.Seed, uint64(i)))
	var seq uint32
	for {
		if sc == nil {
			// Offline: wait, then log in again (also at the end, to collect
			// the offline messages).
			select {
			case <-time.After(exp(rng, s.opt.OfflineMean)):
			case <-s.stop:
			case <-ctx.Done():
				return nil
			}
			if sc = s.login(ctx, i); sc == nil {
				select {
				case <-s.stop:
					return nil // counted as an error; its messages count as lost
				default:
					continue
				}
			}
		}
		select {
		case <-s.stop:
			return sc
		default:
		}
		if !s.online1(sc, i, rng, &seq) {
			return sc
		}
		s.logout(sc)
		sc = nil
	}
}

// online1 keeps sc online for a random time, sending messages; it returns
// false when the churn stopped (sc stays online) and true at logout time.
func (s *soak) online1(sc *soakConn, i int, rng *rand.Rand, seq *uint32) bool {
	end := time.NewTimer(exp(rng, s.opt.OnlineMean))
	defer end.Stop()
	next := time.NewTimer(exp(rng, s.opt.MessageEvery))
	defer next.Stop()
	buf := make([]byte, 0, 200)
	for {
		select {
		case <-s.stop:
			return false
		case <-sc.done:
			s.errs.add(fmt.Errorf("session of %s ended by the server", s.r.Username(s.opt.Offset+i)))
			return true
		case <-end.C:
			return true
		case <-next.C:
			to := rng.IntN(s.opt.Sessions - 1)
			if to >= i {
				to++ // never to itself
			}
			*seq++
			buf = append(buf[:0], "<message type='chat' to='"...)
			buf = append(buf, s.r.Username(s.opt.Offset+to)...)
			buf = append(buf, '@')
			buf = append(buf, s.r.cfg.Domain...)
			buf = append(buf, "' id='s"...)
			buf = strconv.AppendUint(buf, uint64(*seq), 10)
			buf = append(buf, "'><body>"...)
			buf = append(buf, s.run...)
			buf = append(buf, ' ')
			buf = strconv.AppendInt(buf, int64(i), 10)
			buf = append(buf, ' ')
			buf = strconv.AppendUint(buf, uint64(*seq), 10)
			buf = append(buf, "</body></message>"...)
			if err := sc.c.sendBytes(buf); err != nil {
				s.errs.add(err)
				return true
			}
			s.sent.Add(1)
			next.Reset(exp(rng, s.opt.MessageEvery))
		}
	}
}

// read counts the messages sc receives until its stream ends.
func (s *soak) read(sc *soakConn) {
	defer close(sc.done)
	for {
		el, err := sc.c.sc.next()
		if err != nil {
			return
		}
		switch string(name(el)) {
		case "iq":
			if attr(el, "id") == "settle" {
				sc.pings <- struct{}{}
				continue
			}
			sc.c.answerIQ(el)
			continue
		case "message":
		default:
			continue
		}
		if attr(el, "type") == "error" {
			s.mu.Lock()
			s.bo++
			s.mu.Unlock()
			continue
		}
		run, rest, ok1 := bytes.Cut(childText(el, "body"), []byte{' '})
		from, seqB, ok := bytes.Cut(rest, []byte{' '})
		sender, e1 := strconv.ParseUint(string(from), 10, 32)
		seq, e2 := strconv.ParseUint(string(seqB), 10, 32)
		s.mu.Lock()
		switch {
		case !ok1 || !ok || e1 != nil || e2 != nil:
			s.bad++
		case string(run) != s.run:
			s.stale++
		default:
			k := sender<<32 | seq
			s.seen[k]++
			if s.seen[k] > 1 {
				s.dup++
				break
			}
			s.delivered++
			if bytes.Contains(el, []byte("urn:xmpp:delay")) {
				s.offline++
			}
		}
		s.mu.Unlock()
	}
}

// settle sends every session a ping to the server and waits (up to a
// minute) for all answers: the server handles a stream in order, so an
// answer means everything that session sent before was routed and
// everything queued for it before the answer was written.
func (s *soak) settle(ctx context.Context, conns []*soakConn) {
	deadline := time.After(time.Minute)
	for _, sc := range conns {
		if sc != nil {
			sc.c.send(s.r.settlePing())
		}
	}
	for i, sc := range conns {
		if sc == nil {
			continue
		}
		select {
		case <-sc.pings:
		case <-sc.done:
			s.errs.add(fmt.Errorf("session of %s ended during the final settle", s.r.Username(s.opt.Offset+i)))
		case <-deadline:
			s.errs.add(fmt.Errorf("final settle timed out"))
			return
		case <-ctx.Done():
			return
		}
	}
}

// CountGoroutines returns a function that reads a process's goroutine
// count from its net/http/pprof endpoint at base (for example
// "http://127.0.0.1:6060", as loadserver --pprof serves it).
func CountGoroutines(base string) func() (int, error) {
	hc := &http.Client{Timeout: 10 * time.Second}
	url := strings.TrimSuffix(base, "/") + "/debug/pprof/goroutine?debug=1"
	return func() (int, error) {
		resp, err := hc.Get(url)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("%s: %s", url, resp.Status)
		}
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("%s: %w", url, err)
		}
		return parseGoroutineTotal(line)
	}
}

// parseGoroutineTotal reads the first line of a debug=1 goroutine
// profile: "goroutine profile: total 42".
func parseGoroutineTotal(line string) (int, error) {
	v, ok := strings.CutPrefix(strings.TrimSpace(line), "goroutine profile: total ")
	if !ok {
		return 0, fmt.Errorf("not a goroutine profile: %.60q", line)
	}
	return strconv.Atoi(v)
}

// FileLimit returns the soft limit on open files of this process. Go
// raises it to the hard limit at start (since Go 1.19); a soak needs one
// descriptor per session on each side.
func FileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	}
	return l.Cur
}
