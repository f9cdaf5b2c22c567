package mam

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"chatbx/server/iq"
	"chatbx/server/wire"
	"chatbx/store"
)

// Limits on what a client may send.
const (
	maxQueryIDLen = 256  // queryid attribute
	maxIDs        = 250  // values of the ids field
	maxPrefsJIDs  = 1000 // JIDs per always/never list (as the store)
)

// Handle answers the urn:xmpp:mam:2 IQs of the sender's own archive:
// query form (get <query/>), query (set <query/>), metadata (get
// <metadata/>) and preferences (get/set <prefs/>). The archive is the
// sender's bare JID (to empty or the sender's bare JID); other addresses get
// forbidden, or service-unavailable for the server itself, which has no
// archive. Result messages of a query go out through c.Send before the
// returned <fin/> result. Malformed requests get bad-request, unknown form
// fields and RSM <index/> feature-not-implemented (XEP-0313 §4.1.5), and
// unknown ids item-not-found. Handle returns nil for result and error IQs.
func (a *Archive) Handle(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	typ := el.Get("type")
	if typ != "get" && typ != "set" {
		return nil
	}
	p := iq.Payload(el)
	if p == nil || p.Space != NS {
		return iq.Error(el, "modify", "bad-request")
	}
	switch target(c, el.Get("to")) {
	case c.Domain:
		return iq.Error(el, "cancel", "service-unavailable")
	case c.User + "@" + c.Domain:
	default:
		return iq.Error(el, "auth", "forbidden")
	}
	switch {
	case p.Local == "query" && typ == "set":
		return a.query(ctx, c, el, p)
	case p.Local == "query":
		return iq.Result(el, queryForm())
	case p.Local == "metadata" && typ == "get":
		return a.metadata(ctx, c, el)
	case p.Local == "prefs" && typ == "get":
		prefs, err := a.Prefs(ctx, c.User)
		if err != nil {
			return a.storeError(el, err)
		}
		return iq.Result(el, prefsElement(prefs))
	case p.Local == "prefs":
		return a.setPrefs(ctx, c, el, p)
	}
	return iq.Error(el, "cancel", "feature-not-implemented")
}

// target returns the normalised address an IQ is for; empty means the
// sender's own bare JID (RFC 6120 §10.3.3). Addresses the c2s layer
// normalised already compare without parsing.
func target(c iq.Context, to string) string {
	own := c.User + "@" + c.Domain
	switch to {
	case "", own:
		return own
	case c.Domain:
		return to
	}
	j, err := jid.Parse(to)
	if err != nil {
		return to
	}
	if j.Resourcepart() != "" {
		return j.String()
	}
	return j.Bare().String()
}

// queryForm is the form of XEP-0313 §4.1.5.
func queryForm() *wire.Element {
	x := wire.New(nsData, "x", "type", "form")
	x.Add(wire.New(nsData, "field", "type", "hidden", "var", "FORM_TYPE").
		Add(wire.New(nsData, "value").AddText(NS)))
	for _, f := range [][2]string{
		{"jid-single", "with"}, {"text-single", "start"}, {"text-single", "end"},
		{"text-single", "before-id"}, {"text-single", "after-id"},
	} {
		x.Add(wire.New(nsData, "field", "type", f[0], "var", f[1]))
	}
	x.Add(wire.New(nsData, "field", "type", "list-multi", "var", "ids").
		Add(wire.New("http://jabber.org/protocol/xdata-validate", "validate", "datatype", "xs:string").
			Add(wire.New("http://jabber.org/protocol/xdata-validate", "open"))))
	return wire.New(NS, "query").Add(x)
}

// badRequest is a parse failure mapped to a stanza error.
type badRequest struct{ typ, cond string }

func (e badRequest) Error() string { return e.cond }

var (
	errBadRequest     = badRequest{"modify", "bad-request"}
	errNotImplemented = badRequest{"cancel", "feature-not-implemented"}
	errPolicy         = badRequest{"modify", "policy-violation"}
)

// parsed is a query as the store runs it, plus what only the reply needs.
type parsed struct {
	q       store.ArchiveQuery
	queryID string
	flip    bool
}

// parseQuery reads the <query/> of XEP-0313 §4 with its data form
// (XEP-0004), RSM set (XEP-0059) and <flip-page/>.
func (a *Archive) parseQuery(p *wire.Element) (parsed, error) {
	var out parsed
	out.queryID = p.Get("queryid")
	if len(out.queryID) > maxQueryIDLen {
		return out, errBadRequest
	}
	if p.Has("node") {
		// Pubsub archives (XEP-0442) are not offered.
		return out, errNotImplemented
	}
	out.q.Max = a.cfg.PageSize
	seen := map[string]bool{}
	for _, ch := range p.Elements() {
		switch {
		case ch.Space == nsData && ch.Local == "x":
			if seen["x"] {
				return out, errBadRequest
			}
			seen["x"] = true
			if err := parseForm(ch, &out.q); err != nil {
				return out, err
			}
		case ch.Space == nsRSM && ch.Local == "set":
			if seen["set"] {
				return out, errBadRequest
			}
			seen["set"] = true
			if err := a.parseRSM(ch, &out.q); err != nil {
				return out, err
			}
		case ch.Space == NS && ch.Local == "flip-page":
			out.flip = true
		default:
			return out, errBadRequest
		}
	}
	return out, nil
}

// parseForm reads the filter fields of XEP-0313 §4.1.
func parseForm(x *wire.Element, q *store.ArchiveQuery) error {
	if t := x.Get("type"); t != "submit" && t != "" {
		return errBadRequest
	}
	seen := map[string]bool{}
	for _, f := range x.Elements() {
		if f.Space != nsData || f.Local != "field" {
			continue // <title/>, <instructions/>: ignored
		}
		name := f.Get("var")
		if seen[name] {
			return errBadRequest
		}
		seen[name] = true
		var values []string
		for _, v := range f.Elements() {
			if v.Space == nsData && v.Local == "value" {
				values = append(values, strings.TrimSpace(v.Text()))
			}
		}
		if name == "ids" {
			if len(values) > maxIDs {
				return errPolicy
			}
			q.IDs = values
			if len(values) == 0 {
				q.IDs = nil
			}
			continue
		}
		if len(values) > 1 {
			return errBadRequest
		}
		value := ""
		if len(values) == 1 {
			value = values[0]
		}
		var err error
		switch name {
		case "FORM_TYPE":
			if value != NS {
				return errBadRequest
			}
		case "with":
			if value != "" {
				j, perr := jid.Parse(value)
				if perr != nil {
					return errBadRequest
				}
				// Resources are not stored: a full JID matches its bare JID.
				q.With = j.Bare().String()
			}
		case "start":
			q.Start, err = parseTime(value)
		case "end":
			q.End, err = parseTime(value)
			if err == nil && !q.End.IsZero() && q.End.Nanosecond()%1000 == 0 {
				// Stamps are sent with microseconds (see stamp): an end
				// equal to a message's stamp includes that message.
				q.End = q.End.Add(999 * time.Nanosecond)
			}
		case "before-id":
			q.BeforeID = value
		case "after-id":
			q.AfterID = value
		default:
			// XEP-0313 §4.1.5: unknown fields, include-groupchat among
			// them (not advertised), are feature-not-implemented.
			return errNotImplemented
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseTime reads a XEP-0082 DateTime; empty means no bound.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.IsZero() {
		return time.Time{}, errBadRequest
	}
	return t, nil
}

// parseRSM reads the XEP-0059 request: max (capped at Config.MaxPage),
// after, before (empty: the last page).
func (a *Archive) parseRSM(set *wire.Element, q *store.ArchiveQuery) error {
	seen := map[string]bool{}
	for _, e := range set.Elements() {
		if e.Space != nsRSM {
			return errBadRequest
		}
		if seen[e.Local] {
			return errBadRequest
		}
		seen[e.Local] = true
		text := strings.TrimSpace(e.Text())
		switch e.Local {
		case "max":
			n, err := strconv.ParseUint(text, 10, 31)
			if err != nil {
				return errBadRequest
			}
			q.Max = min(int(n), a.cfg.MaxPage)
		case "after":
			if text == "" {
				return errBadRequest
			}
			q.After = text
		case "before":
			if text == "" {
				q.Last = true
			} else {
				q.Before = text
			}
		case "index":
			return errNotImplemented
		default:
			return errBadRequest
		}
	}
	if seen["after"] && seen["before"] {
		// XEP-0313 §4.3: undefined; before-id/after-id select a range.
		return errBadRequest
	}
	return nil
}

// query runs an archive query (XEP-0313 §4) and sends its results.
func (a *Archive) query(ctx context.Context, c iq.Context, el, p *wire.Element) *wire.Element {
	pq, err := a.parseQuery(p)
	if br, ok := errors.AsType[badRequest](err); ok {
		return iq.Error(el, br.typ, br.cond)
	}
	page, err := a.db.QueryArchive(ctx, c.User, pq.q)
	if err != nil {
		return a.storeError(el, err)
	}
	msgs := page.Messages
	if pq.flip {
		msgs = slices.Clone(msgs)
		slices.Reverse(msgs)
	}
	owner := c.User + "@" + c.Domain
	dropped := 0
	defer func() {
		if dropped > 0 {
			// Privacy: a count only, never the content.
			a.cfg.Log.Warn().Int("count", dropped).Msg("skipped malformed archived messages")
		}
	}()
	for _, m := range msgs {
		fwd := wire.StoredMessage(m.Stanza)
		if fwd == nil {
			// Stored by an older version and not well-formed: it must not
			// reach the client, nor stop the messages after it.
			dropped++
			continue
		}
		if c.Send == nil {
			continue
		}
		fwd.Add(wire.New(nsSID, "stanza-id", "id", m.ID, "by", owner))
		r := wire.New(NS, "result", "queryid", pq.queryID, "id", m.ID).Add(
			wire.New(nsForward, "forwarded").Add(
				wire.New(nsDelay, "delay", "stamp", stamp(m.At)),
				fwd))
		c.Send(wire.New(wire.NSClient, "message", "to", c.From, "from", el.Get("to"), "id", rand.Text()).Add(r))
	}
	fin := wire.New(NS, "fin")
	if page.Complete {
		fin.Set("complete", "true")
	}
	set := wire.New(nsRSM, "set")
	if len(page.Messages) > 0 {
		first := wire.New(nsRSM, "first").AddText(page.Messages[0].ID)
		// The index is optional (XEP-0059 §2.6) and is given for forward
		// pages only: slixmpp (1.8) ends a backward iteration as soon as
		// index plus page size reaches the count, i.e. after the newest page.
		if page.Index >= 0 && !pq.q.Last && pq.q.Before == "" {
			first.Set("index", strconv.Itoa(page.Index))
		}
		set.Add(first, wire.New(nsRSM, "last").AddText(page.Messages[len(page.Messages)-1].ID))
	}
	if page.Count >= 0 {
		set.Add(wire.New(nsRSM, "count").AddText(strconv.Itoa(page.Count)))
	}
	return iq.Result(el, fin.Add(set))
}

// stamp formats a XEP-0082 DateTime in UTC with microseconds, so that a
// client's start filter with a stamp it saw selects that message again.
func stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// metadata answers XEP-0313 §5: the first and last message of the archive.
func (a *Archive) metadata(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	first, last, ok, err := a.db.ArchiveEnds(ctx, c.User)
	if err != nil {
		return a.storeError(el, err)
	}
	md := wire.New(NS, "metadata")
	if ok {
		md.Add(wire.New(NS, "start", "id", first.ID, "timestamp", stamp(first.At)),
			wire.New(NS, "end", "id", last.ID, "timestamp", stamp(last.At)))
	}
	return iq.Result(el, md)
}

// prefsElement renders preferences (XEP-0441 §4.1).
func prefsElement(p store.ArchivePrefs) *wire.Element {
	e := wire.New(NS, "prefs", "default", p.Default)
	for _, l := range []struct {
		name string
		jids []string
	}{{"always", p.Always}, {"never", p.Never}} {
		list := wire.New(NS, l.name)
		for _, j := range l.jids {
			list.Add(wire.New(NS, "jid").AddText(j))
		}
		e.Add(list)
	}
	return e
}

// setPrefs handles XEP-0441 §4.2 and answers with the stored preferences.
func (a *Archive) setPrefs(ctx context.Context, c iq.Context, el, p *wire.Element) *wire.Element {
	prefs := store.ArchivePrefs{Default: p.Get("default")}
	switch prefs.Default {
	case Always, Never, Roster:
	default:
		return iq.Error(el, "modify", "bad-request")
	}
	seen := map[string]bool{}
	for _, list := range p.Elements() {
		var dst *[]string
		switch {
		case list.Space == NS && list.Local == "always":
			dst = &prefs.Always
		case list.Space == NS && list.Local == "never":
			dst = &prefs.Never
		default:
			return iq.Error(el, "modify", "bad-request")
		}
		if seen[list.Local] {
			return iq.Error(el, "modify", "bad-request")
		}
		seen[list.Local] = true
		for _, j := range list.Elements() {
			if j.Space != NS || j.Local != "jid" {
				return iq.Error(el, "modify", "bad-request")
			}
			parsed, err := jid.Parse(j.Text())
			if err != nil {
				return iq.Error(el, "modify", "jid-malformed")
			}
			*dst = append(*dst, parsed.Bare().String())
		}
		if len(*dst) > maxPrefsJIDs {
			return iq.Error(el, "modify", "policy-violation")
		}
	}
	if err := a.SetPrefs(ctx, c.User, prefs); err != nil {
		return a.storeError(el, err)
	}
	stored, err := a.Prefs(ctx, c.User)
	if err != nil {
		return a.storeError(el, err)
	}
	return iq.Result(el, prefsElement(stored))
}

// storeError maps a store failure to a stanza error, logging faults.
func (a *Archive) storeError(el *wire.Element, err error) *wire.Element {
	switch {
	case errors.Is(err, store.ErrArchiveID), errors.Is(err, store.ErrNotFound):
		// An unknown id, or an account deleted while its session lives.
		return iq.Error(el, "cancel", "item-not-found")
	case errors.Is(err, store.ErrInvalid):
		return iq.Error(el, "modify", "bad-request")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return iq.Error(el, "wait", "resource-constraint")
	}
	a.cfg.Log.Error().Err(err).Msg("archive request failed")
	return iq.Error(el, "wait", "internal-server-error")
}
