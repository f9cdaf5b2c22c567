// Package upload implements the slot side of XEP-0363 HTTP File Upload:
// an account asks the server for a slot (an IQ with <request/>) and gets
// a PUT URL and a GET URL on chatbx's own web site, where package
// web/upload receives and serves the file.
//
// # Where it sits
//
// The c2s layer hands IQs addressed to the server domain to the handler
// registered for the payload's namespace, so the slot service answers on
// the domain itself (and accepts upload.<domain> in the to address, should
// the c2s layer ever route that name here). The server advertises the
// feature urn:xmpp:http:upload:0 with the max-file-size form (Form) and
// the store/file identity (Identity) in its own disco#info, where clients
// look for it (XEP-0363 §3).
//
// # Slots
//
// A slot is a store.Upload record: a random 128-bit id, the sanitised
// file name (SanitizeName), the announced size and content type, the
// creation time from which retention counts, and a SHA-256 hash of a
// random 128-bit secret. The secret travels only in the PUT URL's query
// (parameter SecretParam), so the GET URL that the user shares does not
// authorise a PUT, and the database does not hold the secret. The slot is
// valid for Config.SlotTTL. URLs carry no user name.
//
// Privacy: the record names its owner only inside the account's own
// subtree and in an index entry that account deletion removes (see
// store/upload.go); nothing about a slot is logged.
package upload
