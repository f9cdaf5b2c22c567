// Package muc implements XEP-0045 Multi-User Chat as a local service on its
// own domain (conference.<domain> by default), registered in the domain
// table (package router). Stanzas to the service arrive at Handle; every
// answer and every fan-out leaves through the send function the domain
// table hands in, addressed by JID, so occupants on other servers work
// the same once federation routes them.
//
// What it implements:
//   - rooms: join with self-presence (status 110), instant and reserved
//     rooms (201, the muc#roomconfig form), leave, nick changes (303) and
//     conflicts (409), presence updates, ghost removal on presence errors;
//   - groupchat messages with XEP-0359 stanza-ids and XEP-0421 occupant
//     ids, the subject, private messages between occupants, mediated
//     invitations (§7.8.2), declines and voice requests (§7.13);
//   - affiliations (owner, admin, member, outcast) and roles (moderator,
//     participant, visitor) through muc#admin: kick (307), ban (301),
//     voice, membership lists, removal from members-only rooms (321, 322);
//   - muc#owner: configuration, destruction with an alternate venue;
//   - nick registration (jabber:iq:register on the room JID);
//   - disco#info with the muc_* features and the muc#roominfo form, the
//     public rooms in the service's disco#items;
//   - XEP-0410 self-ping, answered by the service itself.
//
// Privacy first (issue 13): the join history is an in-memory buffer per
// room (bounded, lost on restart). A room's messages are written to disk
// only when its owner switches on muc#roomconfig_enablearchiving; they are
// then kept at most Config.ArchiveMaxAge (the retention runner calls
// Sweep) and can be read with XEP-0313 on the room JID. Archived messages
// carry the occupant id, never a real JID. Room state (configuration,
// affiliations, subject) is stored only for persistent rooms. Forget
// removes an account from every room (account deletion).
//
// Concurrency: one mutex guards all rooms; stanzas are built under it and
// sent after it is released, so send may call back into the service.
package muc
