// Package mam implements the user message archive: XEP-0313 Message
// Archive Management (urn:xmpp:mam:2 and urn:xmpp:mam:2#extended) with
// XEP-0059 result set management, and XEP-0441 archiving preferences.
//
// # Off by default
//
// chatbx's privacy policy promises that messages are archived only for
// users who asked for it: the preference of every account is "never"
// (Config.Default) until the user sets "always" or "roster", in-band
// (XEP-0441 <prefs/>) or on the account page (SetDefault). Each side's
// archive is independent: archiving by one user stores nothing in the
// other's account.
//
// # Place in the server
//
// The c2s layer offers every one-to-one message with content (a body, a
// store hint, an OMEMO payload) to Archive.Archive twice: as the sender's
// outgoing message and as the recipient's incoming one. The hook returns
// the archive id when the owner's archive took a copy, and the c2s layer
// adds <stanza-id by='owner@domain'/> (XEP-0359) to what the recipient
// receives, so clients see the same id live and in the archive. For a user
// who does not archive (the common case) the hook costs one lookup in an
// in-memory, sharded cache of preferences and no store access.
//
// The cache is never trusted blindly: every write carries the generation
// of the preferences it was decided by, and the store refuses it when the
// stored preferences differ (an account deleted and created again under
// the same name starts with archiving off even if nobody called Forget).
//
// Archive.Handle is the IQ handler for the urn:xmpp:mam:2 namespace: the
// query form (§4.1.5), queries (§4), archive metadata (§5) and the
// preferences (XEP-0441 §4). Results are queued to the requesting session
// with iq.Context.Send before the final <fin/> IQ result. Pages hold
// Config.PageSize messages unless the client asks for fewer or more (up to
// Config.MaxPage). RSM <count/> and index are given where they are cheap.
// Archive.Command is an ad-hoc command (XEP-0050, node PurgeNode) that
// deletes the archive after a confirmation form. ArchiveOn, SetArchiveOn,
// PurgeArchive and ExportArchive serve the account pages.
//
// # What is stored
//
// Messages are stored in the user's subtree of the store (see
// store.AppendArchive): the stanza with its to and from reduced to bare
// JIDs (privacy: resources are never stored), the other party's bare JID
// for the with-index, and the time. Ids are unpredictable strings that
// stay valid as long as the message exists and are never reused.
//
// # Deletion
//
// Purge deletes a user's archive and scrubs the database file; account
// deletion removes it with the account (call Forget to drop the cached
// preferences). Sweep deletes messages older than Config.MaxAge, which is
// zero (off) by default: how long to keep the archive is the user's
// decision.
package mam
