// Package guard slows password guessing. It counts failed password checks
// in memory, per account and per (account, network), and answers with a
// back-off before a password is evaluated, so a guesser gets no verdict
// while backing off. It is shared by every place that checks a password:
// main builds one Guard (accounts.login_failures, accounts.login_max_backoff)
// and passes it to SASL in server/c2s and to internal/accounts, whose
// Verify serves the web account pages.
//
// Bucket is the building block: a leaky bucket that reserves an attempt
// before the verdict. server/c2s also uses one per anonymised network for
// its SASL throttle (c2s.auth_burst).
//
// Privacy: nothing is written anywhere and a restart forgets everything.
// Entries are keyed by an HMAC, under a random per-process key, of the
// PRECIS-normalised localpart (and the anonymised network, IPv4 /24 or
// IPv6 /48), so the maps hold neither usernames nor addresses.
//
// Unknown usernames are treated exactly like existing ones: the guard never
// asks the store, so its answers and timing cannot reveal whether an account
// exists.
//
// No lock-out: back-off is capped (Config.MaxBackoff), and failures decay
// (one per Config.Decay), so the owner's correct password succeeds once a
// back-off window has passed. A stranger guessing from one network only
// backs off that network: a network where the account logged in recently
// (Config.Trust) is exempt from the account-wide back-off, which exists
// against guessing spread over many networks.
package guard
