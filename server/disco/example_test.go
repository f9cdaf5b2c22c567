package disco_test

import (
	"context"
	"fmt"
	"time"

	"chatbx/server/blocking"
	"chatbx/server/disco"
	"chatbx/server/iq"
	"chatbx/server/last"
	"chatbx/server/ping"
	"chatbx/server/private"
	"chatbx/server/vcard"
	"chatbx/server/version"
	"chatbx/server/wire"
	"chatbx/store"
)

// service is what the c2s wiring needs of each feature package.
type service interface {
	Namespaces() []string
	Features() []string
	Handle(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element
}

// Example shows the wiring: every feature package contributes its
// features to disco and registers its handler per namespace.
func Example() {
	var db *store.DB // store.Open(...) in main
	services := []service{
		ping.New(),
		version.New("1.0.0"),
		last.New(time.Now(), nil),
		vcard.New(db, vcard.DefaultConfig()),
		private.New(db, private.DefaultConfig()),
		blocking.New(db, blocking.DefaultConfig()),
	}
	var features []string
	for _, s := range services {
		features = append(features, s.Features()...)
	}
	d := disco.New(disco.Config{
		Features: features,
		Contact:  disco.Contact{Abuse: []string{"mailto:abuse@example.org"}},
	}, db)
	services = append(services, d)

	handlers := map[string]iq.Handler{}
	for _, s := range services {
		for _, ns := range s.Namespaces() {
			handlers[ns] = s.Handle
		}
	}

	req := wire.New(wire.NSClient, "iq", "type", "get", "id", "1", "to", "example.org").
		Add(wire.New(disco.NSInfo, "query"))
	c := iq.Context{User: "alice", Domain: "example.org", From: "alice@example.org/phone"}
	reply := handlers[disco.NSInfo](context.Background(), c, req)
	for _, f := range iq.Payload(reply).Elements() {
		if f.Local == "feature" {
			fmt.Println(f.Get("var"))
		}
	}
	// Output:
	// http://jabber.org/protocol/disco#info
	// http://jabber.org/protocol/disco#items
	// jabber:iq:last
	// jabber:iq:private
	// jabber:iq:version
	// urn:xmpp:blocking
	// urn:xmpp:ping
	// vcard-temp
}
