package accounts_test

import (
	"context"
	"errors"
	"testing"

	"chatbx/internal/accounts"
	"chatbx/store"
)

func TestPushDevices(t *testing.T) {
	ctx := context.Background()
	s, db := newService(t, nil)
	if !s.PushAvailable() {
		t.Fatal("PushAvailable over *store.DB is false")
	}
	for _, u := range []string{"alice", "bob"} {
		if _, err := s.Create(ctx, u, "password-"+u+"-123"); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []store.PushRegistration{{JID: "a.example", Node: "n1"}, {JID: "a.example", Node: "n2"}, {JID: "b.example", Node: "n3"}} {
		if err := db.PutPush(ctx, "alice", r, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.PutPush(ctx, "bob", store.PushRegistration{JID: "a.example", Node: "n1"}, 0); err != nil {
		t.Fatal(err)
	}
	list, err := s.PushDevices(ctx, "alice")
	if err != nil || len(list) != 3 || list[0].Service != "a.example" || list[0].Node != "n1" || len(list[0].ID) != 16 {
		t.Fatalf("PushDevices = %+v, %v", list, err)
	}
	if err := s.RevokePush(ctx, "alice", "0000000000000000"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	if err := s.RevokePush(ctx, "alice", list[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokePush(ctx, "alice", list[0].ID); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("second revoke: %v", err)
	}
	// Bob's registration at the same app server and node (the same id)
	// is untouched.
	if regs, _ := db.PushRegistrations(ctx, "bob"); len(regs) != 1 {
		t.Errorf("bob's registrations: %v", regs)
	}
	if n, err := s.RevokeAllPush(ctx, "alice"); err != nil || n != 2 {
		t.Errorf("RevokeAllPush = %d, %v", n, err)
	}
	if _, err := s.PushDevices(ctx, "nobody"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
	// A store without push registrations.
	s2, _ := newService(t, func(d *accounts.Deps) { d.Store = struct{ accounts.Store }{d.Store} })
	if s2.PushAvailable() {
		t.Error("PushAvailable over a store without push")
	}
	if _, err := s2.PushDevices(ctx, "alice"); !errors.Is(err, accounts.ErrNoPush) {
		t.Errorf("PushDevices without push: %v", err)
	}
}
