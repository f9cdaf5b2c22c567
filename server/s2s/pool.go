package s2s

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"chatbx/server/iq"
	"chatbx/server/wire"
)

// link is the outbound side for one remote domain: a queue bounded in
// bytes and one goroutine that connects, writes and reconnects while
// stanzas wait. It exists while it has work or an open stream.
type link struct {
	s      *Server
	domain string
	local  string // our domain the stream is from (host or a service)

	mu      sync.Mutex
	q       []queued
	qbytes  int
	running bool
	wake    chan struct{} // capacity 1
}

type queued struct {
	el   *wire.Element // jabber:server
	orig *wire.Element // as handed to us (for the bounce)
	size int
	at   time.Time
}

// linkKey names a link: our domain and the remote one (RFC 6120 §4.1:
// a stream is between two domains).
type linkKey struct{ local, remote string }

// Handle is the remote handler of the domain table: it queues el for its
// domain and never blocks. send is unused: bounces go to Deps.Deliver.
// The stanza leaves on a stream from its sender's domain (the host or a
// local service); a stanza from elsewhere is dropped.
func (s *Server) Handle(ctx context.Context, el *wire.Element, send func(*wire.Element)) {
	to := el.Get("to")
	domain := domainOf(to)
	if domain == "" || s.ours(domain) {
		return
	}
	local := domainOf(el.Get("from"))
	if !s.ours(local) {
		s.log.Debug().Str("domain", domain).Msg("s2s stanza not from a local domain dropped")
		return
	}
	if s.Blocked(domain) {
		s.bounce(el, "cancel", "not-allowed", "The operator of this server blocks that domain.")
		return
	}
	if s.context().Err() != nil {
		s.bounce(el, "wait", "remote-server-timeout", "")
		return
	}
	out := convert(el, wire.NSClient, wire.NSServer)
	size := estimate(out)
	s.mu.Lock()
	key := linkKey{local, domain}
	l := s.links[key]
	if l == nil {
		l = &link{s: s, domain: domain, local: local, wake: make(chan struct{}, 1)}
		s.links[key] = l
	}
	s.mu.Unlock()
	l.mu.Lock()
	if l.qbytes+size > s.cfg.QueueBytes {
		l.mu.Unlock()
		s.bounce(el, "wait", "resource-constraint", "Too much is waiting for that server.")
		return
	}
	l.q = append(l.q, queued{el: out, orig: el, size: size, at: s.d.Now()})
	l.qbytes += size
	start := !l.running
	l.running = true
	l.mu.Unlock()
	if start {
		if !s.track() {
			l.mu.Lock()
			l.running = false
			rest := l.take()
			l.mu.Unlock()
			s.bounceAll(rest, "wait", "remote-server-timeout")
			return
		}
		go func() {
			defer s.wg.Done()
			l.run()
		}()
	}
	l.wakeUp()
}

// estimate is the queue's byte measure of a stanza: its encoded size.
func estimate(el *wire.Element) int { return len(el.Bytes(wire.NSServer)) + 64 }

func (l *link) wakeUp() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// take empties the queue. Called with l.mu held.
func (l *link) take() []queued {
	q := l.q
	l.q, l.qbytes = nil, 0
	return q
}

// takeBatch takes the queue under the link's lock and returns it with its
// elements, ready for one write.
func (l *link) takeBatch() ([]queued, []*wire.Element) {
	l.mu.Lock()
	batch := l.take()
	l.mu.Unlock()
	if len(batch) == 0 {
		return nil, nil
	}
	els := make([]*wire.Element, len(batch))
	for i, it := range batch {
		els[i] = it.el
	}
	return batch, els
}

// requeue puts items back at the head of the queue.
func (l *link) requeue(items []queued) {
	if len(items) == 0 {
		return
	}
	l.mu.Lock()
	n := 0
	for _, it := range items {
		n += it.size
	}
	l.q = append(append([]queued(nil), items...), l.q...)
	l.qbytes += n
	l.mu.Unlock()
}

// idle reports whether the queue is empty and, if so, marks the link as
// not running (so the next stanza starts a new goroutine).
func (l *link) stopIfIdle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.q) > 0 {
		return false
	}
	l.running = false
	return true
}

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// run connects and writes while stanzas wait; queued stanzas that cannot
// be sent within ConnectTimeout of the first failure are bounced.
func (l *link) run() {
	s := l.s
	ctx := s.context()
	backoff := minBackoff
	var failingSince time.Time
	for {
		if ctx.Err() != nil {
			l.mu.Lock()
			rest := l.take()
			l.running = false
			l.mu.Unlock()
			s.bounceAll(rest, "wait", "remote-server-timeout")
			return
		}
		if l.stopIfIdle() {
			return
		}
		if failingSince.IsZero() {
			failingSince = s.d.Now()
		}
		if b := s.bidiFor(linkKey{l.local, l.domain}); b != nil {
			// The peer's own stream carries ours too (XEP-0288).
			l.serveBidi(ctx, b)
			failingSince = time.Time{}
			continue
		}
		cctx, cancel := context.WithDeadline(ctx, failingSince.Add(s.cfg.ConnectTimeout))
		st, err := s.connect(cctx, l.local, l.domain, nil)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			cond := "remote-server-timeout"
			if errors.Is(err, errNotFound) || errors.Is(err, errAuth) {
				cond = "remote-server-not-found"
			}
			s.log.Debug().Str("domain", l.domain).Err(err).Msg("s2s connect failed")
			// During shutdown a failed attempt is not retried: the
			// grace is for links that connect, not for a peer that is
			// gone (it would hold the shutdown for the whole grace).
			if cond == "remote-server-not-found" || s.closing.Load() || s.d.Now().Sub(failingSince) >= s.cfg.ConnectTimeout {
				s.connLog("s2s-out-failed", l.domain)
				l.mu.Lock()
				rest := l.take()
				l.mu.Unlock()
				s.bounceAll(rest, "wait", cond)
				failingSince = time.Time{}
				backoff = minBackoff
				continue
			}
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		failingSince, backoff = time.Time{}, minBackoff
		s.connLog("s2s-out", l.domain)
		s.linkUp()
		clean := l.serve(ctx, st)
		s.connLog("s2s-out-closed", l.domain)
		s.linkDown() // after the log line: tests read them in this order
		if !clean {
			// Reconnect after a pause, not in a tight loop.
			t := time.NewTimer(minBackoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
}

// serve writes queued stanzas to an authenticated stream until it is idle
// for IdleTimeout, the peer closes it, a write fails or shutdown. Stanzas
// whose write failed go back to the queue. It reports whether the stream
// ended cleanly.
func (l *link) serve(ctx context.Context, st *stream) bool {
	s := l.s
	st.raw.SetDeadline(time.Time{})
	peerDone := make(chan error, 1)
	active := make(chan struct{}, 1) // the peer sent a stanza (bidi)
	go func() {
		for {
			el, err := st.next()
			if err != nil {
				peerDone <- err
				return
			}
			if el.Space == wire.NSStream && el.Local == "error" {
				peerDone <- streamErr("peer")
				return
			}
			// Stanzas on our outbound stream only when the peer agreed
			// to bidirectional use (XEP-0288); otherwise ignored.
			if st.bidi && el.Space == wire.NSServer && (el.Local == "message" || el.Local == "presence" || el.Local == "iq") {
				if err := s.bidiStanza(l, el); err != nil {
					peerDone <- err
					return
				}
				select {
				case active <- struct{}{}:
				default:
				}
			}
		}
	}()
	idle := time.NewTimer(s.cfg.IdleTimeout)
	defer idle.Stop()
	closeOut := func() {
		st.closeWith("")
		select {
		case <-peerDone:
		case <-time.After(5 * time.Second):
		}
		st.raw.Close()
	}
	for {
		batch, els := l.takeBatch()
		if len(batch) == 0 && s.closing.Load() {
			closeOut()
			return true
		}
		if len(batch) > 0 {
			if err := st.writeEls(els); err != nil {
				l.requeue(batch)
				st.raw.Close()
				<-peerDone
				return false
			}
			s.stats.Sent.Add(int64(len(batch)))
			if !idle.Stop() {
				select {
				case <-idle.C:
				default:
				}
			}
			idle.Reset(s.cfg.IdleTimeout)
			continue
		}
		select {
		case <-l.wake:
		case <-active:
			// Traffic the other way keeps the stream open too.
			if !idle.Stop() {
				select {
				case <-idle.C:
				default:
				}
			}
			idle.Reset(s.cfg.IdleTimeout)
		case err := <-peerDone:
			s.log.Debug().Err(err).Str("domain", l.domain).Msg("s2s peer closed")
			// The peer closed (a restart, its idle timeout): answer with
			// our closing tag; what is queued waits for the next stream.
			st.closeWith("")
			st.raw.Close()
			return errors.Is(err, io.EOF)
		case <-idle.C:
			closeOut()
			return true
		case <-ctx.Done():
			// Shutdown: what is queued (answers and bounces of the
			// inbound streams' last stanzas) goes out first.
			batch, els := l.takeBatch()
			if len(batch) > 0 {
				if err := st.writeEls(els); err != nil {
					l.requeue(batch)
				} else {
					s.stats.Sent.Add(int64(len(batch)))
				}
			}
			closeOut()
			return true
		}
	}
}

// bounceAll bounces stanzas that could not be sent.
func (s *Server) bounceAll(items []queued, typ, cond string) {
	for _, it := range items {
		s.bounce(it.orig, typ, cond, "")
	}
}

// bounce answers a stanza from a local sender that could not reach its
// remote recipient with a stanza error from the recipient's address
// (RFC 6120 §8.3); errors are never bounced, presence only for
// subscription requests' sake is not either.
func (s *Server) bounce(el *wire.Element, typ, cond, text string) {
	t := el.Get("type")
	if t == "error" || t == "result" || s.d.Deliver == nil {
		return
	}
	if el.Local == "presence" && t != "subscribe" {
		return // presence is not bounced (RFC 6121 §4.6.3 for directed)
	}
	s.stats.Bounced.Add(1)
	r := wire.New(wire.NSClient, el.Local, "type", "error", "id", el.Get("id"), "from", el.Get("to"), "to", el.Get("from"))
	r.Add(iq.StanzaError(typ, cond, text))
	s.d.Deliver(r)
}

// domainOf returns the domain of a JID string (no normalisation: stanzas
// arrive normalised from the router).
func domainOf(j string) string {
	if i := indexByte(j, '/'); i >= 0 {
		j = j[:i]
	}
	if i := indexByte(j, '@'); i >= 0 {
		j = j[i+1:]
	}
	return j
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
