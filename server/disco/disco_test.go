package disco_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"chatbx/server/disco"
	"chatbx/server/iq"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
	"chatbx/store/storetest"
)

var _ iq.Handler = disco.New(disco.Config{}, nil).Handle

// memRoster is an in-memory Roster: owner → contact bare JID → subscription.
type memRoster map[string]map[string]store.Subscription

func (m memRoster) RosterItem(_ context.Context, user, jid string) (store.RosterItem, error) {
	sub, ok := m[user][jid]
	if !ok {
		return store.RosterItem{}, fmt.Errorf("mem: roster item: %w", store.ErrNotFound)
	}
	return store.RosterItem{JID: jid, Sub: sub}, nil
}

var roster = memRoster{
	"bob":   {"alice@example.org": store.SubFrom},
	"carol": {"alice@example.org": store.SubBoth},
	"dave":  {"alice@example.org": store.SubTo},
	"erin":  {"alice@example.org": store.SubNone},
}

const header = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`

// parse and str are the shared test helpers.
var (
	parse = xmpptest.Parse
	str   = xmpptest.String
)

var alice = iq.Context{User: "alice", Domain: "example.org", From: "alice@example.org/phone"}

func testConfig() disco.Config {
	return disco.Config{
		Features: []string{"urn:xmpp:ping", "jabber:iq:version", "urn:xmpp:ping", "", "urn:xmpp:blocking"},
		Items:    []disco.Item{{JID: "upload.example.org", Name: "HTTP upload"}},
		Contact: disco.Contact{
			Admin: []string{"xmpp:admin@example.org", "mailto:admin@example.org"},
			Abuse: []string{"mailto:abuse@example.org"},
		},
		DataPolicy: &disco.DataPolicy{
			Retention: map[string]time.Duration{
				"uploads":         30 * 24 * time.Hour,
				"connection-logs": 24 * time.Hour,
			},
			ArchiveDefault: "never",
			IPv4Prefix:     24,
			IPv6Prefix:     48,
			MaintenanceMax: 24 * time.Hour,
			PolicyURL:      "https://example.org/privacy",
			Extra:          map[string]string{"archive-default": "duplicate is dropped", "ads": "none"},
		},
		AccountIdentities: []disco.Identity{{Category: "pubsub", Type: "pep"}},
		AccountFeatures:   []string{"http://jabber.org/protocol/pubsub#publish"},
	}
}

const (
	serverInfo = `<query xmlns="http://jabber.org/protocol/disco#info">` +
		`<identity category="server" type="im" name="chatbx"/>` +
		`<feature var="http://jabber.org/protocol/disco#info"/>` +
		`<feature var="http://jabber.org/protocol/disco#items"/>` +
		`<feature var="jabber:iq:version"/>` +
		`<feature var="urn:xmpp:blocking"/>` +
		`<feature var="urn:xmpp:ping"/>` +
		`<x xmlns="jabber:x:data" type="result">` +
		`<field var="FORM_TYPE" type="hidden"><value>http://jabber.org/network/serverinfo</value></field>` +
		`<field var="abuse-addresses" type="list-multi"><value>mailto:abuse@example.org</value></field>` +
		`<field var="admin-addresses" type="list-multi"><value>xmpp:admin@example.org</value><value>mailto:admin@example.org</value></field>` +
		`</x>` +
		`<x xmlns="jabber:x:data" type="result">` +
		`<field var="FORM_TYPE" type="hidden"><value>urn:chatbx:data-policy</value></field>` +
		`<field var="ads"><value>none</value></field>` +
		`<field var="archive-default"><value>never</value></field>` +
		`<field var="ip-anonymisation-ipv4-prefix"><value>24</value></field>` +
		`<field var="ip-anonymisation-ipv6-prefix"><value>48</value></field>` +
		`<field var="maintenance-max-window"><value>86400</value></field>` +
		`<field var="policy-url"><value>https://example.org/privacy</value></field>` +
		`<field var="retention-connection-logs"><value>86400</value></field>` +
		`<field var="retention-uploads"><value>2592000</value></field>` +
		`</x></query>`
	serverItems = `<query xmlns="http://jabber.org/protocol/disco#items">` +
		`<item jid="upload.example.org" name="HTTP upload"/></query>`
	accountInfo = `<query xmlns="http://jabber.org/protocol/disco#info">` +
		`<identity category="account" type="registered"/>` +
		`<identity category="pubsub" type="pep"/>` +
		`<feature var="http://jabber.org/protocol/disco#info"/>` +
		`<feature var="http://jabber.org/protocol/disco#items"/>` +
		`<feature var="http://jabber.org/protocol/pubsub#publish"/>` +
		`</query>`
	accountItems = `<query xmlns="http://jabber.org/protocol/disco#items"/>`
	unavailable  = `<error type="cancel" code="503"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	notFound     = `<error type="cancel" code="404"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
	badRequest   = `<error type="modify" code="400"><bad-request xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
)

func TestHandle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"server info", `<iq type='get' id='1' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type="result" id="1">` + serverInfo + `</iq>`},
		{"server info no to", `<iq type='get' id='2'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type="result" id="2">` + serverInfo + `</iq>`},
		{"server info unnormalised", `<iq type='get' id='3' to='Example.Org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type="result" id="3">` + serverInfo + `</iq>`},
		{"server items", `<iq type='get' id='4' to='example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			`<iq type="result" id="4">` + serverItems + `</iq>`},
		{"account info", `<iq type='get' id='5' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type="result" id="5">` + accountInfo + `</iq>`},
		{"account info unnormalised", `<iq type='get' id='6' to='ALICE@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type="result" id="6">` + accountInfo + `</iq>`},
		{"account items", `<iq type='get' id='7' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			`<iq type="result" id="7">` + accountItems + `</iq>`},
		{"contact sharing presence", `<iq type='get' id='8' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type="result" id="8">` + accountInfo + `</iq>`},
		{"contact sharing both ways", `<iq type='get' id='8' to='carol@example.org'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
			`<iq type="result" id="8">` + accountItems + `</iq>`},
		{"contact not sharing", `<iq type='get' id='8' to='dave@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type="error" id="8">` + unavailable + `</iq>`},
		{"contact without subscription", `<iq type='get' id='8' to='erin@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type="error" id="8">` + unavailable + `</iq>`},
		{"stranger", `<iq type='get' id='8' to='frank@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type="error" id="8">` + unavailable + `</iq>`},
		{"full jid", `<iq type='get' id='9' to='alice@example.org/phone'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type="error" id="9">` + unavailable + `</iq>`},
		{"foreign domain", `<iq type='get' id='10' to='example.net'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type="error" id="10">` + unavailable + `</iq>`},
		{"malformed to", `<iq type='get' id='11' to='a@@b'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type="error" id="11">` + unavailable + `</iq>`},
		{"empty localpart", `<iq type='get' id='11' to='@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type="error" id="11">` + unavailable + `</iq>`},
		{"server node", `<iq type='get' id='12'><query xmlns='http://jabber.org/protocol/disco#info' node='x'/></iq>`,
			`<iq type="error" id="12">` + notFound + `</iq>`},
		{"items node", `<iq type='get' id='13' to='example.org'><query xmlns='http://jabber.org/protocol/disco#items' node='x'/></iq>`,
			`<iq type="error" id="13">` + notFound + `</iq>`},
		{"account node", `<iq type='get' id='14' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#info' node='y'/></iq>`,
			`<iq type="error" id="14">` + notFound + `</iq>`},
		{"set", `<iq type='set' id='15'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type="error" id="15">` + badRequest + `</iq>`},
		{"wrong element", `<iq type='get' id='16'><info xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
			`<iq type="error" id="16">` + badRequest + `</iq>`},
		{"wrong namespace", `<iq type='get' id='17'><query xmlns='jabber:iq:version'/></iq>`,
			`<iq type="error" id="17">` + badRequest + `</iq>`},
		{"no payload", `<iq type='get' id='18'/>`, `<iq type="error" id="18">` + badRequest + `</iq>`},
		{"result", `<iq type='result' id='19'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, ``},
	}
	d := disco.New(testConfig(), roster)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := str(d.Handle(t.Context(), alice, parse(t, tc.in)))
			if got != tc.want {
				t.Errorf("Handle(%s)\n got %s\nwant %s", tc.in, got, tc.want)
			}
		})
	}
}

// An empty configuration still answers with the mandatory identity and
// features and leaves the forms out.
func TestMinimal(t *testing.T) {
	t.Parallel()
	d := disco.New(disco.Config{Name: "srv"}, nil)
	got := str(d.Handle(t.Context(), alice, parse(t, `<iq type='get' id='1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)))
	want := `<iq type="result" id="1"><query xmlns="http://jabber.org/protocol/disco#info">` +
		`<identity category="server" type="im" name="srv"/>` +
		`<feature var="http://jabber.org/protocol/disco#info"/>` +
		`<feature var="http://jabber.org/protocol/disco#items"/></query></iq>`
	if got != want {
		t.Errorf("minimal disco#info\n got %s\nwant %s", got, want)
	}
	if f := d.Features(); len(f) != 2 {
		t.Errorf("Features() = %v", f)
	}
}

// Answers are shared; serialising one must not change the next.
func TestAnswersStable(t *testing.T) {
	t.Parallel()
	d := disco.New(testConfig(), nil)
	req := parse(t, `<iq type='get' id='1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	a := str(d.Handle(t.Context(), alice, req))
	b := str(d.Handle(t.Context(), alice, req))
	if a != b {
		t.Errorf("second answer differs:\n%s\n%s", a, b)
	}
}

// Without a roster, other accounts are never shown.
func TestNoRoster(t *testing.T) {
	t.Parallel()
	d := disco.New(testConfig(), nil)
	got := str(d.Handle(t.Context(), alice, parse(t, `<iq type='get' id='1' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)))
	if want := `<iq type="error" id="1">` + unavailable + `</iq>`; got != want {
		t.Errorf("disco#info on a contact without roster = %s, want %s", got, want)
	}
}

// TestRealStore checks the subscription rule against the bbolt roster.
func TestRealStore(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	storetest.User(t, db, "alice")
	storetest.User(t, db, "bob")
	d := disco.New(testConfig(), db)
	req := `<iq type='get' id='1' to='bob@example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`
	if got := str(d.Handle(t.Context(), alice, parse(t, req))); got != `<iq type="error" id="1">`+unavailable+`</iq>` {
		t.Errorf("before subscription: %s", got)
	}
	if _, err := db.PutRosterItem(t.Context(), "bob", store.RosterItem{JID: "alice@example.org", Sub: store.SubFrom}); err != nil {
		t.Fatal(err)
	}
	if got := str(d.Handle(t.Context(), alice, parse(t, req))); got != `<iq type="result" id="1">`+accountInfo+`</iq>` {
		t.Errorf("after subscription: %s", got)
	}
}

func BenchmarkServerInfo(b *testing.B) {
	d := disco.New(testConfig(), nil)
	req := parse(b, `<iq type='get' id='1' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		d.Handle(ctx, alice, req)
	}
}

func FuzzHandle(f *testing.F) {
	f.Add(`<iq type='get' id='1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	f.Add(`<iq type='get' id='1' to='alice@example.org'><query xmlns='http://jabber.org/protocol/disco#items' node=''/></iq>`)
	f.Add(`<iq type='get' id='1' to='\u00e9@example.org/x'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	d := disco.New(testConfig(), roster)
	f.Fuzz(func(t *testing.T, in string) {
		dec := wire.NewDecoder(strings.NewReader(header+in), 1<<16)
		if _, err := dec.Header(); err != nil {
			t.Fatal(err)
		}
		el, err := dec.Next()
		if err != nil {
			return
		}
		r := d.Handle(t.Context(), alice, el)
		if r == nil {
			return
		}
		if typ := r.Get("type"); r.Local != "iq" || (typ != "result" && typ != "error") || r.Get("id") != el.Get("id") {
			t.Fatalf("Handle(%q) = %s", in, str(r))
		}
	})
}
