package accounts_test

import (
	"crypto/sha1"
	"net/netip"
	"testing"

	"chatbx/internal/accounts"
	"chatbx/store"
	"chatbx/store/storetest"
)

// An imported account with a SCRAM-SHA-1 verifier only gets both once its
// password is verified.
func TestVerifyCompletesImportedCredentials(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	ctx := t.Context()
	k, err := store.ComputeKeys(sha1.New, "old password", []byte("a-uuid-salt"), 10000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ImportAccount(ctx, "imported", store.ImportData{Credentials: store.Credentials{SHA1: k}}, nil, false); err != nil {
		t.Fatal(err)
	}
	svc, err := accounts.New(accounts.DefaultConfig("example.org"), accounts.Deps{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Verify(ctx, "imported", "wrong", netip.Addr{}); err == nil {
		t.Fatal("a wrong password verified")
	}
	if c, _ := db.Credentials(ctx, "imported"); len(c.SHA256.StoredKey) != 0 {
		t.Fatal("a wrong password completed the credentials")
	}
	if err := svc.Verify(ctx, "imported", "old password", netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	c, err := db.Credentials(ctx, "imported")
	if err != nil || len(c.SHA256.StoredKey) == 0 || len(c.SHA1.StoredKey) == 0 || !c.VerifyPlain("old password") {
		t.Errorf("credentials after verify: %v", err)
	}
	if string(c.SHA1.Salt) != "a-uuid-salt" || c.SHA1.Iterations != 10000 {
		t.Errorf("the imported SHA-1 verifier was replaced: %+v", c.SHA1)
	}
}
