// Package s2s implements server-to-server XMPP (RFC 6120) for chatbx:
// TLS-only streams in both directions, peers authenticated with
// certificates (SASL EXTERNAL, RFC 6120 §6 and XEP-0178, names checked per
// RFC 6125 including SRV-ID and XmppAddr) or, only when secure_auth is off
// and only over TLS, with server dialback (XEP-0220, keys per XEP-0185).
//
// Outbound, RFC 6120 §3.2 resolution: _xmpps-server._tcp (direct TLS,
// XEP-0368) and _xmpp-server._tcp SRV records by priority and weight,
// falling back to the domain's addresses on 5269; Config.Hosts overrides
// DNS. One link per remote domain: stanzas wait in a queue bounded in
// bytes while it connects, and are bounced to their local sender with
// remote-server-not-found or remote-server-timeout when the domain cannot
// be reached. Idle links close after Config.IdleTimeout; reconnects back
// off.
//
// Inbound, every stanza's from must be at the authenticated domain and its
// to at ours; the XML limits are those of c2s (package wire). Per-domain
// stanza and connection rates are limited in memory; blocked domains are
// refused. Nothing of this is written to disk.
//
// The Server is the remote handler of the domain table
// (router.Domains.SetRemote); inbound stanzas go to Deps.Deliver.
package s2s
