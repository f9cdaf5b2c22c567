package c2s

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"chatbx/server/iq"
	"chatbx/server/wire"
)

// Session is one client stream. It has one reader goroutine (serve) and a
// writer goroutine that runs only while stanzas are queued, so an idle
// session costs one goroutine.
type Session struct {
	srv *Server
	tr  Transport // TCP or WebSocket
	id  string    // random connection id for logs

	user, resource string
	full, bare     string

	// Presence state, owned by the reader goroutine except where atomic.
	available  atomic.Bool  // initial presence sent and not unavailable
	priority   atomic.Int32 // of the last available presence
	interested atomic.Bool  // requested the roster (RFC 6121 §2.1.6)
	blockAware atomic.Bool  // requested the blocklist (XEP-0191 §3.5)
	carbons    atomic.Bool  // enabled Message Carbons (XEP-0280)
	presence   atomic.Pointer[wire.Element]
	caps       atomic.Pointer[caps]
	directed   map[string]bool // full/bare JIDs that got directed presence

	// Outbound queue.
	mu      sync.Mutex
	queue   []outItem
	writing bool
	closed  bool
	// writeFailed is set when a write failed; finish then stores what is
	// left instead of writing it.
	writeFailed bool
	// qbytes is the estimated encoded size of the queue plus the batch
	// being written (see encodedSize); bounded by Config.QueueBytes.
	qbytes int32
	writer sync.WaitGroup
	spare  []outItem // reused between write bursts
	cond   string    // stream error to send when closing
	done   chan struct{}

	pinged   atomic.Bool
	unlogged atomic.Bool // its account is being deleted: no logout line
	// overflow is set when the queue was full: finish stores what is
	// queued instead of writing it to a client that does not keep up.
	overflow bool
	// waiting is set while offline delivery waits for room in the queue
	// (on a channel in Server.rooms: idle sessions carry no channel).
	waiting bool
	// authed and released track the server's connection counts (owned
	// by the reader goroutine): authed once the unauthenticated count was
	// released, released once the connection count was.
	authed, released bool
	// lost is set when the reader ended because the transport went away
	// (XEP-0198: the session may hibernate). Owned by the reader.
	lost    bool
	preauth string // XEP-0401 token accepted before registration

	// sm is the XEP-0198 state, nil until <enable/> (sm.go).
	sm atomic.Pointer[smState]
	// csi is the XEP-0352 state, nil until <inactive/> (csi.go); next is
	// the session that resumed this one (sm.go). Both guarded by mu.
	csi  *csiState
	next *Session
}

type outItem struct {
	el *wire.Element
	// offline is the store id of an offline message; it is deleted once
	// written to the socket.
	offline uint64
	// at (Unix nanoseconds) is when a stanza reached a session that
	// stream management holds without a transport, or when the session
	// lost its transport for what was queued before; 0 otherwise. It is
	// the <delay/> stamp if the window ends and the message is stored.
	at int64
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// User returns the session's localpart.
func (s *Session) User() string { return s.user }

// Resource returns the bound resource.
func (s *Session) Resource() string { return s.resource }

// JID returns the bound full JID.
func (s *Session) JID() string { return s.full }

// Send queues a stanza for the client. It never blocks; when the queue is
// full (Config.QueueMax stanzas or Config.QueueBytes bytes) the session is
// ended with <policy-violation/> (a slow reader must not hold up its
// senders, nor hold unbounded memory) and Send reports false.
func (s *Session) Send(el *wire.Element) bool {
	return s.enqueue(outItem{el: el})
}

// enqueue queues it. An offline message (it.offline != 0) is queued by the
// session's own reader (offline delivery at login), which waits for room
// instead: offline messages fill at most half of the queue, so a backlog
// larger than the queue reaches the client as fast as it reads, and live
// stanzas still have room. enqueue reports false when the session is
// ending.
func (s *Session) enqueue(it outItem) bool {
	size := encodedSize(it.el, wire.NSClient)
	cfg := &s.srv.cfg
	s.mu.Lock()
	if s.closed {
		// After a resumption (XEP-0198), the new session takes it.
		next := s.next
		s.mu.Unlock()
		return next != nil && next.enqueue(it)
	}
	if it.offline == 0 && s.csi != nil && s.csiHold(it) {
		s.mu.Unlock()
		return true
	}
	if it.offline != 0 {
		for !s.fits(size, cfg.QueueMax/2, cfg.QueueBytes/2) {
			if s.cond != "" || s.writeFailed {
				s.mu.Unlock()
				return false
			}
			room := s.srv.room(s)
			s.waiting = true
			s.mu.Unlock()
			<-room
			s.mu.Lock()
			if s.closed {
				next := s.next
				s.mu.Unlock()
				return next != nil && next.enqueue(it)
			}
		}
	} else if !s.fits(size, cfg.QueueMax, cfg.QueueBytes) {
		n, queued, first := len(s.queue), s.qbytes, !s.overflow
		s.overflow = true
		s.mu.Unlock()
		if first {
			s.srv.log.Warn().Str("conn", s.id).Int("stanzas", n).Int32("bytes", queued).Msg("queue full")
			s.srv.d.Metrics.QueueDrop()
			s.closeWith("policy-violation", "")
		}
		return false
	}
	if sm := s.sm.Load(); sm != nil && sm.asleep && it.at == 0 {
		it.at = s.srv.d.Now().UnixNano()
	}
	s.queue = append(s.queue, it)
	s.qbytes += int32(size)
	start := !s.writing && s.writable()
	if start {
		s.writing = true
		s.writer.Add(1)
	}
	asleep := !start && s.srv.onAsleep != nil && s.hibernated()
	s.mu.Unlock()
	if start {
		go s.writeLoop()
	}
	if asleep {
		s.srv.onAsleep(s.user, it.el)
	}
	return true
}

// fits reports whether an element of size bytes may join the queue when
// it may hold max stanzas and maxBytes bytes. An empty queue takes any one
// element, however large (the server's own replies, such as a long roster,
// may exceed a small byte limit). Called with s.mu held.
func (s *Session) fits(size, max, maxBytes int) bool {
	n, b := len(s.queue), int(s.qbytes)
	if sm := s.sm.Load(); sm != nil {
		// XEP-0198: the unacknowledged stanzas count too.
		n, b = n+len(sm.unacked), b+sm.ubytes
	}
	if n == 0 && b == 0 {
		return true
	}
	return n < max && b+size <= maxBytes
}

// wake releases an offline delivery waiting for room. Called with s.mu
// held.
func (s *Session) wake() {
	if s.waiting {
		s.waiting = false
		s.srv.wakeRoom(s)
	}
}

// encodedSize estimates the size of el's encoding cheaply, in one walk
// without allocating: names, attribute values and text unescaped, plus the
// markup around them. The queue bound needs an estimate that follows the
// real size, not the exact byte count.
func encodedSize(el *wire.Element, parentNS string) int {
	n := 2*len(el.Local) + 5 // <x></x>
	if el.Space != parentNS {
		n += len(el.Space) + 9 // xmlns='…'
	}
	for i := range el.Attr {
		a := &el.Attr[i]
		n += len(a.Space) + len(a.Local) + len(a.Value) + 4
	}
	for i := range el.Children {
		if c := &el.Children[i]; c.El != nil {
			n += encodedSize(c.El, el.Space)
		} else {
			n += len(c.Text)
		}
	}
	return n
}

// writeLoop drains the queue in batches, one TLS write per batch, and exits
// when the queue is empty.
func (s *Session) writeLoop() {
	defer s.writer.Done()
	var els []*wire.Element
	s.mu.Lock()
	batch := s.spare // the previous burst's slice: no allocation per burst
	s.spare = nil
	s.mu.Unlock()
	var sent int32 // bytes of the batch just written
	for {
		s.mu.Lock()
		s.qbytes -= sent
		sent = 0
		s.wake()
		if len(s.queue) == 0 || s.closed || !s.writable() {
			s.writing = false
			s.smIdle()
			if cap(batch) <= 32 {
				// Keep a small slice for the next burst; a big one from a
				// flood is dropped so idle sessions stay small.
				s.spare = batch[:0]
			}
			s.mu.Unlock()
			return
		}
		batch, s.queue = s.queue, batch[:0]
		sent = s.qbytes // the batch is everything that was queued
		// keep: the head of the batch that is not counted by XEP-0198
		// (all of it without stream management).
		keep, request := len(batch), false
		if sm := s.sm.Load(); sm != nil {
			var moved int32
			keep, moved, request = s.smTake(sm, batch)
			sent -= moved
		}
		tr := s.tr
		s.mu.Unlock()
		els = els[:0]
		for _, it := range batch {
			els = append(els, it.el)
		}
		if request {
			els = append(els, smR())
		}
		err := tr.Write(els)
		clear(els)
		if err != nil {
			s.mu.Lock()
			// Put the unwritten batch back; finish stores it. (Counted
			// stanzas stay in the XEP-0198 buffer.)
			s.queue = append(batch[:keep], s.queue...)
			s.writeFailed = true
			s.writing = false
			s.wake()
			s.mu.Unlock()
			tr.Abort() // the reader ends and finish runs
			return
		}
		var ids []uint64
		for i := range batch {
			if i < keep && batch[i].offline != 0 {
				ids = append(ids, batch[i].offline)
			}
			batch[i] = outItem{}
		}
		if len(ids) > 0 {
			if err := s.srv.db.DeleteOffline(context.Background(), s.user, ids...); err != nil {
				s.srv.log.Error().Err(err).Str("conn", s.id).Msg("delete delivered offline messages")
			}
		}
	}
}

// closeWith ends the stream with a stream error condition (empty: a plain
// close). Queued stanzas are written first when possible. Safe to call from
// any goroutine, more than once.
func (s *Session) closeWith(condition, text string) {
	if s.smEnd() {
		return // it was hibernated (XEP-0198): ended now
	}
	s.mu.Lock()
	if s.closed || s.cond != "" {
		s.mu.Unlock()
		return
	}
	if condition == "" {
		condition = "-"
	}
	s.cond = condition
	s.wake()
	tr := s.tr
	s.mu.Unlock()
	// Unblock the reader; serve's cleanup writes the error and closes.
	tr.Interrupt()
}

// shutdown is closeWith(system-shutdown) for the server's shutdown. A
// write stuck on a client that does not read gets a second, also when the
// stream was already closing for another reason.
func (s *Session) shutdown() {
	s.closeWith("system-shutdown", "")
	s.mu.Lock()
	tr := s.tr
	s.mu.Unlock()
	tr.Hurry(time.Second)
}

// finish runs once when the reader ends: it flushes what it can, sends the
// stream error and </stream:stream>, closes the connection and moves
// undelivered messages to offline storage.
//
// peerClosed means the client ended its stream or connection: queued
// stanzas are then stored rather than written to a reader that is gone.
func (s *Session) finish(condition string, peerClosed bool) {
	s.srv.release(s)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.cond != "" && s.cond != "-" {
		condition = s.cond
	}
	s.closed = true // enqueue refuses from now on; the writer stops
	writing, overflow := s.writing, s.overflow
	s.mu.Unlock()
	if writing {
		// Let the writer finish its batch; one stuck on a reader that does
		// not read fails within a second. After an overflow it keeps its
		// write timeout: the client learns why its stream ended if it
		// reads now, and the queue it may fill is bounded.
		if !overflow || s.srv.closing.Load() {
			s.tr.Hurry(time.Second)
		}
		s.writer.Wait()
	}
	s.mu.Lock()
	rest := s.csiRest(s.queue)
	s.queue = nil
	failed := s.writeFailed
	var unacked []outItem
	sm := s.sm.Load()
	if sm != nil {
		unacked, sm.unacked, sm.ubytes = sm.unacked, nil, 0
	}
	s.mu.Unlock()
	if sm != nil {
		// XEP-0198: what the client did not acknowledge may not have
		// arrived, and what is queued would not be acknowledged any more:
		// both wait offline (acknowledged offline messages were deleted).
		rest = append(unacked, rest...)
		peerClosed = true
	}

	if failed || peerClosed || overflow {
		// Nobody reads, or not fast enough: keep messages for later
		// delivery (RFC 6121 §8.5.2.1.1). Part of a failed batch may have
		// reached the client; a duplicate beats a loss.
		s.srv.storeUndelivered(s.user, rest)
		rest = nil
	}
	if failed {
		s.tr.Abort()
		return
	}
	els := make([]*wire.Element, len(rest))
	for i, it := range rest {
		els[i] = it.el
	}
	if werr := s.tr.Close(condition, els); werr != nil {
		s.srv.storeUndelivered(s.user, rest)
	} else {
		var ids []uint64
		for _, it := range rest {
			if it.offline != 0 {
				ids = append(ids, it.offline)
			}
		}
		if len(ids) > 0 {
			s.srv.db.DeleteOffline(context.Background(), s.user, ids...)
		}
	}
}

func writeStreamError(b *bytes.Buffer, condition, text string) {
	b.WriteString(`<stream:error><`)
	b.WriteString(condition)
	b.WriteString(` xmlns="urn:ietf:params:xml:ns:xmpp-streams"/>`)
	if text != "" {
		b.WriteString(`<text xmlns="urn:ietf:params:xml:ns:xmpp-streams">`)
		b.WriteString(text)
		b.WriteString(`</text>`)
	}
	b.WriteString(`</stream:error>`)
}

// streamCondition maps a reader error to a stream error condition.
func streamCondition(err error) string {
	switch {
	case err == nil, errors.Is(err, io.EOF):
		return ""
	case errors.Is(err, wire.ErrTooLarge):
		return "policy-violation"
	case errors.Is(err, wire.ErrNotWellFormed), errors.Is(err, io.ErrUnexpectedEOF):
		return "not-well-formed"
	case errors.Is(err, wire.ErrRestricted):
		return "restricted-xml"
	case errors.Is(err, wire.ErrBadNamespace):
		return "invalid-namespace"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "connection-timeout"
	}
	var se streamError
	if errors.As(err, &se) {
		return string(se)
	}
	return "undefined-condition"
}

// streamError is an error that ends the stream with that condition.
type streamError string

func (e streamError) Error() string { return "stream error: " + string(e) }

// idleConn wraps the TCP connection so that every read has a deadline of
// the idle timeout. When it passes, the server pings the client once
// (XEP-0199) and waits a little longer before giving up.
type idleConn struct {
	net.Conn
	s       *Session
	timeout time.Duration
	// deadline, while not zero, is the absolute negotiation deadline.
	deadline time.Time
	// set is when the idle deadline was last moved; it is refreshed at
	// most once a second (a deadline update is a clock read and a timer
	// change per TLS record otherwise).
	set time.Time
}

func (c *idleConn) Read(p []byte) (int, error) {
	for {
		if !c.deadline.IsZero() {
			c.Conn.SetReadDeadline(c.deadline)
		} else if now := time.Now(); now.Sub(c.set) > time.Second || c.s.pinged.Load() {
			c.set = now
			c.Conn.SetReadDeadline(now.Add(c.timeout))
		}
		// Checked after setting the deadline: closeWith marks the session
		// before it moves the deadline into the past, so one of the two
		// always wins.
		if c.s.closing() {
			return 0, os.ErrDeadlineExceeded
		}
		n, err := c.Conn.Read(p)
		if n > 0 || err == nil {
			c.s.pinged.Store(false)
			return n, err
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && c.s.full != "" && !c.s.pinged.Load() && !c.s.closing() {
			c.s.pinged.Store(true)
			c.s.Send(wire.New(wire.NSClient, "iq", "type", "get", "id", "ping-"+newID(),
				"to", c.s.full, "from", c.s.srv.cfg.Domain).Add(wire.New("urn:xmpp:ping", "ping")))
			continue
		}
		return n, err
	}
}

func (s *Session) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cond != "" || s.closed
}

// mark switches a session opt-in (iq.Context.Mark).
func (s *Session) mark(f iq.Flag, on bool) {
	switch f {
	case iq.FlagRoster:
		s.interested.Store(on)
	case iq.FlagBlocklist:
		s.blockAware.Store(on)
	case iq.FlagCarbons:
		s.carbons.Store(on)
	}
}

// flag reports a session opt-in.
func (s *Session) flag(f iq.Flag) bool {
	switch f {
	case iq.FlagRoster:
		return s.interested.Load()
	case iq.FlagBlocklist:
		return s.blockAware.Load()
	case iq.FlagCarbons:
		return s.carbons.Load()
	}
	return false
}

// StreamError returns an error that ends a stream with the given RFC 6120
// §4.9.3 condition; transports outside this package use it for framing
// errors they find.
func StreamError(condition string) error { return streamError(condition) }
