package load

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// errorLog counts failures and keeps the first few distinct texts.
// Safe for concurrent use.
type errorLog struct {
	mu    sync.Mutex
	n     int
	first map[string]int
}

func (e *errorLog) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if e.first == nil {
		e.first = map[string]int{}
	}
	k := err.Error()
	if len(k) > 160 {
		k = k[:160]
	}
	if _, ok := e.first[k]; ok || len(e.first) < 8 {
		e.first[k]++
	}
}

// Count returns the number of errors.
func (e *errorLog) Count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

// String lists the distinct errors seen, one per line.
func (e *errorLog) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var b strings.Builder
	for k, v := range e.first {
		fmt.Fprintf(&b, "error x%d: %s\n", v, k)
	}
	return b.String()
}

// parallel runs f(i) for i in [0, n) on c workers and stops starting new
// work when ctx ends.
func parallel(ctx context.Context, n, c int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(min(c, n), 1) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// LoginOptions shape the login scenario.
type LoginOptions struct {
	N           int // measured logins
	Concurrency int // parallel clients
	Accounts    int // accounts cycled through (default N)
	Offset      int // first account index
	Warmup      int // untimed logins before the measurement (fills the SCRAM cache)
}

// LoginResult is one measured login run. A login is connect, STARTTLS,
// SASL, bind and initial presence ("ready"); a cycle adds the closing
// handshake. ServerCPU covers the whole run.
type LoginResult struct {
	N, Concurrency, OK, Errors int
	Mechanism                  string
	Elapsed                    time.Duration
	Ready, Cycle               [3]time.Duration // p50, p90, p99
	ServerCPU, ClientCPU       time.Duration
	OtherCPU                   time.Duration
	ErrorText                  string
}

// Rate returns completed logins per second.
func (r LoginResult) Rate() float64 { return float64(r.OK) / r.Elapsed.Seconds() }

// ServerCPUPerLogin returns the server's CPU time per completed login.
func (r LoginResult) ServerCPUPerLogin() time.Duration {
	if r.OK == 0 {
		return 0
	}
	return r.ServerCPU / time.Duration(r.OK)
}

// Line formats r as one machine-readable RESULT line (the keys of
// xmppload, so the anchors' summarize.py reads both).
func (r LoginResult) Line() string {
	return fmt.Sprintf("RESULT scenario=login n=%d c=%d ok=%d errors=%d mech=%s elapsed_s=%.2f rate=%.1f "+
		"p50_ms=%s p90_ms=%s p99_ms=%s cycle_p50_ms=%s cycle_p99_ms=%s srv_us_per_login=%s cpu_s_per_1k=%.3f "+
		"client_cpu_s_per_1k=%.3f srv_cpu_util=%.2f other_cpu_s=%.2f",
		r.N, r.Concurrency, r.OK, r.Errors, r.Mechanism, r.Elapsed.Seconds(), r.Rate(),
		ms(r.Ready[0]), ms(r.Ready[1]), ms(r.Ready[2]), ms(r.Cycle[0]), ms(r.Cycle[2]),
		per(r.ServerCPU, r.OK), perK(r.ServerCPU, r.OK), perK(r.ClientCPU, r.OK),
		r.ServerCPU.Seconds()/r.Elapsed.Seconds(), r.OtherCPU.Seconds())
}

func perK(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return d.Seconds() * 1000 / float64(n)
}

// Login runs opt.Warmup untimed logins, then opt.N measured ones.
func (r *Runner) Login(ctx context.Context, opt LoginOptions) (LoginResult, error) {
	if opt.N <= 0 {
		return LoginResult{}, fmt.Errorf("load: login: n must be positive")
	}
	if opt.Accounts <= 0 {
		opt.Accounts = opt.N
	}
	opt.Concurrency = max(opt.Concurrency, 1)
	one := func(i int) (ready, cycle time.Duration, err error) {
		t := time.Now()
		c, err := r.login(ctx, opt.Offset+i%opt.Accounts, "l"+strconv.Itoa(i))
		if err != nil {
			return 0, 0, err
		}
		ready = time.Since(t)
		if err := c.close(true); err != nil {
			return 0, 0, err
		}
		return ready, time.Since(t), nil
	}
	if opt.Warmup > 0 {
		var werr errorLog
		parallel(ctx, opt.Warmup, opt.Concurrency, func(i int) {
			if _, _, err := one(i); err != nil {
				werr.add(err)
			}
		})
		if n := werr.Count(); n > 0 {
			return LoginResult{}, fmt.Errorf("load: warmup: %d errors:\n%s", n, werr.String())
		}
	}
	ready := make([]time.Duration, opt.N)
	cycle := make([]time.Duration, opt.N)
	var errs errorLog
	m := startMeter(r.cfg.PID)
	parallel(ctx, opt.N, opt.Concurrency, func(i int) {
		rd, cy, err := one(i)
		if err != nil {
			errs.add(err)
			return
		}
		ready[i], cycle[i] = rd, cy
	})
	m.stop()
	var okR, okC []time.Duration
	for i := range ready {
		if cycle[i] > 0 {
			okR = append(okR, ready[i])
			okC = append(okC, cycle[i])
		}
	}
	res := LoginResult{
		N: opt.N, Concurrency: opt.Concurrency, OK: len(okR), Errors: opt.N - len(okR),
		Mechanism: r.cfg.Mechanism, Elapsed: m.elapsed,
		ServerCPU: m.srv, ClientCPU: m.cli, OtherCPU: m.other, ErrorText: errs.String(),
	}
	for k, p := range []float64{50, 90, 99} {
		res.Ready[k] = Percentile(okR, p)
		res.Cycle[k] = Percentile(okC, p)
	}
	return res, ctx.Err()
}

// HoldOptions shape the hold scenario.
type HoldOptions struct {
	N           int // sessions to open
	Concurrency int
	Accounts    int // accounts cycled through (default N)
	Offset      int
	For         time.Duration // how long to keep them after the last login
	// OnHold, if not nil, is called once the logins are done, before
	// the hold period starts (to sample the server from outside).
	OnHold func()
}

// HoldResult reports N idle authenticated sessions: the server's RSS
// before the first login and at the end of the hold, and its CPU while idle.
type HoldResult struct {
	N, Established, Errors int
	RSSBefore, RSSAfter    int64 // KiB
	RSSMax                 int64 // KiB, sampled every second
	IdleCPU                time.Duration
	Hold                   time.Duration
	Connect                time.Duration // time to establish every session
	ErrorText              string
}

// KiBPerConn returns the RSS growth per established session.
func (r HoldResult) KiBPerConn() float64 {
	if r.Established == 0 {
		return 0
	}
	return float64(r.RSSAfter-r.RSSBefore) / float64(r.Established)
}

// Line formats r as one RESULT line.
func (r HoldResult) Line() string {
	return fmt.Sprintf("RESULT scenario=hold n=%d established=%d errors=%d connect_s=%.1f rss_before_kib=%d rss_after_kib=%d "+
		"rss_max_kib=%d kib_per_conn=%.1f idle_cpu_s=%.2f hold_s=%.0f",
		r.N, r.Established, r.Errors, r.Connect.Seconds(), r.RSSBefore, r.RSSAfter, r.RSSMax, r.KiBPerConn(),
		r.IdleCPU.Seconds(), r.Hold.Seconds())
}

// Hold opens opt.N sessions, keeps them idle for opt.For (answering server
// pings), samples the server's RSS, and closes them again.
func (r *Runner) Hold(ctx context.Context, opt HoldOptions) (HoldResult, error) {
	if opt.N <= 0 {
		return HoldResult{}, fmt.Errorf("load: hold: n must be positive")
	}
	if opt.Accounts <= 0 {
		opt.Accounts = opt.N
	}
	runtime.GC()
	res := HoldResult{N: opt.N, RSSBefore: ProcRSS(r.cfg.PID), Hold: opt.For}
	conns := make([]*conn, opt.N)
	var errs errorLog
	t0 := time.Now()
	var readers sync.WaitGroup
	parallel(ctx, opt.N, max(opt.Concurrency, 1), func(i int) {
		c, err := r.login(ctx, opt.Offset+i%opt.Accounts, "h"+strconv.Itoa(i))
		if err != nil {
			errs.add(err)
			return
		}
		c.nc.SetDeadline(time.Time{})
		conns[i] = c
		readers.Go(func() { c.drain() })
	})
	res.Connect = time.Since(t0)
	for _, c := range conns {
		if c != nil {
			res.Established++
		}
	}
	if opt.OnHold != nil {
		opt.OnHold()
	}
	m := startMeter(r.cfg.PID)
	tick := time.NewTicker(time.Second)
	end := time.NewTimer(opt.For)
hold:
	for {
		select {
		case <-ctx.Done():
			break hold
		case <-end.C:
			break hold
		case <-tick.C:
			res.RSSMax = max(res.RSSMax, ProcRSS(r.cfg.PID))
		}
	}
	tick.Stop()
	m.stop()
	res.RSSAfter = ProcRSS(r.cfg.PID)
	res.RSSMax = max(res.RSSMax, res.RSSAfter)
	res.IdleCPU = m.srv
	res.Errors = errs.Count()
	res.ErrorText = errs.String()
	parallel(context.WithoutCancel(ctx), opt.N, 200, func(i int) {
		if conns[i] != nil {
			conns[i].close(false)
		}
	})
	readers.Wait()
	return res, ctx.Err()
}

// drain reads until the stream ends, answering the server's IQs.
func (c *conn) drain() {
	for {
		el, err := c.sc.next()
		if err != nil {
			return
		}
		c.answerIQ(el)
	}
}

// ThroughputOptions shape the throughput scenario.
type ThroughputOptions struct {
	Pairs       int // client pairs: account 2i talks to account 2i+1
	Messages    int // messages each client sends to its partner
	Window      int // messages in flight per sender
	Concurrency int // parallel logins while setting up
	Offset      int
}

// ThroughputResult reports one throughput run: each of the 2·Pairs
// clients sent Messages messages to its partner's full JID.
type ThroughputResult struct {
	Pairs, Messages, Window int
	Sent, Delivered         int
	Lost, Dup, Bad          int
	Errors                  int
	TimedOut                bool
	Elapsed                 time.Duration
	Latency                 [3]time.Duration // one-way p50, p90, p99
	ServerCPU, ClientCPU    time.Duration
	OtherCPU                time.Duration
	ErrorText               string
}

// Rate returns unique messages delivered per second.
func (r ThroughputResult) Rate() float64 { return float64(r.Delivered) / r.Elapsed.Seconds() }

// ServerCPUPerMessage returns the server's CPU time per delivered message.
func (r ThroughputResult) ServerCPUPerMessage() time.Duration {
	if r.Delivered == 0 {
		return 0
	}
	return r.ServerCPU / time.Duration(r.Delivered)
}

// Line formats r as one RESULT line.
func (r ThroughputResult) Line() string {
	return fmt.Sprintf("RESULT scenario=throughput pairs=%d m=%d w=%d sent=%d delivered=%d lost=%d dup=%d bad=%d errors=%d "+
		"timed_out=%v elapsed_s=%.2f rate=%.1f p50_ms=%s p90_ms=%s p99_ms=%s srv_us_per_msg=%s cpu_s_per_1k=%.4f "+
		"client_cpu_s_per_1k=%.4f srv_cpu_util=%.2f other_cpu_s=%.2f",
		r.Pairs, r.Messages, r.Window, r.Sent, r.Delivered, r.Lost, r.Dup, r.Bad, r.Errors,
		r.TimedOut, r.Elapsed.Seconds(), r.Rate(), ms(r.Latency[0]), ms(r.Latency[1]), ms(r.Latency[2]),
		per(r.ServerCPU, r.Delivered), perK(r.ServerCPU, r.Delivered), perK(r.ClientCPU, r.Delivered),
		r.ServerCPU.Seconds()/r.Elapsed.Seconds(), r.OtherCPU.Seconds())
}

// tpClient is one side of a throughput pair.
type tpClient struct {
	c       *conn
	partner *tpClient
	window  chan struct{} // slots for messages this client has in flight
	mu      sync.Mutex
	seen    []uint8 // receipts per sequence number from the partner
	recv    int
	dup     int
	bad     int
	lat     []time.Duration
	done    chan struct{} // closed when every message of the partner arrived
}

// epoch is the generator's clock origin for one-way latencies (sender and
// receiver share the process's monotonic clock).
var epoch = time.Now()

// Throughput logs in 2·opt.Pairs clients (untimed), then has every client
// send opt.Messages messages to its partner with at most opt.Window in
// flight, and counts what arrives: lost, duplicated, malformed, latency.
// Flow control stays inside the generator: a receipt frees a slot of the
// sender's window, so nothing but the measured messages crosses the server.
func (r *Runner) Throughput(ctx context.Context, opt ThroughputOptions) (ThroughputResult, error) {
	if opt.Pairs <= 0 || opt.Messages <= 0 {
		return ThroughputResult{}, fmt.Errorf("load: throughput: pairs and messages must be positive")
	}
	opt.Window = max(opt.Window, 1)
	res := ThroughputResult{Pairs: opt.Pairs, Messages: opt.Messages, Window: opt.Window}
	cl := make([]*tpClient, 2*opt.Pairs)
	var errs errorLog
	parallel(ctx, len(cl), max(opt.Concurrency, 1), func(i int) {
		c, err := r.login(ctx, opt.Offset+i, "tp")
		if err != nil {
			errs.add(err)
			return
		}
		c.nc.SetDeadline(time.Time{})
		cl[i] = &tpClient{c: c, window: make(chan struct{}, opt.Window), seen: make([]uint8, opt.Messages),
			lat: make([]time.Duration, 0, opt.Messages), done: make(chan struct{})}
	})
	closeAll := func() {
		parallel(context.WithoutCancel(ctx), len(cl), 200, func(i int) {
			if cl[i] != nil {
				cl[i].c.close(false)
			}
		})
	}
	if n := errs.Count(); n > 0 {
		closeAll()
		return res, fmt.Errorf("load: throughput: %d logins failed:\n%s", n, errs.String())
	}
	for i := 0; i < opt.Pairs; i++ {
		cl[2*i].partner, cl[2*i+1].partner = cl[2*i+1], cl[2*i]
	}
	// Every reader is running, and has seen its own session settle, before
	// the clock starts: a ping round trip per client.
	var readers, settled sync.WaitGroup
	settled.Add(len(cl))
	for _, x := range cl {
		readers.Go(func() { x.read(opt.Messages, &settled) })
		x.c.send(r.settlePing())
	}
	settledCh := make(chan struct{})
	go func() { settled.Wait(); close(settledCh) }()
	select {
	case <-settledCh:
	case <-ctx.Done():
		closeAll()
		return res, ctx.Err()
	}

	m := startMeter(r.cfg.PID)
	stop := make(chan struct{})
	var sent atomic.Int64
	var senders sync.WaitGroup
	for _, x := range cl {
		senders.Go(func() {
			pre := "<message type='chat' to='" + x.partner.c.jid + "' id='m"
			buf := make([]byte, 0, 256)
			for k := range opt.Messages {
				select {
				case x.window <- struct{}{}:
				case <-stop:
					return
				}
				buf = append(buf[:0], pre...)
				buf = strconv.AppendInt(buf, int64(k), 10)
				buf = append(buf, "'><body>"...)
				buf = strconv.AppendInt(buf, int64(k), 10)
				buf = append(buf, ' ')
				buf = strconv.AppendInt(buf, int64(time.Since(epoch)), 10)
				buf = append(buf, "</body></message>"...)
				if err := x.c.sendBytes(buf); err != nil {
					errs.add(err)
					return
				}
				sent.Add(1)
			}
		})
	}
	for _, x := range cl {
		select {
		case <-x.done:
			continue
		case <-ctx.Done():
			res.TimedOut = true
		}
		break
	}
	m.stop()
	close(stop)
	senders.Wait()
	// Late duplicates would arrive right behind the last message; a ping
	// round trip per client (answered after everything queued before it)
	// flushes them before counting.
	if !res.TimedOut {
		settled.Add(len(cl))
		for _, x := range cl {
			x.c.send(r.settlePing())
		}
		done := make(chan struct{})
		go func() { settled.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	var lat []time.Duration
	for _, x := range cl {
		x.mu.Lock()
		res.Delivered += x.recv
		res.Dup += x.dup
		res.Bad += x.bad
		lat = append(lat, x.lat...)
		x.mu.Unlock()
	}
	closeAll()
	readers.Wait()
	res.Sent = int(sent.Load())
	res.Lost = 2*opt.Pairs*opt.Messages - res.Delivered
	res.Errors = errs.Count()
	res.ErrorText = errs.String()
	res.Elapsed, res.ServerCPU, res.ClientCPU, res.OtherCPU = m.elapsed, m.srv, m.cli, m.other
	for k, p := range []float64{50, 90, 99} {
		res.Latency[k] = Percentile(lat, p)
	}
	if res.TimedOut {
		return res, ctx.Err()
	}
	return res, nil
}

// read counts the partner's messages until the stream ends. The answer to
// the "settle" ping marks settled done.
func (x *tpClient) read(m int, settled *sync.WaitGroup) {
	complete := false
	for {
		el, err := x.c.sc.next()
		if err != nil {
			return
		}
		switch string(name(el)) {
		case "message":
		case "iq":
			if attr(el, "id") == "settle" {
				settled.Done()
				continue
			}
			x.c.answerIQ(el)
			continue
		default:
			continue
		}
		now := time.Since(epoch)
		body := childText(el, "body")
		seqB, tsB, ok := bytes.Cut(body, []byte{' '})
		seq, e1 := strconv.Atoi(string(seqB))
		ts, e2 := strconv.ParseInt(string(tsB), 10, 64)
		x.mu.Lock()
		if !ok || e1 != nil || e2 != nil || seq < 0 || seq >= m {
			x.bad++
			x.mu.Unlock()
			continue
		}
		x.seen[seq]++
		first := x.seen[seq] == 1
		if first {
			x.recv++
			x.lat = append(x.lat, now-time.Duration(ts))
		} else {
			x.dup++
		}
		finished := x.recv == m && !complete
		complete = complete || finished
		x.mu.Unlock()
		if first {
			select { // free a slot of the sender's window
			case <-x.partner.window:
			default:
			}
		}
		if finished {
			close(x.done)
		}
	}
}

// settlePing is a XEP-0199 ping to the server whose answer tells a reader
// that everything the server queued for it before has arrived.
func (r *Runner) settlePing() string {
	return "<iq type='get' id='settle' to='" + r.cfg.Domain + "'><ping xmlns='urn:xmpp:ping'/></iq>"
}
