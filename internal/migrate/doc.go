// Package migrate brings accounts from other XMPP servers into chatbx and
// takes them out again: XEP-0227 (Portable Import/Export Format for XMPP-IM
// Servers) as Prosody's prosody-migrator and ejabberd's
// `ejabberdctl export_piefxis` write it.
//
// Reader streams a file one <user/> at a time within Limits (file size,
// bytes and elements per account, depth): a hostile file costs at most
// about one account's limit in memory and fails with an *Error naming the
// line. It accepts SCRAM credentials (XEP-0227 §4.1, SCRAM-SHA-1 and
// SCRAM-SHA-256, salts of any length, the element repeated as Prosody 0.12
// writes it), plaintext passwords of old exports, the roster with
// subscription states and groups (and Prosody's pending subscription
// requests), the vCard, private XML storage (XEP-0049), the blocklist
// (XEP-0191), offline messages and PEP nodes with their items (XEP-0163:
// bookmarks, avatars) and the archiving preferences (a XEP-0441 <prefs/>
// of urn:xmpp:mam:2, :1, :0 or :tmp: the default and the always/never
// lists; neither Prosody 0.12 nor ejabberd 23.01 exports them, chatbx's
// own export does); archives are counted and reported, not imported.
// Without <prefs/> in the file an account keeps the server's default,
// never; preferences an account already has on chatbx are never
// overwritten, so re-running an import cannot switch an archive on.
//
// Import checks every file completely before it writes anything, then
// imports each account in one store transaction (store.DB.ImportAccount):
// usernames PRECIS-checked, only users of the server's domain, an
// existing account updated only when it has the same credentials
// (conflicts are reported, never overwritten), and a second run changes
// nothing. Plaintext passwords become SCRAM verifiers and are never
// stored. The chatbx commands `import` and `user export --all` (package
// main) are built on it; the writer of the export is the account
// service's (internal/accounts).
package migrate
