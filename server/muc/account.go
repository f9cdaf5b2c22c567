package muc

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"maps"
	"slices"
	"strings"

	"chatbx/server/wire"
	"chatbx/store"
)

// NSExport is the namespace of the rooms in an account export.
const NSExport = "urn:chatbx:muc:export"

// Forget removes a deleted account (bare JID) from every room: its
// sessions leave (unavailable presence to the others), its affiliations
// and registered nick go, its messages leave the in-memory histories and
// the room archives, and rooms it alone owned are destroyed. send routes
// the presences (c2s.Server.Deliver).
func (s *Service) Forget(ctx context.Context, bare string, send func(*wire.Element)) error {
	bare = bareOf(bare)
	var o out
	s.mu.Lock()
	destroyedMem := map[string]bool{}
	for _, local := range slices.Sorted(maps.Keys(s.rooms)) {
		r := s.rooms[local]
		for _, occ := range r.sessionsOf(bare) {
			s.removeOccupant(ctx, r, occ, nil, &o)
		}
		if s.rooms[local] == nil {
			continue // an empty temporary room went away
		}
		owners := r.owners()
		if len(owners) == 1 && owners[0] == bare {
			s.destroy(ctx, r, "", "The owner's account was deleted.", "", &o)
			destroyedMem[s.roomJID(local)] = true
			continue
		}
		occID := s.occupantID(s.roomJID(local), bare)
		r.history = slices.DeleteFunc(r.history, func(h hist) bool { return h.occID == occID })
		delete(r.affs, bare)
		delete(r.nicks, bare)
	}
	s.mu.Unlock()
	// The stored side in one transaction: rooms the account alone owned
	// go with their archive; elsewhere its affiliation, nick and archived
	// messages.
	// Appends in flight (started before the account left its rooms)
	// finish first; later ones cannot be the account's.
	s.archiveMu.Lock()
	defer s.archiveMu.Unlock()
	_, _, err := s.db.MUCForget(ctx, func(r store.MUCRoom) (*store.MUCRoom, bool, string) {
		if destroyedMem[r.JID] {
			return nil, true, ""
		}
		if len(r.Owners) == 1 && r.Owners[0] == bare {
			return nil, true, ""
		}
		occ := s.occupantID(r.JID, bare)
		var st storedRoom
		if json.Unmarshal(r.Data, &st) != nil {
			return nil, false, occ
		}
		_, inAffs := st.Affs[bare]
		_, inNicks := st.Nicks[bare]
		if !inAffs && !inNicks {
			return nil, false, occ
		}
		delete(st.Affs, bare)
		delete(st.Nicks, bare)
		data, _ := json.Marshal(st)
		owners := slices.DeleteFunc(slices.Clone(r.Owners), func(o string) bool { return o == bare })
		return &store.MUCRoom{JID: r.JID, Owners: owners, Data: data}, false, occ
	})
	for _, e := range o {
		send(e)
	}
	return err
}

// ExportXML writes the rooms user (a localpart of the host) owns, with
// their configuration, for the account export (accounts.Exporter). Other
// people's messages and addresses are not part of it.
func (s *Service) ExportXML(ctx context.Context, user string, w io.Writer) error {
	bare := user + "@" + s.cfg.Host
	s.mu.Lock()
	type exported struct {
		jid, affiliation, nick string
		cfg                    roomConfig
		owner                  bool
	}
	var rooms []exported
	for _, local := range slices.Sorted(maps.Keys(s.rooms)) {
		r := s.rooms[local]
		a, ok := r.affs[bare]
		if !ok && r.nicks[bare] == "" {
			continue
		}
		rooms = append(rooms, exported{jid: s.roomJID(local), affiliation: a, nick: r.nicks[bare], cfg: r.cfg, owner: a == affOwner})
	}
	s.mu.Unlock()
	if len(rooms) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("<rooms xmlns='" + NSExport + "'>\n")
	for _, r := range rooms {
		b.WriteString("<room jid='" + esc(r.jid) + "' affiliation='" + esc(r.affiliation) + "'")
		if r.nick != "" {
			b.WriteString(" nick='" + esc(r.nick) + "'")
		}
		b.WriteString(">")
		if r.owner {
			c := r.cfg
			b.WriteString("<config name='" + esc(c.Name) + "' description='" + esc(c.Description) +
				"' persistent='" + boolString(c.Persistent) + "' public='" + boolString(c.Public) +
				"' members-only='" + boolString(c.MembersOnly) + "' moderated='" + boolString(c.Moderated) +
				"' password-protected='" + boolString(c.Password != "") + "' whois='" + esc(c.Whois) +
				"' archive='" + boolString(c.Archive) + "'/>")
		}
		b.WriteString("</room>\n")
	}
	b.WriteString("</rooms>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return strings.ReplaceAll(b.String(), "'", "&#39;")
}
