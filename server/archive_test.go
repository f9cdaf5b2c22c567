package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/history"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"chatbx/server"
	"chatbx/server/mam"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
)

// startArchive starts a server with the message archive wired as main
// wires it.
func startArchive(t *testing.T) (*env, *mam.Archive) {
	t.Helper()
	var a *mam.Archive
	e := start(t, func(c *server.Config) {})
	// Restart with the archive: start() gave us a store; build the archive
	// on it and a second server sharing it is not allowed, so rebuild.
	e.stop()
	a = mam.New(e.db, domain, mam.Config{})
	e2 := startWith(t, e, func(c *server.Config, d *server.Deps) {
		c.Extra = append(c.Extra, a)
		c.AccountFeatures = a.Features()
		d.Archive = a.Archive
	})
	return e2, a
}

func mamIDs(t *testing.T, c *xmpptest.Client, id, form, rsm string) (bodies []string, fin *wire.Element) {
	t.Helper()
	c.SendRaw(`<iq type='set' id='` + id + `'><query xmlns='urn:xmpp:mam:2' queryid='q` + id + `'>` + form + rsm + `</query></iq>`)
	for {
		el, err := c.Next()
		if err != nil {
			t.Fatal(err)
		}
		if el.Local == "message" {
			if r := el.Child("urn:xmpp:mam:2", "result"); r != nil {
				fwd := r.Child("urn:xmpp:forward:0", "forwarded")
				bodies = append(bodies, fwd.Child(wire.NSClient, "message").ChildText(wire.NSClient, "body"))
			}
			continue
		}
		if el.Local == "iq" && el.Get("id") == id {
			if el.Get("type") != "result" {
				return nil, el
			}
			return bodies, el.Child("urn:xmpp:mam:2", "fin")
		}
	}
}

func dataForm(fields ...string) string {
	var b strings.Builder
	b.WriteString(`<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>`)
	for i := 0; i+1 < len(fields); i += 2 {
		fmt.Fprintf(&b, `<field var='%s'><value>%s</value></field>`, fields[i], fields[i+1])
	}
	b.WriteString(`</x>`)
	return b.String()
}

func dbContains(t *testing.T, e *env, marker string) bool {
	t.Helper()
	b, err := os.ReadFile(e.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Contains(b, []byte(marker))
}

func TestArchiveOptIn(t *testing.T) {
	e, arch := startArchive(t)
	e.user(t, "alice")
	e.user(t, "bob")
	a := e.login(t, "alice")
	b := e.login(t, "bob")
	a.SendRaw(`<presence/>`)
	b.SendRaw(`<presence/>`)
	a.IQ(`<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>`)
	b.IQ(`<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>`)

	// A new account's preference is never.
	r := a.IQ(`<iq type='get' id='p1'><prefs xmlns='urn:xmpp:mam:2'/></iq>`)
	if p := r.Child("urn:xmpp:mam:2", "prefs"); p == nil || p.Get("default") != "never" {
		t.Fatalf("new account prefs = %s, want default never", r)
	}
	// Messages exchanged now are not archived, and after delivery no copy
	// is in the database file.
	a.SendRaw(`<message to='bob@chatbx.test' type='chat'><body>MARKER-unarchived</body></message>`)
	b.Expect("message", isMsg("MARKER-unarchived"))
	if bodies, _ := mamIDs(t, a, "q0", "", ""); len(bodies) != 0 {
		t.Fatalf("archive with default never holds %v", bodies)
	}
	e.db.Scrub(context.Background())
	if dbContains(t, e, "MARKER-unarchived") {
		t.Fatal("an unarchived message body is in the database file")
	}

	// alice opts in.
	if r := a.IQ(`<iq type='set' id='p2'><prefs xmlns='urn:xmpp:mam:2' default='always'/></iq>`); r.Get("type") != "result" {
		t.Fatalf("set prefs: %s", r)
	}
	before := time.Now().UTC()
	for i := 0; i < 7; i++ {
		from, to := a, "bob"
		if i%2 == 1 {
			from, to = b, "alice"
		}
		from.SendRaw(fmt.Sprintf(`<message to='%s@chatbx.test' type='chat'><body>msg%d</body></message>`, to, i))
		rcv := b
		if to == "alice" {
			rcv = a
		}
		m := rcv.Expect("message", isMsg(fmt.Sprintf("msg%d", i)))
		sid := m.Child("urn:xmpp:sid:0", "stanza-id")
		if to == "alice" && (sid == nil || sid.Get("by") != "alice@chatbx.test") {
			t.Errorf("message to alice lacks her stanza-id: %s", m)
		}
		if to == "bob" && sid != nil {
			t.Errorf("bob (archive off) got a stanza-id: %s", m)
		}
	}
	// Paging with max=2 over every page, in order.
	var all []string
	after := ""
	for page := 0; page < 10; page++ {
		rsm := `<set xmlns='http://jabber.org/protocol/rsm'><max>2</max>` + after + `</set>`
		bodies, fin := mamIDs(t, a, fmt.Sprintf("pg%d", page), "", rsm)
		all = append(all, bodies...)
		if fin.Get("complete") == "true" {
			break
		}
		last := fin.Child("http://jabber.org/protocol/rsm", "set").ChildText("http://jabber.org/protocol/rsm", "last")
		after = `<after>` + last + `</after>`
	}
	want := "msg0 msg1 msg2 msg3 msg4 msg5 msg6"
	if got := strings.Join(all, " "); got != want {
		t.Errorf("paged archive = %q, want %q", got, want)
	}
	// with, start and end filters.
	if bodies, _ := mamIDs(t, a, "w1", dataForm("with", "bob@chatbx.test"), ""); len(bodies) != 7 {
		t.Errorf("with=bob: %v", bodies)
	}
	if bodies, _ := mamIDs(t, a, "w2", dataForm("with", "carol@chatbx.test"), ""); len(bodies) != 0 {
		t.Errorf("with=carol: %v", bodies)
	}
	if bodies, _ := mamIDs(t, a, "s1", dataForm("start", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), ""); len(bodies) != 0 {
		t.Errorf("start in the future: %v", bodies)
	}
	if bodies, _ := mamIDs(t, a, "s2", dataForm("start", before.Add(-time.Second).Format(time.RFC3339), "end", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), ""); len(bodies) != 7 {
		t.Errorf("start..end: %v", bodies)
	}
	// The partner who never opted in has an empty archive.
	if bodies, _ := mamIDs(t, b, "b1", "", ""); len(bodies) != 0 {
		t.Errorf("bob's archive holds %v", bodies)
	}

	// Malformed queries get stanza errors; a huge max is capped.
	for _, tc := range []struct{ name, form, rsm string }{
		{"bad date", dataForm("start", "yesterday"), ""},
		{"unknown field", dataForm("colour", "blue"), ""},
		{"bad max", "", `<set xmlns='http://jabber.org/protocol/rsm'><max>lots</max></set>`},
		{"unknown id", "", `<set xmlns='http://jabber.org/protocol/rsm'><after>nope</after></set>`},
	} {
		if _, fin := mamIDs(t, a, "bad", tc.form, tc.rsm); fin == nil || fin.Local != "iq" || fin.Get("type") != "error" {
			t.Errorf("%s: got %v, want an error", tc.name, fin)
		}
	}
	if bodies, _ := mamIDs(t, a, "huge", "", `<set xmlns='http://jabber.org/protocol/rsm'><max>100000000</max></set>`); len(bodies) != 7 {
		t.Errorf("huge max: %d results", len(bodies))
	}

	// A mellium client reads the same archive.
	melliumHistory(t, e, "alice", "secret-alice", 7)

	// Back to never: nothing new is archived.
	a.IQ(`<iq type='set' id='p3'><prefs xmlns='urn:xmpp:mam:2' default='never'/></iq>`)
	b.SendRaw(`<message to='alice@chatbx.test' type='chat'><body>after-never</body></message>`)
	a.Expect("message", isMsg("after-never"))
	if bodies, _ := mamIDs(t, a, "n1", "", ""); len(bodies) != 7 {
		t.Errorf("after never: %v", bodies)
	}
	// The archive is advertised on the account's bare JID, and its purge
	// command in the server's command list (XEP-0050 §2.2).
	if r := a.IQ(`<iq type='get' id='d1' to='alice@chatbx.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`); !strings.Contains(r.String(), "urn:xmpp:mam:2") {
		t.Errorf("disco#info on the bare JID lacks MAM: %s", r)
	}
	if r := a.IQ(`<iq type='get' id='d2' to='chatbx.test'><query xmlns='http://jabber.org/protocol/disco#items' node='http://jabber.org/protocol/commands'/></iq>`); !strings.Contains(r.String(), mam.PurgeNode) {
		t.Errorf("command list lacks the purge: %s", r)
	}
	// Purge in-band through the ad-hoc command: the archive is empty and no
	// marker is left in the file.
	r = a.IQ(`<iq type='set' id='c1' to='chatbx.test'><command xmlns='http://jabber.org/protocol/commands' node='` + mam.PurgeNode + `' action='execute'/></iq>`)
	sid := r.Child("http://jabber.org/protocol/commands", "command").Get("sessionid")
	r = a.IQ(`<iq type='set' id='c2' to='chatbx.test'><command xmlns='http://jabber.org/protocol/commands' node='` + mam.PurgeNode + `' sessionid='` + sid + `' action='complete'>` +
		`<x xmlns='jabber:x:data' type='submit'><field var='confirm'><value>1</value></field></x></command></iq>`)
	if c := r.Child("http://jabber.org/protocol/commands", "command"); c == nil || c.Get("status") != "completed" {
		t.Fatalf("purge command: %s", r)
	}
	_ = arch
	if bodies, _ := mamIDs(t, a, "x1", "", ""); len(bodies) != 0 {
		t.Errorf("after purge: %v", bodies)
	}
	for i := 0; i < 7; i++ {
		if dbContains(t, e, fmt.Sprintf("msg%d", i)) {
			t.Errorf("msg%d still in the database file after purge", i)
		}
	}
}

// melliumHistory logs in with mellium's client and pages through the
// archive with mellium's history package.
func melliumHistory(t *testing.T, e *env, user, pass string, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*xmpptest.Wait)
	defer cancel()
	conn, err := net.Dial("tcp", e.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	me := jid.MustParse(user + "@" + domain)
	sess, err := xmpp.NewClientSession(ctx, me, conn,
		xmpp.StartTLS(&tls.Config{RootCAs: e.ca.Pool, ServerName: domain}),
		xmpp.SASL("", pass, sasl.ScramSha256),
		xmpp.BindResource())
	if err != nil {
		t.Fatalf("mellium login: %v", err)
	}
	defer sess.Close()
	// The handler decodes each result as it arrives (synchronously, on
	// the session's read loop); history.Fetch returns after the <fin/>.
	var mu sync.Mutex
	var got []string
	h := history.NewHandler(mux.MessageHandlerFunc(func(_ stanza.Message, r xmlstream.TokenReadEncoder) error {
		var m struct {
			Body string `xml:"forwarded>message>body"`
		}
		if err := xml.NewTokenDecoder(r).Decode(&m); err != nil {
			return err
		}
		mu.Lock()
		got = append(got, m.Body)
		mu.Unlock()
		return nil
	}))
	go sess.Serve(mux.New(stanza.NSClient, history.Handle(h)))
	res, err := history.Fetch(ctx, history.Query{Limit: 100}, me.Bare(), sess)
	if err != nil {
		t.Fatalf("mellium history: %v", err)
	}
	if !res.Complete {
		t.Errorf("mellium history: fin not complete: %+v", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != want {
		t.Errorf("mellium history: %d messages %v, want %d", len(got), got, want)
	}
}

// TestArchiveSlixmpp: Debian's slixmpp reads preferences and pages the
// archive (XEP-0313/0441/0059 plugins).
func TestArchiveSlixmpp(t *testing.T) {
	e, _ := startArchive(t)
	e.user(t, "alice")
	e.user(t, "carol")
	a := e.login(t, "alice")
	c := e.login(t, "carol")
	a.IQ(`<iq type='set' id='p'><prefs xmlns='urn:xmpp:mam:2' default='always'/></iq>`)
	a.SendRaw(`<presence/>`)
	for i := 0; i < 5; i++ {
		c.SendRaw(fmt.Sprintf(`<message to='alice@chatbx.test' type='chat'><body>s%d</body></message>`, i))
		a.Expect("message", isMsg(fmt.Sprintf("s%d", i)))
	}
	a.Close()
	ca := writeCA(t, e)
	py := xmpptest.RequireCommand(t, "/usr/bin/python3")
	host, port, _ := net.SplitHostPort(e.plain)
	// Longer than the script's own 90 s wait, so its output is kept.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "testdata/slix_mam.py", "alice@chatbx.test", "secret-alice", host, port, ca).CombinedOutput()
	s := string(out)
	if err != nil {
		t.Fatalf("slix_mam.py: %v\n%s", err, s)
	}
	for _, want := range []string{"PREFS always", "ALL ['s0', 's1', 's2', 's3', 's4']", "WITH ['s0', 's1', 's2', 's3', 's4']", "SET never"} {
		if !strings.Contains(s, want) {
			t.Errorf("slixmpp output lacks %q:\n%s", want, s)
		}
	}
}

// TestArchiveCarbonsStanzaID: the sent carbon another device of the
// archiving user sees carries the same stanza-id as the archive entry.
func TestArchiveCarbonsStanzaID(t *testing.T) {
	e, _ := startArchive(t)
	e.user(t, "alice")
	e.user(t, "bob")
	phone := e.login(t, "alice", xmpptest.Options{Resource: "phone"})
	laptop := e.login(t, "alice", xmpptest.Options{Resource: "laptop"})
	phone.IQ(`<iq type='set' id='p'><prefs xmlns='urn:xmpp:mam:2' default='always'/></iq>`)
	laptop.IQ(`<iq type='set' id='cb'><enable xmlns='urn:xmpp:carbons:2'/></iq>`)
	phone.SendRaw(`<message to='bob@chatbx.test' type='chat'><body>carbon-and-archive</body></message>`)
	c := laptop.Expect("sent carbon", func(el *wire.Element) bool { return el.Child("urn:xmpp:carbons:2", "sent") != nil })
	m := c.Child("urn:xmpp:carbons:2", "sent").Child("urn:xmpp:forward:0", "forwarded").Child(wire.NSClient, "message")
	sid := m.Child("urn:xmpp:sid:0", "stanza-id")
	if sid == nil || sid.Get("by") != "alice@chatbx.test" {
		t.Fatalf("sent carbon without alice's stanza-id: %s", c)
	}
	laptop.SendRaw(`<iq type='set' id='q'><query xmlns='urn:xmpp:mam:2' queryid='q1'/></iq>`)
	r := laptop.Expect("archive result", func(el *wire.Element) bool { return el.Child("urn:xmpp:mam:2", "result") != nil })
	if id := r.Child("urn:xmpp:mam:2", "result").Get("id"); id != sid.Get("id") {
		t.Errorf("archive id %q, carbon stanza-id %q", id, sid.Get("id"))
	}
}
