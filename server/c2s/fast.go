package c2s

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"chatbx/server/auth"
	"chatbx/server/wire"
	"chatbx/store"
)

// FAST (XEP-0484): after a password login a client may ask for a token
// and log in with it next time in one round trip (HT-SHA-256-*
// mechanisms, package auth). Tokens are stored hashed (store.FastRecord)
// per device, keyed by a hash of the SASL2 user-agent id, in XEP-0484
// §6's two slots: a token issued goes to Next; using it moves it to
// Current and invalidates the token it replaced. Tokens expire after
// Config.FastTokenTTL; a token past half its life is rotated (a new one
// comes with the success, the old one stays valid until the new one is
// used); a password change or deleting the account revokes them (store);
// at most Config.FastMaxTokens devices per user keep tokens.

// isFast reports whether mech is a FAST (HT) mechanism name.
func isFast(mech string) bool { return strings.HasPrefix(mech, "HT-") }

// fastDevice is the store key of a device: a hash of its user-agent id.
// Privacy: the id itself is never stored.
func fastDevice(uaid string) []byte {
	h := sha256.Sum256([]byte("chatbx fast device\x00" + uaid))
	return h[:]
}

// fastUse is what a FAST login used: the token's expiry, whether the
// client asked to invalidate it.
type fastUse struct {
	expiry     time.Time
	invalidate bool
}

// fastAuth verifies a FAST token login under the same limits as a
// password: the network's SASL bucket and then the account guard before
// the verdict.
func (ss *Session) fastAuth(ctx context.Context, el *wire.Element, mech string, in []byte) (authResult, error) {
	s := ss.srv
	cb, err := s.auth.HTBinding(mech, ss.tr.TLS(), ss.endpoint())
	if err != nil {
		return authResult{}, err
	}
	f := el.Child(nsFast, "fast")
	ua := el.Child(nsSASL2, "user-agent")
	if f == nil || ua == nil || ua.Get("id") == "" {
		// XEP-0484 §4.3: the client marks a token login with <fast/>
		// and names its device; tokens are bound to it.
		return authResult{}, auth.ErrMalformed
	}
	var count uint64
	if c := f.Get("count"); c != "" {
		if count, err = strconv.ParseUint(c, 10, 64); err != nil || count == 0 {
			return authResult{}, auth.ErrMalformed
		}
	}
	inv := f.Get("invalidate")
	use := &fastUse{invalidate: inv == "1" || inv == "true"}
	user, mac, err := s.auth.ParseHT(in)
	if err != nil {
		return authResult{}, err
	}
	netDone, _, ok := s.limit(ss.tr.RemoteAddr()).auth.Begin(s.d.Now())
	if !ok {
		return authResult{}, auth.ErrTemporary
	}
	done, _, ok := s.d.Guard.Begin(user, ss.remoteIP())
	if !ok {
		netDone(true) // no guess was made
		return authResult{}, auth.ErrTemporary
	}
	now := s.d.Now()
	device := fastDevice(ua.Get("id"))
	var key [32]byte
	matched, replay := false, false
	// Check against a read of the record first: a login with the current
	// token and no count changes nothing, and costs no disk write.
	rec, err := s.db.FastRecord(ctx, user, device)
	if err == nil {
		slot, rp := fastMatch(&rec, mech, now, cb, mac, count)
		replay = rp
		if slot != nil {
			key, matched = slot.Hash, true
			use.expiry = slot.Expiry
			if count != 0 || slot == &rec.Next || use.invalidate {
				matched, replay, err = ss.fastCommit(ctx, user, device, mech, now, cb, mac, count, use.invalidate)
			}
		}
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return authResult{}, auth.ErrTemporary // a store fault: no verdict
	}
	done(matched)
	if replay {
		return authResult{}, errors.Join(auth.ErrNotAuthorized, errReplay)
	}
	if !matched {
		return authResult{}, auth.ErrNotAuthorized
	}
	netDone(true)
	return authResult{user: user, data: auth.HTFinal(key, cb), fast: use}, nil
}

// fastMatch returns the slot of r whose token the client's mac proves
// (XEP-0484 §6: the new slot first, then the current one), checking
// mechanism, expiry and the replay counter; replay reports a matching
// token whose count did not grow.
func fastMatch(r *store.FastRecord, mech string, now time.Time, cb, mac []byte, count uint64) (slot *store.FastSlot, replay bool) {
	for _, sl := range []*store.FastSlot{&r.Next, &r.Current} {
		if sl.Empty() || sl.Mech != mech || !now.Before(sl.Expiry) || !auth.HTCheck(sl.Hash, cb, mac) {
			continue
		}
		// Replay protection: once a client counted, every later login
		// with the token counts higher.
		if count <= sl.Count && (count != 0 || sl.Count != 0) {
			return nil, true
		}
		return sl, false
	}
	return nil, false
}

// fastCommit records a token login in the store, checking it again in
// the write transaction (a concurrent login or revocation may have
// changed the record): the counter, the move of a new token to the
// current slot (invalidating the one it replaces), or the invalidation
// the client asked for.
func (ss *Session) fastCommit(ctx context.Context, user string, device []byte, mech string, now time.Time,
	cb, mac []byte, count uint64, invalidate bool) (matched, replay bool, err error) {
	err = ss.srv.db.UpdateFast(ctx, user, device, ss.srv.cfg.FastMaxTokens, now,
		func(r *store.FastRecord, found bool) (bool, error) {
			if !found {
				return false, nil
			}
			slot, rp := fastMatch(r, mech, now, cb, mac, count)
			if replay = rp; slot == nil {
				return false, nil
			}
			matched = true
			slot.Count = count
			if slot == &r.Next {
				r.Current, r.Next = r.Next, store.FastSlot{}
			}
			if invalidate {
				r.Current, r.Next = store.FastSlot{}, store.FastSlot{}
			}
			return true, nil
		})
	return matched, replay, err
}

// fastToken issues a token when the client asked for one
// (<request-token/>) or its FAST login used a token past half its life,
// and returns the <token/> element for <success/>, or nil. After a
// password login the device's earlier tokens are replaced; after a token
// login the used token stays valid until the new one is used.
func (ss *Session) fastToken(ctx context.Context, el *wire.Element, uaid string, use *fastUse) *wire.Element {
	s := ss.srv
	mech := ""
	if rt := el.Child(nsFast, "request-token"); rt != nil {
		mech = rt.Get("mechanism")
	} else if use != nil && !use.invalidate && use.expiry.Sub(s.d.Now()) < s.cfg.FastTokenTTL/2 {
		mech = el.Get("mechanism") // rotation of the mechanism in use
	}
	if mech == "" || uaid == "" {
		return nil
	}
	if _, err := s.auth.HTBinding(mech, ss.tr.TLS(), ss.endpoint()); err != nil {
		return nil // not offered here: no token
	}
	var b [auth.TokenLen * 3 / 4]byte
	rand.Read(b[:])
	token := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.d.Now()
	expiry := now.Add(s.cfg.FastTokenTTL).UTC().Truncate(time.Second)
	err := s.db.UpdateFast(ctx, ss.user, fastDevice(uaid), s.cfg.FastMaxTokens, now,
		func(r *store.FastRecord, _ bool) (bool, error) {
			if use == nil {
				r.Current = store.FastSlot{}
			}
			r.Next = store.FastSlot{Hash: auth.TokenHash(token), Mech: mech, Expiry: expiry}
			return true, nil
		})
	if err != nil {
		s.log.Warn().Err(err).Str("conn", ss.id).Msg("fast token not stored")
		return nil
	}
	return wire.New(nsFast, "token", "expiry", expiry.Format(time.RFC3339), "token", token)
}
