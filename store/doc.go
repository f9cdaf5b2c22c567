// Package store is chatbx's database: one bbolt file (data/chatbx.db)
// holding accounts, rosters, offline messages, per-user data, settings and
// the ACME certificates. It imports none of chatbx's other packages;
// consumers declare the few methods they use as small interfaces.
//
// # Bucket tree
//
//	users/<localpart>/          everything about one account
//	    account/credentials     SCRAM-SHA-1 and SCRAM-SHA-256 verifiers
//	    roster/<bare JID>       roster items; key "\x00" holds the version (XEP-0237), "\x00n" the count
//	    offline/<8-byte id>     queued stanzas (XEP-0160); keys "n" and "b" hold count and bytes,
//	                            "k" a salt, "s"<16 bytes> per-sender usage under HMAC(salt, sender)
//	    blocklist/<JID>         blocked JIDs (XEP-0191)
//	    vcard/vcard             vcard-temp XML (XEP-0054)
//	    private/<key>           private XML storage (XEP-0049); key "\x00b" holds the total bytes
//	    refs/<bucket>\x00<key>  entries outside the subtree that belong to the user
//	    archive/<8-byte key>    archived messages (XEP-0313), key order is time order
//	    archive-with/…          index by conversation partner (bare JID)
//	    archive-meta/…          preferences, counters, highest id ever used
//	    uploads/<id>            the user's uploads (XEP-0363)
//	meta/schema                 schema version (number of migrations applied)
//	uploads/<id>                upload records without owner (the GET/PUT side)
//	upload-times/<time><id>     expiry index of uploads (removed with the account)
//	invites/<sha256(token)>     invitations; the token itself is never stored
//	invite-times/<time>…        expiry index of invitations
//	settings/<key>              server-wide small values (web secret, maintenance end)
//	certs/<path>, certmeta/<path>  certmagic.Storage values and modification times
//	trash/<bucket>\x00<key>     records moved out by DeleteUser for cleanup (upload files)
//
// Keys are the localparts as given: callers normalise them (PRECIS
// UsernameCaseMapped) before calling. Time keys are big-endian UTC UnixNano
// and id keys big-endian uint64, so a cursor walks them in order.
//
// Deleting an account is one transaction that drops users/<localpart>;
// a feature that must index user data outside the subtree (say
// uploads/<id>) registers the index entry with addUserRef in the same
// transaction, and DeleteUser deletes the entry, or moves it to trash when
// a file must be unlinked afterwards (the retention sweep finishes that
// after a crash).
//
// # Per-user caps
//
// Limits (Options.Limits) caps what one account can make the server store:
// offline queue bytes and each sender's share of the queue, archive bytes
// (the oldest messages make room), roster items and private storage bytes.
// Each cap is checked against a counter kept beside the data and changed in
// the same transaction as the data; a migration counted the data written
// before the counters existed. A write beyond a cap fails with ErrQuota.
//
// # Values and codec
//
// Every value starts with a version byte (codec.go); fields are uvarints,
// length-prefixed bytes and fixed 8-byte big-endian integers. A value of
// an unknown version decodes to ErrCorrupt rather than garbage.
// Methods copy what they return out of bbolt's memory map; the caller owns
// the result. Passwords and salted passwords are never stored: only the
// RFC 5802 verifiers (salt, iterations ≥ 4096, StoredKey, ServerKey),
// against which SASL PLAIN is checked too (Credentials.VerifyPlain).
//
// # Migrations
//
// meta/schema counts the migrations applied. Open runs the missing ones in
// order inside one read-write transaction and records the new count, so a
// failing step leaves the file untouched. A file newer than the program is
// refused. Migrations are appended to the list in db.go, never edited.
//
// # Locking and transactions
//
// One logical operation is one bbolt transaction. Every method holds a
// shared lock (sync.RWMutex) for its transaction; Scrub and Backup hold it
// exclusively. bbolt itself serialises writers. Open fails with ErrLocked
// when another process (a running server) holds the file for one second.
// bbolt's logger is never set: it would log keys, i.e. user names.
//
// # Free-page hygiene
//
// bbolt never overwrites data in place: a changed or deleted value stays
// in its old page, which goes to the freelist and keeps its bytes until
// the page is reused. A delivered offline message or a deleted account
// could therefore be read from the file for a long time. Scrub makes
// such bytes unreadable:
//
//  1. It takes the exclusive lock, so no transaction of this package is
//     open, and begins a read-write transaction. Beginning one makes bbolt
//     release every pending page (pages freed by commits but kept for open
//     readers) into the freelist, because no reader is open.
//  2. It asks bbolt for every page below the high-water mark
//     (Tx.Page(id).Type == "free" is bbolt's own freelist lookup) and
//     overwrites the free ones with zeros through a second file descriptor
//     (pwrite), skipping pages that are zero already. The same is done for
//     the file's tail beyond the high-water mark, where a failed or
//     interrupted commit may have left pages.
//  3. It fsyncs and rolls the transaction back: the tree, the freelist and
//     both meta pages are unchanged.
//
// This is safe because (checked in bbolt v1.5.0's source): no tree
// reachable from the current meta page references a free page; bbolt never
// reads a free page's contents (a reused page is written whole from a
// zeroed buffer, and live pages are always written whole, so they hold no
// stale bytes either); the memory map is MAP_SHARED and read-only, so
// bbolt sees the same page cache our pwrite updates; and the older of the
// two meta pages, whose tree may reference just-freed pages, is one bbolt
// itself gives up as soon as the next write transaction reuses them. A
// crash during Scrub leaves some free pages zeroed and others not, which
// the next Scrub finishes. Compaction into a new file was the alternative;
// it needs twice the disk space, a reopen under the lock and a rename, and
// it would leave the old file's blocks to the file system.
//
// DeleteUser runs Scrub itself; the retention runner calls Scrub on every
// tick so that other deletions (delivered offline messages, expired data)
// are unreadable within one tick. Backup scrubs before copying. What the
// file system or the disk keep below the file (journals, SSD remapping) is
// out of reach of any user-space program and belongs to full-disk
// encryption.
//
// # Certificates
//
// CertStorage implements certmagic.Storage over certs/ with in-process
// named locks (bbolt's file lock already makes this process the only one).
package store
