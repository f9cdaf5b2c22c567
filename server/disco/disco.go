// Package disco implements XEP-0030 Service Discovery for the server and
// for the accounts it hosts, with XEP-0128 extended information: the
// XEP-0157 contact addresses of the operator and chatbx's data-policy form
// (the retention periods and anonymisation the server applies, issue 4).
//
// Every answer is built once by New and shared between replies, so a
// disco query costs the reply IQ only.
package disco

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"time"

	"mellium.im/xmpp/jid"

	"chatbx/server/iq"
	"chatbx/server/wire"
	"chatbx/store"
)

// Namespaces and form types.
const (
	// NSInfo is the disco#info namespace (XEP-0030 §3).
	NSInfo = "http://jabber.org/protocol/disco#info"
	// NSItems is the disco#items namespace (XEP-0030 §4).
	NSItems = "http://jabber.org/protocol/disco#items"
	// NS is the package's primary namespace, NSInfo.
	NS = NSInfo
	// NSData is the data forms namespace (XEP-0004) of extended information.
	NSData = "jabber:x:data"
	// FormServerInfo is the FORM_TYPE of the contact addresses (XEP-0157).
	FormServerInfo = "http://jabber.org/network/serverinfo"
	// FormDataPolicy is the FORM_TYPE of chatbx's data-policy form.
	FormDataPolicy = "urn:chatbx:data-policy"
)

// Identity is one <identity/> of a disco#info answer (XEP-0030 §3.1).
type Identity struct {
	Category, Type, Name string
}

// Item is one <item/> of a disco#items answer (XEP-0030 §4.1), for example
// the HTTP upload service.
type Item struct {
	JID, Node, Name string
}

// Field is one field of an extended-information form. Type is the XEP-0004
// field type; empty means text-single, which is then not written.
type Field struct {
	Var, Type string
	Values    []string
}

// Form is an XEP-0128 extended-information form: a result data form whose
// FORM_TYPE is Type.
type Form struct {
	Type   string
	Fields []Field
}

// Config lists what the server advertises. Features and identities are
// sorted and deduplicated by New; disco#info and disco#items are always
// added.
type Config struct {
	// Name is the name of the server's server/im identity ("chatbx" if
	// empty).
	Name string
	// Features are the server's features, gathered from every part
	// (each feature package's Features method).
	Features []string
	// Identities are advertised beside server/im.
	Identities []Identity
	// Items are the server's disco#items (services such as upload).
	Items []Item
	// Contact holds the XEP-0157 addresses (contact.admin, contact.abuse).
	Contact Contact
	// DataPolicy, if not nil, is advertised as the urn:chatbx:data-policy
	// form.
	DataPolicy *DataPolicy
	// Forms are further extended-information forms.
	Forms []Form
	// AccountFeatures and AccountIdentities are advertised for an account's
	// bare JID beside account/registered (for example PEP, XEP-0163).
	AccountFeatures   []string
	AccountIdentities []Identity
	// Commands are the server's ad-hoc commands (XEP-0050 §2.2), listed
	// for disco#items with node http://jabber.org/protocol/commands; with
	// any, the server also advertises the commands feature.
	Commands []Item
}

// NSCommands is the XEP-0050 namespace, also the node that lists commands.
const NSCommands = "http://jabber.org/protocol/commands"

// Contact holds the operator's contact addresses (XEP-0157), as URIs such
// as mailto:abuse@example.org or xmpp:admin@example.org.
type Contact struct {
	Abuse, Admin, Feedback, Sales, Security, Status, Support []string
}

// Form returns the XEP-0157 serverinfo form, and false if c holds no
// address (the form is then left out).
func (c Contact) Form() (Form, bool) {
	f := Form{Type: FormServerInfo}
	for _, a := range []struct {
		name string
		uris []string
	}{
		{"abuse-addresses", c.Abuse},
		{"admin-addresses", c.Admin},
		{"feedback-addresses", c.Feedback},
		{"sales-addresses", c.Sales},
		{"security-addresses", c.Security},
		{"status-addresses", c.Status},
		{"support-addresses", c.Support},
	} {
		if len(a.uris) > 0 {
			f.Fields = append(f.Fields, Field{Var: a.name, Type: "list-multi", Values: a.uris})
		}
	}
	return f, len(f.Fields) > 0
}

// DataPolicy describes what the running server keeps and for how long, so
// that clients and auditors can read the privacy policy's promises from
// the server itself (issue 4). It is built from the running configuration.
type DataPolicy struct {
	// Retention maps a kind of data ("uploads", "connection-logs",
	// "web-error-logs", "offline-messages", ...) to how long it is kept.
	// Each becomes a field retention-<kind> whose value is whole seconds.
	Retention map[string]time.Duration
	// ArchiveDefault is the message archive default for accounts
	// ("never", "roster", "always"); empty leaves the field out.
	ArchiveDefault string
	// IPv4Prefix and IPv6Prefix are the prefix lengths kept of client
	// addresses in connection logs (24 and 48 by default); zero leaves the
	// field out.
	IPv4Prefix, IPv6Prefix int
	// MaintenanceMax is the longest maintenance window, during which full
	// addresses are logged; zero leaves the field out.
	MaintenanceMax time.Duration
	// PolicyURL is the address of the privacy policy; empty leaves it out.
	PolicyURL string
	// Extra holds further fields by name, written as given.
	Extra map[string]string
}

// Form returns the urn:chatbx:data-policy form. Fields are in name order
// so that the answer is stable.
func (p DataPolicy) Form() Form {
	f := Form{Type: FormDataPolicy}
	add := func(name, value string) { f.Fields = append(f.Fields, Field{Var: name, Values: []string{value}}) }
	for kind, d := range p.Retention {
		add("retention-"+kind, strconv.FormatInt(int64(d/time.Second), 10))
	}
	if p.ArchiveDefault != "" {
		add("archive-default", p.ArchiveDefault)
	}
	if p.IPv4Prefix > 0 {
		add("ip-anonymisation-ipv4-prefix", strconv.Itoa(p.IPv4Prefix))
	}
	if p.IPv6Prefix > 0 {
		add("ip-anonymisation-ipv6-prefix", strconv.Itoa(p.IPv6Prefix))
	}
	if p.MaintenanceMax > 0 {
		add("maintenance-max-window", strconv.FormatInt(int64(p.MaintenanceMax/time.Second), 10))
	}
	if p.PolicyURL != "" {
		add("policy-url", p.PolicyURL)
	}
	for k, v := range p.Extra {
		add(k, v)
	}
	slices.SortStableFunc(f.Fields, func(a, b Field) int { return cmp.Compare(a.Var, b.Var) })
	f.Fields = slices.CompactFunc(f.Fields, func(a, b Field) bool { return a.Var == b.Var })
	return f
}

// Roster is the part of store.DB the package uses to decide whether
// another account may see an account's information.
type Roster interface {
	// RosterItem returns user's roster item for the bare JID jid, or an
	// error wrapping store.ErrNotFound.
	RosterItem(ctx context.Context, user, jid string) (store.RosterItem, error)
}

var _ Roster = (*store.DB)(nil)

// Disco answers disco#info and disco#items queries. It is safe for
// concurrent use; its answers are immutable once New returns.
type Disco struct {
	serverInfo, serverItems   *wire.Element
	commandItems              *wire.Element
	accountInfo, accountItems *wire.Element
	roster                    Roster
}

// New builds every answer from cfg. roster may be nil; then queries about
// other accounts always get service-unavailable.
func New(cfg Config, roster Roster) *Disco {
	name := cfg.Name
	if name == "" {
		name = "chatbx"
	}
	d := &Disco{roster: roster}
	ids := append([]Identity{{Category: "server", Type: "im", Name: name}}, cfg.Identities...)
	base := []string{NSInfo, NSItems}
	if len(cfg.Commands) > 0 {
		base = append(base, NSCommands)
	}
	features := normalise(append(base, cfg.Features...))
	forms := slices.Clone(cfg.Forms)
	if f, ok := cfg.Contact.Form(); ok {
		forms = append(forms, f)
	}
	if cfg.DataPolicy != nil {
		forms = append(forms, cfg.DataPolicy.Form())
	}
	d.serverInfo = info(ids, features, forms)
	d.serverItems = items(cfg.Items)
	if len(cfg.Commands) > 0 {
		d.commandItems = items(cfg.Commands)
		d.commandItems.Set("node", NSCommands)
	}

	ids = append([]Identity{{Category: "account", Type: "registered"}}, cfg.AccountIdentities...)
	d.accountInfo = info(ids, normalise(append([]string{NSInfo, NSItems}, cfg.AccountFeatures...)), nil)
	d.accountItems = items(nil)
	return d
}

// Namespaces returns the IQ payload namespaces Handle serves.
func (*Disco) Namespaces() []string { return []string{NSInfo, NSItems} }

// Features returns the disco features the package adds itself: disco#info
// and disco#items. New adds them to the server's list in any case.
func (*Disco) Features() []string { return []string{NSInfo, NSItems} }

// Handle answers disco#info and disco#items queries (XEP-0030 §3, §4)
// addressed to the server (to empty or the domain) or to an account's bare
// JID, which the server answers for (RFC 6121 §8.5.2.1.3). Queries with a
// node get item-not-found: the server publishes no nodes.
//
// Privacy: an account's information is shown to the account itself and to
// contacts it shares its presence with (subscription from or both), who
// know it exists anyway; anyone else gets service-unavailable, the same
// answer as for an account that does not exist.
// Set requests get bad-request; results and errors get no answer (nil).
// The returned payload is shared between replies and must not be modified.
func (d *Disco) Handle(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	switch el.Get("type") {
	case "get":
	case "set":
		return iq.Error(el, "modify", "bad-request")
	default:
		return nil
	}
	p := iq.Payload(el)
	if p == nil || p.Local != "query" || (p.Space != NSInfo && p.Space != NSItems) {
		return iq.Error(el, "modify", "bad-request")
	}
	var info, items *wire.Element
	switch t, owner := addressee(c, el.Get("to")); {
	case t == toServer:
		info, items = d.serverInfo, d.serverItems
	case t == toSelf || t == toAccount && d.shares(ctx, owner, c):
		info, items = d.accountInfo, d.accountItems
	default:
		return iq.Error(el, "cancel", "service-unavailable")
	}
	if node := p.Get("node"); node != "" {
		// The only node is the server's command list (XEP-0050 §2.2).
		if node == NSCommands && p.Space == NSItems && items == d.serverItems && d.commandItems != nil {
			return iq.Result(el, d.commandItems)
		}
		return iq.Error(el, "cancel", "item-not-found")
	}
	if p.Space == NSInfo {
		return iq.Result(el, info)
	}
	return iq.Result(el, items)
}

// shares reports whether owner shares presence with the sender of c, that
// is whether the sender may know the account (RFC 6121 §3).
func (d *Disco) shares(ctx context.Context, owner string, c iq.Context) bool {
	if d.roster == nil || (c.User == "" && c.Peer == "") {
		return false
	}
	it, err := d.roster.RosterItem(ctx, owner, c.Bare())
	return err == nil && (it.Sub == store.SubFrom || it.Sub == store.SubBoth)
}

// normalise sorts and deduplicates features, dropping empty ones.
func normalise(features []string) []string {
	out := slices.DeleteFunc(slices.Clone(features), func(s string) bool { return s == "" })
	slices.Sort(out)
	return slices.Clip(slices.Compact(out))
}

// info builds a disco#info <query/>: identities, features and forms in the
// order XEP-0030 §3.1 and XEP-0128 §2 show.
func info(ids []Identity, features []string, forms []Form) *wire.Element {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b Identity) int {
		return cmp.Or(cmp.Compare(a.Category, b.Category), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Name, b.Name))
	})
	ids = slices.Compact(ids)
	q := wire.New(NSInfo, "query")
	for _, id := range ids {
		q.Add(wire.New(NSInfo, "identity", "category", id.Category, "type", id.Type, "name", id.Name))
	}
	for _, f := range features {
		q.Add(wire.New(NSInfo, "feature", "var", f))
	}
	for _, f := range forms {
		x := wire.New(NSData, "x", "type", "result")
		x.Add(field(Field{Var: "FORM_TYPE", Type: "hidden", Values: []string{f.Type}}))
		for _, fl := range f.Fields {
			x.Add(field(fl))
		}
		q.Add(x)
	}
	return q
}

func field(f Field) *wire.Element {
	el := wire.New(NSData, "field", "var", f.Var, "type", f.Type)
	for _, v := range f.Values {
		el.Add(wire.New(NSData, "value").AddText(v))
	}
	return el
}

// items builds a disco#items <query/>.
func items(list []Item) *wire.Element {
	q := wire.New(NSItems, "query")
	for _, it := range list {
		q.Add(wire.New(NSItems, "item", "jid", it.JID, "node", it.Node, "name", it.Name))
	}
	return q
}

type target uint8

const (
	toOther   target = iota
	toServer         // empty or the domain
	toSelf           // the sender's bare JID
	toAccount        // another local account's bare JID
)

// addressee classifies an IQ's to address and returns the localpart for
// toAccount. Normalised addresses compare without allocating; others are
// normalised first (RFC 7622).
func addressee(c iq.Context, to string) (target, string) {
	u, d := c.User, c.Domain
	switch {
	case to == "" || to == d:
		return toServer, ""
	case u != "" && len(to) == len(u)+1+len(d) && to[len(u)] == '@' && to[:len(u)] == u && to[len(u)+1:] == d:
		return toSelf, u
	}
	j, err := jid.Parse(to)
	if err != nil || j.Resourcepart() != "" || j.Domainpart() != d {
		return toOther, ""
	}
	switch l := j.Localpart(); l {
	case "":
		return toServer, ""
	case u: // u is not empty here: the empty localpart matched above
		return toSelf, u
	default:
		return toAccount, l
	}
}
