package account_test

import (
	"archive/zip"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"chatbx/store"
)

// The account export lists the devices holding FAST login tokens
// (XEP-0484) in login-tokens.json: id, created, expires; no hash.
func TestExportFast(t *testing.T) {
	e := newEnv(t, nil)
	user(t, e.db, "alice")
	now := e.clock.now()
	hash := [32]byte{0xfa, 0x57}
	err := e.db.UpdateFast(t.Context(), "alice", []byte("dev"), 0, now, func(r *store.FastRecord, _ bool) (bool, error) {
		r.Next = store.FastSlot{Hash: hash, Mech: "HT-SHA-256-NONE", Expiry: now.Add(24 * time.Hour)}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := e.post(t, "export", url.Values{"token": {e.token(t, "export")}, "username": {"alice"}, "password": {"secret-password"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: status %d; %s", resp.StatusCode, body)
	}
	z, err := zip.NewReader(strings.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	var doc, readme []byte
	for _, f := range z.File {
		r, _ := f.Open()
		b, _ := io.ReadAll(r)
		r.Close()
		switch f.Name {
		case "login-tokens.json":
			doc = b
		case "README.txt":
			readme = b
		}
	}
	var got struct {
		Tokens []struct {
			ID      string    `json:"id"`
			Created time.Time `json:"created"`
			Expires time.Time `json:"expires"`
		} `json:"login_tokens"`
	}
	if err := json.Unmarshal(doc, &got); err != nil || len(got.Tokens) != 1 || got.Tokens[0].ID == "" ||
		!got.Tokens[0].Created.Equal(now) || !got.Tokens[0].Expires.Equal(now.Add(24*time.Hour)) {
		t.Errorf("login-tokens.json = %s (%v)", doc, err)
	}
	if strings.Contains(string(doc), "hash") || strings.Contains(string(doc), "HT-SHA") {
		t.Errorf("the token hash is exported: %s", doc)
	}
	if !strings.Contains(string(readme), "login-tokens.json") {
		t.Errorf("README.txt does not name login-tokens.json:\n%s", readme)
	}
}
