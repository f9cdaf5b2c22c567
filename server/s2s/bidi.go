package s2s

import (
	"context"
	"errors"
	"sync"
	"time"

	"chatbx/server/wire"
)

// Bidirectional streams (XEP-0288): a peer that authenticated with its
// certificate (SASL EXTERNAL) may ask, before authenticating, that its
// stream carry stanzas both ways; our stanzas for its domain then go back
// over that stream instead of a connection of our own. Both sides do it:
// outbound we ask for it when the peer offers it and its certificate
// authenticated it; inbound we offer it and, once the peer asked and
// authenticated, register the stream for the pair (our domain, its
// domain). Dialback-authenticated streams stay one-way.

// Namespaces of XEP-0288.
const (
	nsBidi     = "urn:xmpp:bidi"
	nsBidiFeat = "urn:xmpp:features:bidi"
)

// errBidiClosed is returned by writes to a bidirectional stream that ended.
var errBidiClosed = errors.New("s2s: bidirectional stream closed")

// bidiStream is an inbound stream our stanzas may use.
type bidiStream struct {
	st   *stream
	key  linkKey
	done chan struct{} // closed when it can no longer be written

	mu     sync.Mutex
	closed bool
}

// write writes a batch unless the stream is closing, and keeps the
// stream's read deadline (idle) from ending it while we use it; safe for
// concurrent use with stopBidi.
func (b *bidiStream) write(els []*wire.Element, idle time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errBidiClosed
	}
	if err := b.st.writeEls(els); err != nil {
		return err
	}
	b.st.raw.SetReadDeadline(time.Now().Add(2 * idle))
	return nil
}

// attachBidi registers an inbound stream for its pair of domains.
func (s *Server) attachBidi(in *inbound) {
	b := &bidiStream{st: in.st, key: linkKey{in.local, in.authed}, done: make(chan struct{})}
	s.mu.Lock()
	if s.bidi == nil {
		s.bidi = map[linkKey]*bidiStream{}
	}
	s.bidi[b.key] = b
	l := s.links[b.key]
	s.mu.Unlock()
	in.bidi.Store(b)
	s.connLog("s2s-bidi", in.authed)
	if l != nil {
		l.wakeUp() // a link waiting for a connection may use it
	}
}

// stopBidi ends the use of an inbound stream for our stanzas: after it
// returns, no link writes to it (the stream may be closed).
func (s *Server) stopBidi(b *bidiStream) {
	if b == nil {
		return
	}
	s.mu.Lock()
	if s.bidi[b.key] == b {
		delete(s.bidi, b.key)
	}
	s.mu.Unlock()
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.done)
	}
	b.mu.Unlock()
}

// bidiFor returns the bidirectional stream for a pair, or nil.
func (s *Server) bidiFor(key linkKey) *bidiStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bidi[key]
}

// serveBidi writes queued stanzas to a peer's bidirectional stream until
// the queue is idle for IdleTimeout, the stream ends or a write fails
// (the batch goes back to the queue), or shutdown. The stream belongs to
// its inbound side, which closes it.
func (l *link) serveBidi(ctx context.Context, b *bidiStream) {
	s := l.s
	idle := time.NewTimer(s.cfg.IdleTimeout)
	defer idle.Stop()
	for {
		batch, els := l.takeBatch()
		if len(batch) > 0 {
			if err := b.write(els, s.cfg.IdleTimeout); err != nil {
				l.requeue(batch)
				s.stopBidi(b)
				return
			}
			s.stats.Sent.Add(int64(len(batch)))
			idle.Reset(s.cfg.IdleTimeout)
			continue
		}
		if s.closing.Load() {
			return
		}
		select {
		case <-l.wake:
		case <-b.done:
			return
		case <-idle.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// bidiStanza handles a stanza the peer sent on our outbound stream after
// it agreed to bidirectional use: from at the domain its certificate
// authenticated, to at our domain of the stream, at the same rate as an
// inbound stream's.
func (s *Server) bidiStanza(l *link, el *wire.Element) error {
	from, to := el.Get("from"), el.Get("to")
	if from == "" || to == "" {
		return streamErr("improper-addressing")
	}
	if normalise(domainOf(from)) != l.domain {
		return streamErr("invalid-from")
	}
	if normalise(domainOf(to)) != l.local {
		return streamErr("host-unknown")
	}
	if err := s.rates.wait(context.WithoutCancel(s.context()), l.domain, s.d.Now); err != nil {
		return err
	}
	s.stats.Received.Add(1)
	if s.d.Deliver != nil {
		s.d.Deliver(convert(el, wire.NSServer, wire.NSClient))
	}
	return nil
}
