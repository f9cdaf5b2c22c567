// Package presence holds chatbx's presence rules: who receives what when a
// session sends presence (RFC 6121 §4) and the routing side of
// subscriptions (RFC 6121 §3).
//
// # What it decides
//
//   - Initial presence (RFC 6121 §4.2): the session learns its contacts'
//     presence — local contacts are answered from their sessions, remote
//     ones get a probe (§4.3.1) — receives pending subscription requests
//     (§3.1.3) and the presence of the user's other resources.
//   - Broadcast (§4.2.2, §4.4.2, §4.5.2): available and unavailable
//     presence go to the contacts with a subscription from the user
//     (except those the user blocked, XEP-0191 §3.3) and to the user's
//     available sessions, the sender included.
//   - Directed presence (§4.6): presence to one JID, remembered so that
//     the target learns when the session goes unavailable (§4.6.3);
//     group chat rooms (XEP-0045) rely on it.
//   - Probes from remote contacts (§4.3.2): the current presence when the
//     contact is subscribed, unavailable when no session is, unsubscribed
//     (revealing nothing) when the contact has no subscription.
//   - Subscriptions (§3.1–§3.4, and §2.5.2 for roster removals): package
//     roster's pure transitions (roster.Outbound, roster.Inbound) run here
//     inside one store transaction per change, followed by the roster
//     pushes, deliveries, automatic answers (pre-approval, §3.4) and the
//     presence they call for.
//
// # What it does not hold
//
// The session state — the available flag, priority, last presence, caps,
// the set of directed-presence targets — stays on the sessions (package
// c2s, DESIGN: "Session: IM state"). This package sees the session table
// through the narrow Host interface, generic over the session type so
// that c2s passes its own *Session without conversion or allocation, and
// the roster through Store (store.DB). Parsing a client's presence
// (priority, caps) and running the registry's presence hooks stay in c2s,
// where the state is kept. It imports neither c2s nor the transports.
package presence
