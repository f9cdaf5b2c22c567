package router_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"chatbx/server/router"
	"chatbx/server/wire"
)

func TestDomains(t *testing.T) {
	d := router.NewDomains("Example.org.")
	echo := router.HandlerFunc(func(ctx context.Context, el *wire.Element, send func(*wire.Element)) { send(el) })
	if err := d.AddService("conference.example.org", echo); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		domain string
		err    error
	}{
		{"the host", "example.org", router.ErrTaken},
		{"a service twice", "Conference.example.org", router.ErrTaken},
		{"a JID", "a@b", router.ErrInvalid},
		{"empty", "", router.ErrInvalid},
	} {
		if err := d.AddService(tc.domain, echo); !errors.Is(err, tc.err) {
			t.Errorf("%s: AddService(%q) = %v, want %v", tc.name, tc.domain, err, tc.err)
		}
	}
	for _, tc := range []struct {
		domain  string
		kind    router.Kind
		handler bool
	}{
		{"example.org", router.Host, false},
		{"conference.example.org", router.Service, true},
		{"other.example", router.Remote, false},
		{"sub.example.org", router.Remote, false},
	} {
		k, h := d.Lookup(tc.domain)
		if k != tc.kind || (h != nil) != tc.handler {
			t.Errorf("Lookup(%q) = %v, %v; want %v, handler %v", tc.domain, k, h != nil, tc.kind, tc.handler)
		}
	}
	d.SetRemote(echo)
	if k, h := d.Lookup("other.example"); k != router.Remote || h == nil {
		t.Errorf("with s2s: Lookup(remote) = %v, %v", k, h)
	}
	if got := d.Services(); !slices.Equal(got, []string{"conference.example.org"}) {
		t.Errorf("Services() = %v", got)
	}
	if !d.IsHost("example.org") || d.IsHost("conference.example.org") {
		t.Error("IsHost")
	}
}
