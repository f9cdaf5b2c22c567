// Package pep implements the Personal Eventing Protocol (XEP-0163) on a
// subset of Publish-Subscribe (XEP-0060): every account is a pubsub
// service at its bare JID whose nodes are created on first publish. It is
// what OMEMO (device lists and bundles), avatars (XEP-0084), nicknames
// (XEP-0172) and bookmarks (XEP-0402) are built on.
//
// Supported: publish with publish-options (preconditions, XEP-0060
// §7.1.5), item ids generated when absent, retrieve (all, by id,
// max_items), retract with notify, create, configure (get and set the
// node_config form), delete, purge, default configuration and owner
// affiliations (the whitelist). Access models: open, presence, roster
// (with roster groups) and whitelist. Explicit subscriptions are not
// supported: PEP subscribers are the owner's presence subscribers whose
// clients advertise <node>+notify in their entity capabilities (XEP-0115),
// which are verified and cached (caps.go). The caps of connected sessions
// stay cached (pinned), so a client presenting many hashes evicts only
// unused ones; a session whose caps are not known when a notification is
// due is asked again (bounded) and notified once they verify.
//
// Notifications go to the owner's available resources and to contacts
// with a presence subscription (from or both) that may access the node,
// filtered by +notify. The last item of each node is sent on a session's
// first available presence (and when its caps change) and when a
// presence subscription is approved.
//
// Place in the server: package server builds one PEP, calls Register to add
// its routes to the handler registry (package mux: pubsub on the account's
// bare JID, get for other accounts too; pubsub#owner for the account
// itself) and Attach to get the c2s hooks it needs (presence with caps,
// approved subscriptions) and the sessions it sends notifications to.
//
// Privacy: items are personal data. They are stored under the account
// (store/pep.go), deleted with it, included in the account export and
// capped per account (Config.MaxItems, Config.MaxBytes, Config.MaxNodes).
package pep
