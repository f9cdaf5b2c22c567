package muc

import (
	"strconv"
	"strings"
	"time"

	"chatbx/server/wire"
)

// field returns a data form field (XEP-0004) with values.
func field(v, typ string, values ...string) *wire.Element {
	f := wire.New(NSData, "field", "var", v, "type", typ)
	for _, val := range values {
		f.Add(wire.New(NSData, "value").AddText(val))
	}
	return f
}

func labelled(v, typ, label string, values ...string) *wire.Element {
	f := field(v, typ, values...)
	f.Set("label", label)
	return f
}

func options(f *wire.Element, opts ...string) *wire.Element {
	for i := 0; i+1 < len(opts); i += 2 {
		f.Add(wire.New(NSData, "option", "label", opts[i+1]).Add(wire.New(NSData, "value").AddText(opts[i])))
	}
	return f
}

// formType returns a form's FORM_TYPE.
func formType(x *wire.Element) string {
	for _, f := range x.Elements() {
		if f.Local == "field" && f.Get("var") == "FORM_TYPE" {
			return strings.TrimSpace(f.ChildText(NSData, "value"))
		}
	}
	return ""
}

// formValues returns each field's first value (multi-valued fields keep
// their values joined by newlines).
func formValues(x *wire.Element) map[string]string {
	out := map[string]string{}
	for _, f := range x.Elements() {
		if f.Local != "field" || f.Space != NSData {
			continue
		}
		var vals []string
		for _, v := range f.Elements() {
			if v.Local == "value" {
				vals = append(vals, v.Text())
			}
		}
		out[f.Get("var")] = strings.Join(vals, "\n")
	}
	return out
}

func boolString(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func parseBool(s string) (bool, bool) {
	switch strings.TrimSpace(s) {
	case "1", "true":
		return true, true
	case "0", "false":
		return false, true
	}
	return false, false
}

// configForm returns the muc#roomconfig form of a room (§10.2).
func (s *Service) configForm(r *room) *wire.Element {
	c := r.cfg
	x := wire.New(NSData, "x", "type", "form")
	x.Add(wire.New(NSData, "title").AddText("Room configuration"))
	x.Add(wire.New(NSData, "instructions").AddText(
		"Messages are kept only in memory for the join history unless you enable archiving; " +
			"the archive keeps them for " + days(s.cfg.ArchiveMaxAge) + "."))
	x.Add(field("FORM_TYPE", "hidden", NSRoomConf))
	x.Add(labelled("muc#roomconfig_roomname", "text-single", "Name", c.Name))
	x.Add(labelled("muc#roomconfig_roomdesc", "text-single", "Description", c.Description))
	x.Add(labelled("muc#roomconfig_persistentroom", "boolean", "Keep the room when the last occupant leaves", boolString(c.Persistent)))
	x.Add(labelled("muc#roomconfig_publicroom", "boolean", "List the room publicly", boolString(c.Public)))
	x.Add(labelled("muc#roomconfig_membersonly", "boolean", "Members only", boolString(c.MembersOnly)))
	x.Add(labelled("muc#roomconfig_moderatedroom", "boolean", "Moderated (only participants speak)", boolString(c.Moderated)))
	x.Add(labelled("muc#roomconfig_passwordprotectedroom", "boolean", "Password required", boolString(c.Password != "")))
	x.Add(labelled("muc#roomconfig_roomsecret", "text-private", "Password", c.Password))
	x.Add(options(labelled("muc#roomconfig_maxusers", "list-single", "Most occupants", strconv.Itoa(c.MaxUsers)),
		maxUsersOptions(s.cfg.MaxOccupants)...))
	x.Add(options(labelled("muc#roomconfig_whois", "list-single", "Who may see real addresses", c.Whois),
		"moderators", "Moderators only", "anyone", "Anyone"))
	x.Add(labelled("muc#maxhistoryfetch", "text-single", "Messages in the join history (memory only, at most "+strconv.Itoa(s.cfg.MaxHistory)+")", strconv.Itoa(c.HistoryLength)))
	x.Add(options(labelled("muc#roomconfig_allowpm", "list-single", "Who may send private messages", c.AllowPM),
		"anyone", "Anyone", "participants", "Participants", "moderators", "Moderators", "none", "Nobody"))
	x.Add(labelled("muc#roomconfig_allowinvites", "boolean", "Occupants may invite others", boolString(c.AllowInvites)))
	x.Add(labelled("muc#roomconfig_changesubject", "boolean", "Occupants may change the subject", boolString(c.ChangeSubject)))
	x.Add(labelled("muc#roomconfig_enablearchiving", "boolean", "Archive messages on the server for "+days(s.cfg.ArchiveMaxAge), boolString(c.Archive)))
	return x
}

func maxUsersOptions(limit int) []string {
	var out []string
	for _, n := range []int{10, 20, 50, 100, 200, 500, 1000} {
		if n < limit {
			out = append(out, strconv.Itoa(n), strconv.Itoa(n))
		}
	}
	return append(out, strconv.Itoa(limit), strconv.Itoa(limit))
}

func days(d time.Duration) string {
	n := int(d / (24 * time.Hour))
	if n == 1 {
		return "1 day"
	}
	if n == 0 {
		return d.String()
	}
	return strconv.Itoa(n) + " days"
}

// applyConfig returns the configuration a submitted form sets, or false
// for a value out of range.
func (s *Service) applyConfig(c roomConfig, x *wire.Element) (roomConfig, bool) {
	v := formValues(x)
	setBool := func(key string, dst *bool) bool {
		raw, ok := v[key]
		if !ok {
			return true
		}
		b, ok := parseBool(raw)
		if ok {
			*dst = b
		}
		return ok
	}
	if n, ok := v["muc#roomconfig_roomname"]; ok {
		c.Name = n
	}
	if d, ok := v["muc#roomconfig_roomdesc"]; ok {
		c.Description = d
	}
	ok := setBool("muc#roomconfig_persistentroom", &c.Persistent) &&
		setBool("muc#roomconfig_publicroom", &c.Public) &&
		setBool("muc#roomconfig_membersonly", &c.MembersOnly) &&
		setBool("muc#roomconfig_moderatedroom", &c.Moderated) &&
		setBool("muc#roomconfig_allowinvites", &c.AllowInvites) &&
		setBool("muc#roomconfig_changesubject", &c.ChangeSubject) &&
		setBool("muc#roomconfig_enablearchiving", &c.Archive)
	if !ok {
		return c, false
	}
	protected := c.Password != ""
	if !setBool("muc#roomconfig_passwordprotectedroom", &protected) {
		return c, false
	}
	if p, ok := v["muc#roomconfig_roomsecret"]; ok {
		c.Password = p
	}
	if !protected {
		c.Password = ""
	}
	if m, ok := v["muc#roomconfig_maxusers"]; ok {
		if m == "" || m == "none" {
			c.MaxUsers = s.cfg.MaxOccupants
		} else {
			n, err := strconv.Atoi(strings.TrimSpace(m))
			if err != nil || n < 1 {
				return c, false
			}
			c.MaxUsers = min(n, s.cfg.MaxOccupants)
		}
	}
	if w, ok := v["muc#roomconfig_whois"]; ok {
		if w != "moderators" && w != "anyone" {
			return c, false
		}
		c.Whois = w
	}
	for _, key := range []string{"muc#maxhistoryfetch", "muc#roomconfig_historylength"} {
		if h, ok := v[key]; ok && h != "" {
			n, err := strconv.Atoi(strings.TrimSpace(h))
			if err != nil || n < 0 {
				return c, false
			}
			c.HistoryLength = min(n, s.cfg.MaxHistory)
		}
	}
	if p, ok := v["muc#roomconfig_allowpm"]; ok {
		switch p {
		case "anyone", "participants", "moderators", "none":
			c.AllowPM = p
		default:
			return c, false
		}
	}
	if len(c.Name) > 1024 || len(c.Description) > 4096 || len(c.Password) > 1024 {
		return c, false
	}
	return c, true
}

// infoForm returns the muc#roominfo form (§15.5.4): what a room is, and
// what it keeps.
//
// The subject and the occupant count are given only to those who may
// read the room (mayRead): a password or members-only room says nothing
// of its conversation to strangers.
func (s *Service) infoForm(r *room, reader bool) *wire.Element {
	x := wire.New(NSData, "x", "type", "result")
	x.Add(field("FORM_TYPE", "hidden", NSRoomInfo))
	x.Add(labelled("muc#roomconfig_roomname", "text-single", "Name", r.cfg.Name))
	x.Add(labelled("muc#roominfo_description", "text-single", "Description", r.cfg.Description))
	if reader {
		x.Add(labelled("muc#roominfo_occupants", "text-single", "Occupants", strconv.Itoa(len(r.occupants))))
	}
	if r.subject != "" && reader {
		x.Add(labelled("muc#roominfo_subject", "text-single", "Subject", r.subject))
	}
	x.Add(labelled("muc#roomconfig_changesubject", "boolean", "Occupants may change the subject", boolString(r.cfg.ChangeSubject)))
	x.Add(labelled("muc#maxhistoryfetch", "text-single", "Join history (messages, in memory only, lost on restart)", strconv.Itoa(r.cfg.HistoryLength)))
	x.Add(labelled("muc#roomconfig_enablearchiving", "boolean", "Messages archived on the server", boolString(r.cfg.Archive)))
	age := "0"
	if r.cfg.Archive {
		age = strconv.FormatInt(int64(s.cfg.ArchiveMaxAge/time.Second), 10)
	}
	x.Add(labelled("x-chatbx-archive-max-age", "text-single", "Archived messages are deleted after (seconds; 0: nothing is archived)", age))
	x.Add(labelled("x-chatbx-history", "text-single", "Join history",
		"kept in memory only, at most "+strconv.Itoa(r.cfg.HistoryLength)+" messages, lost on restart"))
	return x
}
