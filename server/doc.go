// Package server owns chatbx's XMPP side and is all that main sees of it:
// Config, Deps, New, Run, and the session controls the account hooks use
// (KickUser, KickUserWait, KickOthers, AccountDeleted, OfflineExpired).
//
// New builds one handler registry (package mux) and fills it: the built-in
// IQ services (XEP-0199 ping, XEP-0092 version, XEP-0012 last activity,
// XEP-0054 vcard-temp, XEP-0049 private storage, XEP-0191 blocking), the
// services main passes in Config.Extra (XEP-0313 archive, XEP-0363 upload
// slots, XEP-0077 registration), XEP-0163 PEP (attached to the c2s hooks,
// with the XEP-0398 avatar and XEP-0402/XEP-0411 bookmark conversions),
// XEP-0357 push (its c2s hooks: messages stored offline, answers from app
// servers; notifications leave through the domain table), XEP-0215
// external services when configured,
// the archive as a message hook (with the XEP-0359 stanza-id it assigns),
// and last XEP-0030 disco, built from what every handler contributed. It then hands the registry, the domain table
// (package router) and the store to the client layer (package c2s).
//
// Serve runs a stream over another transport (package server/ws, RFC 7395)
// with the same negotiation, handlers and limits as the TCP listeners.
package server
