package c2s

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"mellium.im/xmpp/jid"

	"chatbx/server/wire"
)

// Bind2 (XEP-0386) binds a resource inside the SASL2 exchange. The
// resource is the client's <tag/> (or "chatbx") and a suffix: derived
// from the SASL2 user-agent id when the client sent one (the same device
// gets the same resource back, so a reconnect replaces its old session),
// random otherwise. Inline features are enabled in the same round trip
// and answer inside <bound/>.

// InlineFeature is a feature a client may enable inside a Bind2 request
// (XEP-0386 §2.4): advertised as <feature var=NS/> in the SASL2 offer's
// <bind/>, enabled by a child of the client's <bind/> in NS.
type InlineFeature struct {
	NS string
	// Enable runs with that child once ss is bound, before <success/>
	// is written. It returns an element to put into <bound/>, or nil.
	Enable func(ctx context.Context, ss *Session, el *wire.Element) *wire.Element
}

// RegisterInline adds an inline Bind2 feature, e.g. stream management or
// CSI: one call per feature, before Run. Features are enabled in the
// order they were registered. Not safe for concurrent use.
func (s *Server) RegisterInline(f InlineFeature) {
	s.inline = append(s.inline, f)
}

// registerInlineCore registers the inline features of the c2s core:
// Message Carbons (XEP-0280 §4.3 via XEP-0386), stream management
// (XEP-0198: <enabled/> answers in <bound/>) and CSI (XEP-0352).
func (s *Server) registerInlineCore() {
	s.RegisterInline(InlineFeature{NS: nsSM, Enable: smInline})
	s.RegisterInline(InlineFeature{NS: nsCSI, Enable: csiInline})
	s.RegisterInline(InlineFeature{NS: nsCarbons, Enable: func(_ context.Context, ss *Session, el *wire.Element) *wire.Element {
		if el.Local == "enable" {
			ss.carbons.Store(true)
		}
		return nil
	}})
}

// bind2Offer is the <bind/> element of the SASL2 inline features.
func (s *Server) bind2Offer() *wire.Element {
	in := wire.New(nsBind2, "inline")
	for _, f := range s.inline {
		in.Add(wire.New(nsBind2, "feature", "var", f.NS))
	}
	return wire.New(nsBind2, "bind").Add(in)
}

// maxTag bounds the client's tag in the resource.
const maxTag = 64

// bind2 binds ss as the <bind/> request b asks and enables its inline
// features; it returns <bound/>. Only a shutdown fails it.
func (ss *Session) bind2(ctx context.Context, b *wire.Element, uaid string) (*wire.Element, error) {
	s := ss.srv
	tag := strings.TrimSpace(b.ChildText(nsBind2, "tag"))
	for len(tag) > maxTag || !utf8.ValidString(tag) {
		tag = strings.ToValidUTF8(tag, "")
		if len(tag) > maxTag {
			tag = tag[:maxTag]
		}
	}
	if tag == "" {
		tag = "chatbx"
	}
	suffix := newID()[:8]
	if uaid != "" {
		m := hmac.New(sha256.New, s.bindKey[:])
		m.Write([]byte(ss.user + "\x00" + uaid))
		suffix = hex.EncodeToString(m.Sum(nil)[:4])
	}
	j, err := jid.New(ss.user, s.cfg.Domain, tag+"."+suffix)
	if err != nil {
		// A tag PRECIS refuses: the suffix alone.
		if j, err = jid.New(ss.user, s.cfg.Domain, "chatbx."+suffix); err != nil {
			return nil, streamError("internal-server-error")
		}
	}
	ss.resource = j.Resourcepart()
	ss.bare = ss.user + "@" + s.cfg.Domain
	ss.full = ss.bare + "/" + ss.resource
	if s.closing.Load() {
		return nil, streamError("system-shutdown")
	}
	if old := s.router.Bind(ss); old != nil {
		old.closeWith("conflict", "") // the newest session wins, as with RFC 6120 bind
	}
	bound := wire.New(nsBind2, "bound")
	for _, c := range b.Elements() {
		for _, f := range s.inline {
			if c.Space == f.NS {
				if r := f.Enable(ctx, ss, c); r != nil {
					bound.Add(r)
				}
			}
		}
	}
	return bound, nil
}
