// Package c2s is the client side of chatbx's XMPP server: the client
// listeners, stream negotiation, the sessions and their table, and the IM
// core that every stanza from a bound client passes through.
//
// # Place in the server
//
// Package server builds one Server with New and runs it; main sees only
// package server. Stanzas flow transport → Session → routing (this package,
// with the domain table of package router) → the handler registry (package
// mux) → the feature packages (disco, ping, vcard, blocking, mam, upload,
// register, ...). Handlers never write to another session: they return a
// reply, push to the sender's own sessions, or route through Deliver.
//
// # Transports
//
// A Transport carries one client stream; a Session never sees the socket.
// This package implements TCP: the STARTTLS listener (Config.Listen, TLS
// required before authentication, RFC 6120 §5) and the direct TLS listener
// (Config.ListenTLS, XEP-0368). Package server/ws implements XMPP over
// WebSocket (RFC 7395) and hands its streams to Server.Serve. Both get the
// same negotiation, handlers and limits.
//
// # Negotiation
//
// Negotiation (RFC 6120 §4.3) is an ordered list of stream features, run in
// rounds: STARTTLS (only on a transport that is not encrypted yet), SASL
// (package auth: SCRAM-SHA-1/256 and their -PLUS variants, PLAIN; RFC 6120
// §6, at most five attempts per stream, §6.4.5) with in-band registration
// before authentication (XEP-0077 §3.1, XEP-0401 <preauth/>), stream
// resumption (XEP-0198 §5, instead of binding), resource binding (RFC 6120
// §7), and the informational features session (RFC 3921 §3, optional),
// roster versioning (RFC 6121 §2.6), pre-approval (RFC 6121 §3.4) and client
// state indication (XEP-0352); Bind2 (XEP-0386) enables carbons, stream
// management and CSI inline. The per-network connection rate, the SASL throttle and the
// per-account login guard (internal/guard) are consulted before a verdict.
//
// # Sessions
//
// A Session has one reader goroutine and a writer goroutine that runs only
// while stanzas are queued. Its outbound queue is bounded in stanzas
// (Config.QueueMax) and estimated bytes (Config.QueueBytes); a full queue
// ends that stream with policy-violation and never blocks a sender. What a
// closing session could not write goes to the undelivered hooks (offline
// storage). Idle sessions are
// probed with a ping (XEP-0199) after Config.IdleTimeout.
//
// Stream management (XEP-0198, sm.go) counts stanzas both ways and keeps
// written stanzas until the client acknowledges them. With resumption, a
// session whose transport is lost hibernates for Config.ResumeTimeout:
// bound, presence unchanged, no transport and no goroutine; a new stream
// of the same account resumes it after SASL (XEP-0198 §5) and gets what it
// missed, in order. When the window ends, queued messages go to offline
// storage. Client State Indication (XEP-0352, csi.go) holds back presence
// and other non-urgent stanzas while the client is inactive.
//
// Router is the session table (localpart → resources), sharded by localpart
// and copy-on-write per user.
//
// # IM core
//
// Routing and delivery follow RFC 6120 §8 and RFC 6121 §8 (stamping from,
// answering IQs on behalf of accounts, §8.5.2.1.3); addresses outside the
// local host go to the domain table (remote-server-not-found without
// server-to-server, RFC 6120 §10.4.3). The sessions keep their presence
// state (available, priority, last presence, XEP-0115 caps, the targets
// of directed presence); the rules over it — initial presence, probes,
// broadcast, directed presence, subscriptions (RFC 6121 §3, §4) and the
// presence side of blocking (XEP-0191 §3.3, §3.4) — are package
// presence's, which this package runs through presence.Host. It builds
// roster pushes with roster.Push and implements roster.Presence by
// handing removals to package presence.
//
// Rosters (package roster), Message Carbons (package carbons) and offline
// storage (package offline) are handler packages in the registry; this
// package runs the registry's ordered hooks where they sit on a stanza's
// path (mux.Order* documents the order): message hooks for the sender and
// for the recipient (the XEP-0313 archive), copy hooks after delivery
// (carbons, over the sessions that switched the hook's flag on),
// undelivered hooks when no session took a message (offline storage; the
// store's refusals become bounces here), their Deliver after initial
// presence (one at a time per session, each message deleted from the
// store once written or acknowledged), and presence hooks on available
// presence (the XEP-0398 photo hash).
//
// Feature packages that follow presence (PEP, XEP-0163) get Hooks (Presence
// after each available presence, with whether the XEP-0115 caps changed;
// Subscribed after an approved subscription, RFC 6121 §3.1.6) and reach
// sessions through SessionStates, SendTo, and Await for the answers to IQs
// the server sends to clients.
//
// The connection log gets one line per login and logout (time, event, user,
// anonymised address from Deps.Anon) and per failed authentication (time,
// event, anonymised address), the same for every transport.
// Privacy: never a resource, a body or a full address.
package c2s
