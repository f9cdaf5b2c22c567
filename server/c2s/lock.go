package c2s

// Restriction of processing (GDPR Art. 18, "Sperrung"): an account its
// user locked takes no login and no delivery until it is unlocked. The
// account service (internal/accounts) keeps the set of locked accounts in
// memory; Deps.Locked asks it.

// lockedFailure answers a SASL exchange with the right password for a
// locked account (RFC 6120 §6.5.1 <account-disabled/>).
const lockedFailure = `<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><account-disabled/>` +
	`<text xml:lang='en'>` + lockedText + `</text></failure>`

// lockedText explains a locked account's login failure.
const lockedText = "This account is locked by its owner. Unlock it with the password on the account pages."

// locked reports whether user's account is restricted.
func (s *Server) locked(user string) bool {
	return s.d.Locked != nil && s.d.Locked(user)
}
