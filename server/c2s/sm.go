package c2s

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"chatbx/server/wire"
)

// Stream Management (XEP-0198): acknowledgements and resumption.
//
// A session that sent <enable/> counts the stanzas it handled from the
// client (smState.in) and the stanzas it wrote to the client (out).
// Written stanzas stay in the unacknowledged buffer (unacked) until the
// client's <a h='…'/> covers them; the buffer counts against the same
// bounds as the outbound queue (Config.QueueMax, Config.QueueBytes), so
// a client that never acknowledges ends with policy-violation as a slow
// reader does. Offline messages written to an SM session are deleted from
// the store only when acknowledged.
//
// With resumption, a session whose transport is lost without a closing
// </stream> hibernates for the resumption window (Config.ResumeTimeout):
// it stays bound, its presence is unchanged, and stanzas for it queue up
// within the usual bounds. It holds no transport and no goroutine, only a
// timer. A new stream of the same account may take it over with
// <resume previd h/> after SASL: the unacknowledged stanzas are written
// again, in order, and the session continues. When the window ends (or the
// server shuts down) the queued messages go to offline storage and the
// session ends as if its stream had closed.

const (
	nsSM      = "urn:xmpp:sm:3"
	nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"

	// smAckEvery and smAckBytes: the server asks for an acknowledgement
	// (<r/>) once this many stanzas or bytes were written since it last
	// asked, so the unacknowledged buffer stays short on a busy link.
	smAckEvery = 10
	smAckBytes = 32 << 10
	// smResumeWait bounds how long a resumption waits for the session it
	// takes over to let go of its old transport.
	smResumeWait = 10 * time.Second
	// smShutdownWait bounds how long shutdown waits for a live session to
	// acknowledge what it was sent, so that only what it did not get is
	// stored offline.
	smShutdownWait = time.Second
)

// smAckDelay is how long a link may stay idle with unacknowledged
// stanzas before the server asks for an acknowledgement. A variable for
// tests.
var smAckDelay = time.Second

// smState is a session's XEP-0198 state. It is allocated at <enable/>,
// so sessions without stream management carry one nil pointer. in is the
// reader's; everything else is guarded by the owning session's mu (after
// a resumption, the new session's).
type smState struct {
	// id is the resumption id (128 random bits); empty without resumption.
	id string
	// max is the resumption window.
	max time.Duration
	// in counts stanzas handled from the client since <enable/>.
	in atomic.Uint32
	// counting is set once <enabled/> went out: outbound stanzas count
	// from there (XEP-0198 §4).
	counting bool
	// out counts stanzas written; acked is the client's last h. Both wrap
	// at 2^32 (XEP-0198 §4: h is an xs:unsignedInt).
	out, acked uint32
	// unacked holds the written stanzas the client has not acknowledged,
	// in order; ubytes is their estimated size.
	unacked []outItem
	ubytes  int
	// sinceReq and sinceReqBytes count what was written since the last <r/>.
	sinceReq, sinceReqBytes int
	ackTimer                *time.Timer

	// asleep: hibernated, no transport. parking: on the way there (the
	// writer is being stopped). holding: a resumption is writing
	// <resumed/>; nothing else may be written yet. Each stops the writer.
	asleep, parking, holding bool
	// expiring: the window ended and the queue is being stored offline.
	expiring bool
	// written is, while asleep, how many stanzas at the head of the queue
	// were written before the transport was lost (out - acked then).
	written uint32
	// slept, if not nil, is closed when the session hibernates (a
	// resumption that takes over a live session waits for it).
	slept  chan struct{}
	expiry *time.Timer
	// cur is the session that has the state now (the last resumption's).
	cur atomic.Pointer[Session]
	// drained, if not nil, is closed once nothing is queued or
	// unacknowledged (shutdown waits for it).
	drained chan struct{}
}

// key identifies the logical session: the same before and after a
// resumption (the state moves from session to session; no chain of old
// sessions is kept alive by it).
func (ss *Session) key() any {
	if sm := ss.sm.Load(); sm != nil {
		return sm
	}
	return ss
}

// writable reports whether the writer may run. Called with ss.mu held.
func (ss *Session) writable() bool {
	sm := ss.sm.Load()
	return sm == nil || (!sm.asleep && !sm.parking && !sm.holding)
}

// kick starts the writer if stanzas wait and it may run. Called with
// ss.mu held.
func (ss *Session) kick() {
	if len(ss.queue) > 0 && !ss.writing && !ss.closed && ss.writable() {
		ss.writing = true
		ss.writer.Add(1)
		go ss.writeLoop()
	}
}

// OnHibernated registers fn to run for every stanza queued to a
// hibernated session (XEP-0357 push: the device is away, the session
// waits for it), outside the session's locks, on the sender's goroutine;
// it must not block. Call before Run.
func (s *Server) OnHibernated(fn func(user string, el *wire.Element)) { s.onAsleep = fn }

// hibernated reports whether the session is hibernated or on its way
// there. Called with ss.mu held.
func (ss *Session) hibernated() bool {
	sm := ss.sm.Load()
	return sm != nil && (sm.asleep || sm.parking)
}

// smTake is the writer's part: of a batch taken from the queue, the
// stanzas after <enabled/> move to the unacknowledged buffer and are
// counted. It returns how many items at the head of the batch are not
// counted (the writer handles those as without stream management), the
// bytes moved out of the queue's count, and whether to ask for an ack
// after the batch. Called with ss.mu held.
func (ss *Session) smTake(sm *smState, batch []outItem) (keep int, moved int32, request bool) {
	keep = 0
	if !sm.counting {
		keep = len(batch)
		for i := range batch {
			if el := batch[i].el; el.Space == nsSM && el.Local == "enabled" {
				sm.counting = true
				keep = i + 1
				break
			}
		}
	}
	offline := false
	for _, it := range batch[keep:] {
		el := it.el
		if el.Space != wire.NSClient {
			if el.Space == nsSM && el.Local == "r" {
				sm.sinceReq, sm.sinceReqBytes = 0, 0
			}
			continue
		}
		size := encodedSize(el, wire.NSClient)
		sm.unacked = append(sm.unacked, it)
		sm.ubytes += size
		moved += int32(size)
		sm.out++
		sm.sinceReq++
		sm.sinceReqBytes += size
		offline = offline || it.offline != 0
	}
	// Offline messages are deleted only once acknowledged, and the next
	// page is read only then: ask at once.
	if sm.sinceReq >= smAckEvery || sm.sinceReqBytes >= smAckBytes || (offline && sm.sinceReq > 0) {
		sm.sinceReq, sm.sinceReqBytes = 0, 0
		request = true
	}
	return keep, moved, request
}

// smIdle arms the idle acknowledgement request when the writer stops with
// stanzas not yet covered by a request. Called with ss.mu held.
func (ss *Session) smIdle() {
	sm := ss.sm.Load()
	if sm == nil || sm.sinceReq == 0 || sm.asleep || ss.closed {
		return
	}
	if sm.ackTimer == nil {
		sm.ackTimer = time.AfterFunc(smAckDelay, func() { sm.cur.Load().smRequest() })
		return
	}
	sm.ackTimer.Reset(smAckDelay)
}

// smRequest queues an <r/> if written stanzas were not covered by one.
func (ss *Session) smRequest() {
	ss.mu.Lock()
	sm := ss.sm.Load()
	want := sm != nil && sm.sinceReq > 0 && !sm.asleep && !ss.closed
	ss.mu.Unlock()
	if want {
		ss.enqueue(outItem{el: smR()})
	}
}

func smR() *wire.Element { return wire.New(nsSM, "r") }

// newSMID returns a resumption id: 128 random bits.
func newSMID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// enableSM turns stream management on for the bound session ss and
// returns the <enabled/> answer. With resume (and a resumption window
// configured), the session may be resumed for min(max seconds, the
// window); max <= 0 means the window. With counting, outbound stanzas
// count from now (for inline enabling, XEP-0386 Bind2, where <enabled/>
// is part of the bind answer); otherwise they count once the returned
// element, queued with Send, was written. It returns a <failed/> if
// stream management is on already. Called by ss's reader.
func (ss *Session) enableSM(resume bool, max int, counting bool) *wire.Element {
	if ss.sm.Load() != nil {
		return smFailed("unexpected-request", -1)
	}
	s := ss.srv
	sm := &smState{counting: counting}
	sm.cur.Store(ss)
	el := wire.New(nsSM, "enabled")
	if resume && s.cfg.ResumeTimeout > 0 {
		sm.max = s.cfg.ResumeTimeout
		if max > 0 && time.Duration(max)*time.Second < sm.max {
			sm.max = time.Duration(max) * time.Second
		}
		sm.id = newSMID()
		el.Set("id", sm.id)
		el.Set("resume", "true")
		el.Set("max", strconv.Itoa(int(sm.max/time.Second)))
		if s.cfg.ResumeLocation != "" {
			el.Set("location", s.cfg.ResumeLocation)
		}
	}
	ss.mu.Lock()
	ss.sm.Store(sm)
	ss.mu.Unlock()
	if sm.id != "" {
		s.smIDs.Store(ss.user+"\x00"+sm.id, ss)
	}
	return el
}

// smFailed builds <failed/> with a stanza error condition and, if h >= 0,
// the h attribute.
func smFailed(cond string, h int64) *wire.Element {
	f := wire.New(nsSM, "failed")
	if h >= 0 {
		f.Set("h", strconv.FormatUint(uint64(h), 10))
	}
	return f.Add(wire.New(nsStanzas, cond))
}

// parseH parses an h attribute (XEP-0198 §4: xs:unsignedInt, 0 to
// 2^32-1): decimal digits only, leading zeros allowed, at most 32
// characters.
func parseH(s string) (uint32, bool) {
	if s == "" || len(s) > 32 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
		if v > 1<<32-1 {
			return 0, false
		}
	}
	return uint32(v), true
}

// dispatch handles one element of a bound stream: stream management and
// CSI nonzas here, stanzas in handle (counted for XEP-0198).
func (s *Server) dispatch(ctx context.Context, ss *Session, el *wire.Element) error {
	switch el.Space {
	case nsSM:
		return s.smNonza(ctx, ss, el)
	case nsCSI:
		return ss.csiNonza(el)
	}
	if err := s.handle(ctx, ss, el); err != nil {
		return err
	}
	if sm := ss.sm.Load(); sm != nil {
		sm.in.Add(1)
	}
	return nil
}

// smNonza handles <enable/>, <r/> and <a/> on a bound stream.
func (s *Server) smNonza(ctx context.Context, ss *Session, el *wire.Element) error {
	sm := ss.sm.Load()
	switch el.Local {
	case "enable":
		r := el.Get("resume")
		max, _ := strconv.Atoi(el.Get("max"))
		ss.Send(ss.enableSM(r == "true" || r == "1", max, false))
		return nil
	case "resume":
		ss.Send(smFailed("unexpected-request", -1))
		return nil
	case "r":
		if sm == nil {
			break
		}
		ss.Send(wire.New(nsSM, "a", "h", strconv.FormatUint(uint64(sm.in.Load()), 10)))
		return nil
	case "a":
		if sm == nil {
			break
		}
		h, ok := parseH(el.Get("h"))
		if !ok {
			return streamError("invalid-xml")
		}
		return ss.smAck(ctx, h)
	}
	return streamError("unsupported-stanza-type")
}

// smAck drops what the client acknowledged with h from the buffer and
// deletes acknowledged offline messages from the store. An h beyond what
// was written ends the stream (XEP-0198 §4, handled-count-too-high).
func (ss *Session) smAck(ctx context.Context, h uint32) error {
	ss.mu.Lock()
	sm := ss.sm.Load()
	n := h - sm.acked // modulo 2^32
	if n > uint32(len(sm.unacked)) {
		sent := sm.out
		ss.mu.Unlock()
		ss.srv.log.Warn().Str("conn", ss.id).Uint32("h", h).Uint32("sent", sent).Msg("sm handled count too high")
		return streamError("undefined-condition")
	}
	ids := sm.drop(int(n))
	sm.acked = h
	if sm.drained != nil && len(sm.unacked) == 0 && len(ss.queue) == 0 {
		close(sm.drained)
		sm.drained = nil
	}
	ss.wake()
	ss.mu.Unlock()
	if len(ids) > 0 {
		if err := ss.srv.db.DeleteOffline(ctx, ss.user, ids...); err != nil {
			ss.srv.log.Error().Err(err).Str("conn", ss.id).Msg("delete acknowledged offline messages")
		}
	}
	return nil
}

// drop removes the first n stanzas of the unacknowledged buffer and
// returns the store ids of the offline messages among them.
func (sm *smState) drop(n int) []uint64 {
	var ids []uint64
	for i := range sm.unacked[:n] {
		it := &sm.unacked[i]
		if it.offline != 0 {
			ids = append(ids, it.offline)
		}
		sm.ubytes -= encodedSize(it.el, wire.NSClient)
		*it = outItem{}
	}
	sm.unacked = sm.unacked[n:]
	if len(sm.unacked) == 0 {
		sm.unacked, sm.ubytes = nil, 0
	}
	return ids
}

// transportLost reports whether a reader error means the connection went
// away (rather than a clean </stream> or a protocol error): such a session
// hibernates when it may be resumed.
func transportLost(err error) bool {
	var se streamError
	switch {
	case errors.Is(err, io.EOF), errors.As(err, &se),
		errors.Is(err, wire.ErrTooLarge), errors.Is(err, wire.ErrNotWellFormed),
		errors.Is(err, wire.ErrRestricted), errors.Is(err, wire.ErrBadNamespace):
		return false
	}
	return true
}

// smPark runs when a bound stream's reader ends. A session that may be
// resumed and whose transport was lost hibernates: it reports true, and
// the caller leaves the session bound. Otherwise it forgets the
// resumption id and reports false.
func (s *Server) smPark(ss *Session, lost bool) bool {
	sm := ss.sm.Load()
	if sm == nil {
		return false
	}
	ss.mu.Lock()
	park := lost && sm.id != "" && ss.cond == "" && !ss.closed && !ss.overflow && !s.closing.Load()
	if !park {
		ss.mu.Unlock()
		s.smForget(ss, sm)
		return false
	}
	sm.parking = true // no writer starts from now on
	writing := ss.writing
	// What the client may not have seen yet is offered to the hibernation
	// hook (push) once the session sleeps; what queues from now on is
	// offered as it comes (Session.enqueue).
	var unseen []*wire.Element
	if s.onAsleep != nil {
		for _, q := range [][]outItem{sm.unacked, ss.queue} {
			for i := range q {
				if q[i].el.Space == wire.NSClient {
					unseen = append(unseen, q[i].el)
				}
			}
		}
	}
	ss.mu.Unlock()
	if writing {
		ss.tr.Hurry(time.Second)
		ss.writer.Wait()
	}
	s.release(ss)
	ss.mu.Lock()
	// What was written but not acknowledged goes back to the head of the
	// queue; the client's h at resumption says how much of it arrived.
	sm.written = sm.out - sm.acked
	q := make([]outItem, 0, len(sm.unacked)+len(ss.queue))
	q = append(append(q, sm.unacked...), ss.queue...)
	// What arrived before the transport was lost is stamped with the
	// loss, should the window end with it stored offline.
	lostAt := s.d.Now().UnixNano()
	for i := range q {
		if q[i].at == 0 {
			q[i].at = lostAt
		}
	}
	ss.queue = q
	ss.qbytes += int32(sm.ubytes)
	sm.unacked, sm.ubytes = nil, 0
	sm.sinceReq, sm.sinceReqBytes = 0, 0
	if sm.ackTimer != nil {
		sm.ackTimer.Stop()
	}
	ss.writeFailed = false
	// The connection ended: its logout line now, and a resumption logs
	// in again (one login and one logout per connection).
	if !ss.unlogged.Load() {
		s.connLog("logout", ss)
	}
	tr := ss.tr
	// A hibernated session keeps no transport (buffers, TLS state).
	ss.tr = parked{addr: tr.RemoteAddr(), kind: tr.Kind()}
	ss.spare = nil
	sm.parking, sm.asleep = false, true
	if sm.slept != nil {
		close(sm.slept)
		sm.slept = nil
	}
	// Closed while parking (a kick, a conflicting bind, shutdown): the
	// session ends now instead of waiting for the window.
	ended := ss.cond != "" || s.closing.Load()
	sm.expiry = time.AfterFunc(sm.max, func() {
		if !s.track() {
			return // shutting down: Run ends the session
		}
		defer s.sessions.Done()
		s.smExpire(ss)
	})
	ss.mu.Unlock()
	tr.Abort()
	s.log.Debug().Str("conn", ss.id).Msg("session hibernated")
	if ended {
		s.smExpire(ss)
		return true
	}
	for _, el := range unseen {
		s.onAsleep(ss.user, el)
	}
	return true
}

// smForget drops the resumption id and stops the timers.
func (s *Server) smForget(ss *Session, sm *smState) {
	if sm.id != "" {
		if s.smIDs.CompareAndDelete(ss.user+"\x00"+sm.id, ss) {
			now := s.d.Now()
			s.smGone.add(ss.user+"\x00"+sm.id, sm.in.Load(), now, now.Add(sm.max))
		}
	}
	ss.mu.Lock()
	if sm.ackTimer != nil {
		sm.ackTimer.Stop()
	}
	if sm.expiry != nil {
		sm.expiry.Stop()
	}
	ss.mu.Unlock()
}

// smExpire ends a hibernated session: the window ended, the server shuts
// down, or another session took its place (a conflicting bind, a kick).
// Queued messages go to offline storage first, in order, then the session
// leaves the table and its contacts learn it is gone. It reports false if
// ss was not hibernated.
func (s *Server) smExpire(ss *Session) bool {
	ss.mu.Lock()
	sm := ss.sm.Load()
	if sm == nil || !sm.asleep || ss.closed || sm.expiring {
		ss.mu.Unlock()
		return false
	}
	sm.expiring = true
	if sm.expiry != nil {
		sm.expiry.Stop()
	}
	ss.mu.Unlock()
	s.smForget(ss, sm)
	// Stanzas keep arriving until the session is closed: store in rounds,
	// so what is stored keeps the order in which it came.
	for {
		ss.mu.Lock()
		rest := ss.queue
		ss.queue, ss.qbytes = nil, 0
		rest = ss.csiRest(rest)
		if len(rest) == 0 {
			ss.closed = true
			ss.wake()
			ss.mu.Unlock()
			break
		}
		ss.wake()
		ss.mu.Unlock()
		s.storeUndelivered(ss.user, rest)
	}
	s.unbind(ss)
	s.log.Debug().Str("conn", ss.id).Msg("hibernated session ended")
	close(ss.done)
	return true
}

// smShutdown starts the end of a live session with stream management at
// shutdown: it asks for an acknowledgement of everything sent, and closes
// the stream once it came or after smShutdownWait, so that what the client
// acknowledged is not stored offline again (never delivered twice). It
// reports false, doing nothing, for any other session. Called by Run only,
// before it waits for the sessions.
func (ss *Session) smShutdown() bool {
	ss.mu.Lock()
	sm := ss.sm.Load()
	if sm == nil || !sm.counting || sm.asleep || sm.parking || ss.closed || ss.cond != "" ||
		(len(sm.unacked) == 0 && len(ss.queue) == 0) {
		ss.mu.Unlock()
		return false
	}
	if sm.drained == nil {
		sm.drained = make(chan struct{})
	}
	ch := sm.drained
	ss.mu.Unlock()
	ss.enqueue(outItem{el: smR()})
	ss.srv.sessions.Add(1)
	go func() {
		defer ss.srv.sessions.Done()
		t := time.NewTimer(smShutdownWait)
		defer t.Stop()
		select {
		case <-ch:
		case <-t.C:
		}
		ss.closeWith("system-shutdown", "")
		ss.mu.Lock()
		tr := ss.tr
		ss.mu.Unlock()
		tr.Hurry(time.Second)
	}()
	return true
}

// smEnd ends ss at once if it is hibernated (closeWith's path for a
// session without a transport); it reports whether it was.
func (ss *Session) smEnd() bool {
	ss.mu.Lock()
	sm := ss.sm.Load()
	asleep := sm != nil && sm.asleep
	ss.mu.Unlock()
	if !asleep {
		return false
	}
	ss.srv.smExpire(ss)
	return true
}

// negotiateSM is the stream feature's negotiation after authentication:
// <resume/> takes over a hibernated session; <enable/> before bind is
// refused (XEP-0198 §3: after binding). After a failure the client may
// bind.
func (ss *Session) negotiateSM(ctx context.Context, el *wire.Element) (step, error) {
	switch el.Local {
	case "resume":
		answer, ok := ss.resumeSM(ctx, el.Get("previd"), el.Get("h"))
		if ok {
			// A failed write shows up as a lost transport in the stanza
			// loop: the session hibernates again.
			ss.writeEl(answer)
			ss.smRelease()
			return stepBound, nil
		}
		if err := ss.writeEl(answer); err != nil {
			return 0, err
		}
	case "enable":
		if err := ss.writeEl(smFailed("unexpected-request", -1)); err != nil {
			return 0, err
		}
	default:
		return 0, streamError("unsupported-stanza-type")
	}
	return ss.bind(ctx, nil)
}

// resumeSM resumes the hibernated session previd of the authenticated
// account on the unbound session ss (XEP-0198 §5). On success ss takes
// the old session's place: it is bound with the same resource and state,
// and answer is the <resumed/> for the caller to write (or to embed, for
// SASL2's inline resumption); nothing else is written until the caller
// then calls smRelease, after which the stanzas the client's h does not
// cover are written again, in order, followed by what queued meanwhile.
// Otherwise it returns the <failed/> to write (item-not-found when the
// session is gone or belongs to another account) and ss is unchanged. A
// live session that is resumed loses its transport first. Called by ss's
// reader after SASL, before bind.
func (ss *Session) resumeSM(ctx context.Context, previd, hs string) (answer *wire.Element, ok bool) {
	s := ss.srv
	h, valid := parseH(hs)
	if !valid || previd == "" {
		return smFailed("bad-request", -1), false
	}
	v, found := s.smIDs.Load(ss.user + "\x00" + previd)
	if !found || ss.user == "" || s.closing.Load() {
		// XEP-0198 §5: for a session that ended lately, h tells the
		// client which of its stanzas arrived, so it resends only the rest.
		hIn := int64(-1)
		if n, ok := s.smGone.get(ss.user+"\x00"+previd, s.d.Now()); ok && ss.user != "" {
			hIn = int64(n)
		}
		return smFailed("item-not-found", hIn), false
	}
	old := v.(*Session)
	if old.user != ss.user {
		return smFailed("item-not-found", -1), false
	}
	sm := old.sm.Load()
	old.mu.Lock()
	if !sm.asleep && !old.closed && old.cond == "" {
		// Still connected as far as the server knows (or on its way to
		// hibernation): its transport is dropped and the session
		// hibernates before it is taken over.
		if sm.slept == nil {
			sm.slept = make(chan struct{})
		}
		ch, tr := sm.slept, old.tr
		old.mu.Unlock()
		tr.Abort()
		tr.Interrupt() // the reader ends even if Abort leaves it waiting
		select {
		case <-ch:
		case <-time.After(smResumeWait):
		case <-ctx.Done():
		}
		old.mu.Lock()
	}
	if !sm.asleep || old.closed || sm.expiring {
		old.mu.Unlock()
		return smFailed("item-not-found", -1), false
	}
	n := h - sm.acked
	if n > sm.written {
		old.mu.Unlock()
		s.log.Warn().Str("conn", ss.id).Msg("sm resume with handled count too high")
		// h is what the server handled of the client's stanzas (§5).
		return smFailed("unexpected-request", int64(sm.in.Load())), false
	}
	// Take over, under both locks: from here on the old session forwards
	// what it is sent to ss, whose writer waits for <resumed/>.
	var ids []uint64
	dropped := int32(0)
	for i := range old.queue[:n] {
		it := &old.queue[i]
		if it.offline != 0 {
			ids = append(ids, it.offline)
		}
		dropped += int32(encodedSize(it.el, wire.NSClient))
	}
	ss.mu.Lock()
	ss.queue = append([]outItem(nil), old.queue[n:]...)
	ss.qbytes = max(0, old.qbytes-dropped)
	sm.out, sm.acked, sm.written = h, h, 0
	sm.asleep, sm.holding = false, true
	if sm.expiry != nil {
		sm.expiry.Stop()
	}
	ss.resource, ss.bare, ss.full = old.resource, old.bare, old.full
	ss.available.Store(old.available.Load())
	ss.priority.Store(old.priority.Load())
	ss.interested.Store(old.interested.Load())
	ss.blockAware.Store(old.blockAware.Load())
	ss.carbons.Store(old.carbons.Load())
	ss.presence.Store(old.presence.Load())
	ss.caps.Store(old.caps.Load())
	ss.directed, old.directed = old.directed, nil
	ss.csi, old.csi = old.csi, nil
	ss.done = old.done // the logical session ends once
	ss.sm.Store(sm)
	sm.cur.Store(ss)
	ss.mu.Unlock()
	clear(old.queue)
	old.queue, old.qbytes = nil, 0
	old.closed = true
	old.next = ss
	old.wake()
	old.mu.Unlock()

	s.router.Bind(ss) // replaces old, which forwards to ss
	s.smIDs.Store(ss.user+"\x00"+sm.id, ss)
	if len(ids) > 0 {
		if err := s.db.DeleteOffline(ctx, ss.user, ids...); err != nil {
			s.log.Error().Err(err).Str("conn", ss.id).Msg("delete acknowledged offline messages")
		}
	}
	s.log.Debug().Str("conn", ss.id).Msg("session resumed")
	return wire.New(nsSM, "resumed", "previd", previd, "h", strconv.FormatUint(uint64(sm.in.Load()), 10)), true
}

// smRelease lets the writer of a resumed session run, once <resumed/> was
// written: it resends what the client did not acknowledge.
func (ss *Session) smRelease() {
	ss.mu.Lock()
	if sm := ss.sm.Load(); sm != nil {
		sm.holding = false
	}
	ss.kick()
	ss.mu.Unlock()
}

// parked stands in for the transport of a hibernated session: it keeps
// only what the connection log needs.
type parked struct {
	addr net.Addr
	kind string
}

var errParked = errors.New("c2s: session hibernated")

func (parked) ReadOpen() (*wire.Element, error)      { return nil, errParked }
func (parked) WriteOpen(string, *wire.Element) error { return errParked }
func (parked) Next() (*wire.Element, error)          { return nil, errParked }
func (parked) SetLimit(int)                          {}
func (parked) Write([]*wire.Element) error           { return errParked }
func (parked) WriteRaw([]byte) error                 { return errParked }
func (parked) Close(string, []*wire.Element) error   { return errParked }
func (parked) Abort()                                {}
func (parked) Hurry(time.Duration)                   {}
func (parked) Interrupt()                            {}
func (parked) TLS() *tls.ConnectionState             { return nil }
func (p parked) RemoteAddr() net.Addr                { return p.addr }
func (p parked) Kind() string                        { return p.kind }

// smInline enables stream management inside a Bind2 request (XEP-0386
// §2.4, XEP-0198 §3): counting starts at once, as <enabled/> goes out in
// <bound/>. Its signature is that of a Bind2 inline feature's Enable.
func smInline(_ context.Context, ss *Session, el *wire.Element) *wire.Element {
	if el.Local != "enable" {
		return nil
	}
	r := el.Get("resume")
	max, _ := strconv.Atoi(el.Get("max"))
	return ss.enableSM(r == "true" || r == "1", max, true)
}

// smGone remembers, for a while after a resumable session ended, how many
// of its client's stanzas the server handled, so that a late <resume/>
// gets <failed h=…/> (XEP-0198 §5). Keys are user + "\x00" + resumption
// id (random, so nobody learns another account's count); at most
// maxSMGone entries, each kept for one resumption window.
type smGone struct {
	mu sync.Mutex
	m  map[string]smGoneEntry
}

type smGoneEntry struct {
	h     uint32
	until time.Time
}

const maxSMGone = 4096

func (g *smGone) add(key string, h uint32, now, until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = make(map[string]smGoneEntry)
	}
	if len(g.m) >= maxSMGone {
		for k, e := range g.m {
			if e.until.Before(now) {
				delete(g.m, k)
			}
		}
		for k := range g.m {
			if len(g.m) < maxSMGone {
				break
			}
			delete(g.m, k) // full of live entries: any one goes
		}
	}
	g.m[key] = smGoneEntry{h: h, until: until}
}

func (g *smGone) get(key string, now time.Time) (uint32, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.m[key]
	if !ok || now.After(e.until) {
		delete(g.m, key)
		return 0, false
	}
	return e.h, true
}
