package server_test

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/muc"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"

	"chatbx/server/xmpptest"
)

// mucPresence is what a mellium client read from an occupant presence.
type mucPresence struct {
	from        string
	typ         stanza.PresenceType
	affiliation string
	codes       []int
}

// melliumMUC is a mellium client (xmpp.Session with its mux) in group
// chats: what it reads arrives on the channels. mellium's muc.Client is
// not used for joins: its Join races with its presence handler (go test
// -race reports it inside mellium v0.22), so joins are presences sent
// through the session, and the muc package supplies the config form
// helpers and the invitation codec.
type melliumMUC struct {
	sess      *xmpp.Session
	groupchat chan string
	presence  chan mucPresence
	invites   chan muc.Invitation
}

func melliumMUCLogin(t *testing.T, e *env, user string) *melliumMUC {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*xmpptest.Wait)
	defer cancel()
	conn, err := net.Dial("tcp", e.plain)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := xmpp.NewClientSession(ctx, jid.MustParse(user+"@"+domain), conn,
		xmpp.StartTLS(&tls.Config{RootCAs: e.ca.Pool, ServerName: domain}),
		xmpp.SASL("", "secret-"+user, sasl.ScramSha256),
		xmpp.BindResource())
	if err != nil {
		t.Fatalf("mellium login %s: %v", user, err)
	}
	m := &melliumMUC{
		sess:      sess,
		groupchat: make(chan string, 64),
		presence:  make(chan mucPresence, 64),
		invites:   make(chan muc.Invitation, 4),
	}
	body := mux.MessageHandlerFunc(func(_ stanza.Message, r xmlstream.TokenReadEncoder) error {
		var msg struct {
			Body string `xml:"body"`
		}
		if err := xml.NewTokenDecoder(r).Decode(&msg); err != nil {
			return err
		}
		m.groupchat <- msg.Body
		return nil
	})
	pres := mux.PresenceHandlerFunc(func(p stanza.Presence, r xmlstream.TokenReadEncoder) error {
		var v struct {
			X struct {
				Item struct {
					Affiliation string `xml:"affiliation,attr"`
				} `xml:"item"`
				Status []struct {
					Code int `xml:"code,attr"`
				} `xml:"status"`
			} `xml:"http://jabber.org/protocol/muc#user x"`
		}
		if err := xml.NewTokenDecoder(r).Decode(&v); err != nil {
			return err
		}
		mp := mucPresence{from: p.From.String(), typ: p.Type, affiliation: v.X.Item.Affiliation}
		for _, s := range v.X.Status {
			mp.codes = append(mp.codes, s.Code)
		}
		m.presence <- mp
		return nil
	})
	userX := xml.Name{Space: muc.NSUser, Local: "x"}
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { sess.Close() }) })
	go sess.Serve(mux.New(stanza.NSClient,
		mux.Presence(stanza.AvailablePresence, userX, pres),
		mux.Presence(stanza.UnavailablePresence, userX, pres),
		mux.Message(stanza.GroupChatMessage, xml.Name{Space: stanza.NSClient, Local: "body"}, body),
		muc.HandleInvite(func(i muc.Invitation) { m.invites <- i })))
	// Available, as a client is after login: messages to the bare JID
	// reach it.
	if err := sess.Send(ctx, stanza.Presence{}.Wrap(nil)); err != nil {
		t.Fatal(err)
	}
	return m
}

func recv[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(xmpptest.Wait):
		t.Fatalf("mellium client: no %s", what)
		panic("unreachable")
	}
}

// join enters the room as nick and waits for the self-presence (110); it
// returns its status codes.
func (m *melliumMUC) join(t *testing.T, ctx context.Context, occupant jid.JID) []int {
	t.Helper()
	p := stanza.Presence{To: occupant}.Wrap(xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: muc.NS, Local: "x"}}))
	if err := m.sess.Send(ctx, p); err != nil {
		t.Fatal(err)
	}
	for {
		got := recv(t, "self-presence of "+occupant.String(), m.presence)
		if got.from == occupant.String() && slices.Contains(got.codes, 110) {
			return got.codes
		}
	}
}

// send sends a groupchat message with body to room.
func (m *melliumMUC) send(t *testing.T, ctx context.Context, room jid.JID, body string) {
	t.Helper()
	msg := stanza.Message{To: room, Type: stanza.GroupChatMessage}
	if err := m.sess.Send(ctx, msg.Wrap(xmlstream.Wrap(xmlstream.Token(xml.CharData(body)), xml.StartElement{Name: xml.Name{Local: "body"}}))); err != nil {
		t.Fatal(err)
	}
}

func (m *melliumMUC) waitBody(t *testing.T, who, body string) {
	t.Helper()
	for got := recv(t, who+" groupchat", m.groupchat); got != body; got = recv(t, who+" groupchat", m.groupchat) {
	}
}

// TestMUCMellium: mellium clients (mellium.im/xmpp sessions, with the
// muc package's config form and invitation helpers) create a room (201),
// configure it, join from a second account, exchange groupchat messages,
// set the subject, send a mediated invitation that mellium decodes at the
// invitee, and ban the other occupant, who sees status 301.
func TestMUCMellium(t *testing.T) {
	t.Parallel()
	e, _ := startMUC(t, nil, nil)
	for _, u := range []string{"alice", "bob", "carol"} {
		e.user(t, u)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*xmpptest.Wait)
	defer cancel()
	alice, bob, carol := melliumMUCLogin(t, e, "alice"), melliumMUCLogin(t, e, "bob"), melliumMUCLogin(t, e, "carol")
	room := jid.MustParse("mellium@" + mucDomain)

	if codes := alice.join(t, ctx, jid.MustParse("mellium@"+mucDomain+"/alice")); !slices.Contains(codes, 201) {
		t.Errorf("creating join: status %v, want 201", codes)
	}
	// A new room stays locked until its owner configures it (XEP-0045
	// §10.1.3): submit the form as the server offers it.
	f, err := muc.GetConfig(ctx, room, alice.sess)
	if err != nil {
		t.Fatalf("get config: %v", err)
	}
	if err := muc.SetConfig(ctx, room, f, alice.sess); err != nil {
		t.Fatalf("set config: %v", err)
	}
	bob.join(t, ctx, jid.MustParse("mellium@"+mucDomain+"/bob"))

	alice.send(t, ctx, room, "hello from alice")
	bob.waitBody(t, "bob", "hello from alice")
	bob.send(t, ctx, room, "hello from bob")
	alice.waitBody(t, "alice", "hello from bob")

	subject := stanza.Message{To: room, Type: stanza.GroupChatMessage}.Wrap(
		xmlstream.Wrap(xmlstream.Token(xml.CharData("mellium topic")), xml.StartElement{Name: xml.Name{Local: "subject"}}))
	if err := alice.sess.Send(ctx, subject); err != nil {
		t.Fatal(err)
	}

	invite := stanza.Message{To: room}.Wrap(muc.Invitation{JID: jid.MustParse("carol@" + domain), Reason: "join us"}.MarshalMediated())
	if err := alice.sess.Send(ctx, invite); err != nil {
		t.Fatal(err)
	}
	// mellium's invitation handler decodes the message's first child:
	// the mediated invitation (XEP-0045 §7.8.2), whose room is the
	// message's sender.
	if inv := recv(t, "invitation", carol.invites); inv.XMLName.Space != muc.NSUser || inv.Reason != "join us" {
		t.Errorf("invitation %+v, want the mediated one with its reason", inv)
	}

	ban := xmlstream.Wrap(xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "item"}, Attr: []xml.Attr{
		{Name: xml.Name{Local: "affiliation"}, Value: "outcast"}, {Name: xml.Name{Local: "jid"}, Value: "bob@" + domain}}}),
		xml.StartElement{Name: xml.Name{Space: muc.NSAdmin, Local: "query"}})
	r, err := alice.sess.SendIQElement(ctx, ban, stanza.IQ{To: room, Type: stanza.SetIQ})
	if err != nil {
		t.Fatalf("ban: %v", err)
	}
	r.Close()
	for {
		p := recv(t, "bob's ban", bob.presence)
		if p.typ == stanza.UnavailablePresence && p.from == room.String()+"/bob" {
			if !slices.Contains(p.codes, 301) || p.affiliation != "outcast" {
				t.Errorf("ban presence: codes %v, affiliation %q; want 301, outcast", p.codes, p.affiliation)
			}
			break
		}
	}
}
