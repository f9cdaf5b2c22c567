package c2s

import (
	"chatbx/server/mux"
	"chatbx/server/wire"
)

// Message Carbons (XEP-0280) are package carbons'; it registers a copy
// hook (mux.CopyHook) that this file runs over the sessions after
// delivery. Enabling carbons inside Bind2 (XEP-0386 §2.4, bind2.go) is
// negotiation and stays here, as does recognising carbons for CSI
// (csi.go).

const (
	nsCarbons = "urn:xmpp:carbons:2"
	nsForward = "urn:xmpp:forward:0"
)

// copyTo sends the copies of el that the copy hooks in want (a bit set
// from mux.WantCopies) make to those of sessions that switched the
// hook's flag on and that skip does not exclude (the session that sent
// el, or those that got it).
func (s *Server) copyTo(sessions []*Session, dir mux.Direction, want uint64, el *wire.Element, skip func(*Session) bool) {
	hooks := s.mux.CopyHooks()
	for i := range hooks {
		if want&(1<<i) == 0 {
			continue
		}
		h := &hooks[i]
		for _, t := range sessions {
			if t.flag(h.Flag) && !skip(t) {
				t.Send(h.Copy(dir, t.bare, t.full, el))
			}
		}
	}
}
