package c2s

import (
	"context"
	"sync"

	"chatbx/server/wire"
)

// Hooks let feature packages (PEP, XEP-0163) follow presence and talk to
// sessions: set them before Run; they are read-only afterwards.
type Hooks struct {
	// Presence runs on the session's reader after each available
	// presence broadcast (initial: the session's first; capsChanged: the
	// XEP-0115 caps differ from the previous presence's).
	Presence func(ctx context.Context, user string, st SessionState, initial, capsChanged bool)
	// Subscribed runs when user's subscription to contact (a bare JID)
	// was approved (RFC 6121 §3.1.6).
	Subscribed func(ctx context.Context, user, contact string)
	// Answer is offered the IQ results and errors addressed to an
	// account's bare JID (answers to IQs the server sent on the
	// account's behalf, such as push notifications); it reports whether
	// it took the answer. Others are dropped (RFC 6120 §8.2.3: no error
	// for an answer).
	Answer func(el *wire.Element) bool
	// RemoteEvent reports whether a session takes a PEP notification (a
	// headline with a pubsub#event) from another server: only sessions
	// whose caps asked for the node (XEP-0163 §4.3.2), as for local
	// owners. Nil: every session takes it.
	RemoteEvent func(st SessionState, el *wire.Element) bool
	// RemotePresence runs for presence (available or unavailable) from a
	// remote full JID to user's bare JID, before it is delivered: PEP
	// sends that contact the last items (XEP-0163 §4.3.3). It must not
	// block for long.
	RemotePresence func(ctx context.Context, user, from string, el *wire.Element)
}

// remoteEvent applies the RemoteEvent hook to el, a headline from a
// remote sender, for the session t.
func (s *Server) remoteEvent(t *Session, el *wire.Element) bool {
	return s.hooks.RemoteEvent == nil || s.hooks.RemoteEvent(t.state(), el)
}

// answer offers an IQ result or error for a bare account JID to the
// Answer hook.
func (s *Server) answer(el *wire.Element) bool {
	return s.hooks.Answer != nil && s.hooks.Answer(el)
}

// SetHooks installs the feature hooks. Call before Run.
func (s *Server) SetHooks(h Hooks) { s.hooks = h }

// SessionState is what a feature package may know about a bound session.
type SessionState struct {
	JID       string
	Available bool
	// Caps are the entity capabilities (XEP-0115) of the session's last
	// available presence; empty if none.
	CapsNode, CapsVer, CapsHash string
}

func (ss *Session) state() SessionState {
	st := SessionState{JID: ss.full, Available: ss.available.Load()}
	if c := ss.caps.Load(); c != nil {
		st.CapsNode, st.CapsVer, st.CapsHash = c.node, c.ver, c.hash
	}
	return st
}

// SessionStates returns the state of each bound session of user.
func (s *Server) SessionStates(user string) []SessionState {
	sessions := s.router.Sessions(user)
	out := make([]SessionState, 0, len(sessions))
	for _, t := range sessions {
		out = append(out, t.state())
	}
	return out
}

// SendTo queues a server-originated stanza to the local full JID in its to
// attribute; it reports false when no such session is bound. It never
// blocks.
func (s *Server) SendTo(el *wire.Element) bool {
	to, err := parseAddr(el.Get("to"))
	if err == nil && s.isRemote(to) {
		// A remote contact (PEP notifications): handed to s2s.
		return s.toOther(context.Background(), el, to.domain)
	}
	if err != nil || !s.localUser(to) || to.resource == "" {
		return false
	}
	if t := s.router.Session(to.local, to.resource); t != nil {
		return t.Send(el)
	}
	return false
}

// awaits holds the callbacks for answers (result or error) to IQs the
// server sent to clients, by IQ id.
type awaits struct {
	mu sync.Mutex
	m  map[string]await
}

type await struct {
	from string // the full JID the IQ went to
	fn   func(*wire.Element)
}

// Await registers fn for the answer to the IQ with id sent to the full JID
// from; fn runs once, on the answering session's reader. The caller bounds
// how many it keeps outstanding and drops stale ones with Unawait.
func (s *Server) Await(id, from string, fn func(*wire.Element)) {
	s.awaits.mu.Lock()
	if s.awaits.m == nil {
		s.awaits.m = map[string]await{}
	}
	s.awaits.m[id] = await{from: from, fn: fn}
	s.awaits.mu.Unlock()
}

// Unawait forgets the callback registered for id.
func (s *Server) Unawait(id string) {
	s.awaits.mu.Lock()
	delete(s.awaits.m, id)
	s.awaits.mu.Unlock()
}

// answered hands an IQ result or error a client sent to the server to
// the callback waiting for it; other answers (to pings) are dropped.
func (s *Server) answered(ss *Session, el *wire.Element) {
	id := el.Get("id")
	s.awaits.mu.Lock()
	a, ok := s.awaits.m[id]
	if ok && a.from == ss.full {
		delete(s.awaits.m, id)
	}
	s.awaits.mu.Unlock()
	if ok && a.from == ss.full {
		a.fn(el)
		return
	}
	s.answer(el)
}

// presenceHooks runs the Presence hook after an available presence.
func (s *Server) presenceHook(ctx context.Context, ss *Session, initial, capsChanged bool) {
	if s.hooks.Presence != nil {
		s.hooks.Presence(ctx, ss.user, ss.state(), initial, capsChanged)
	}
}
