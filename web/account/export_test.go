package account_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"chatbx/internal/accounts"
	"chatbx/web/account"
)

// pep is an Exporter with one node.
type pep struct{}

func (pep) ExportXML(_ context.Context, user string, w io.Writer) error {
	_, err := io.WriteString(w, "<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'><node-marker/></pubsub>\n")
	return err
}

func TestExport(t *testing.T) {
	e := newEnv(t, func(_ *account.Config, _ *account.Deps, d *accounts.Deps) { d.Exporters = []accounts.Exporter{pep{}} })
	user(t, e.db, "alice")
	user(t, e.db, "bob")
	fill(t, e.db, "alice")
	// bob's vCard must not leak into alice's export.
	if err := e.db.SetVCard(t.Context(), "bob", []byte(`<vCard xmlns='vcard-temp'><FN>bob-secret</FN></vCard>`)); err != nil {
		t.Fatal(err)
	}
	resp, body := e.post(t, "export", url.Values{"token": {e.token(t, "export")}, "username": {"alice"}, "password": {"secret-password"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: status %d; %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/zip" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="alice-export.zip"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	z, err := zip.NewReader(strings.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range z.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		files[f.Name] = string(b)
	}
	doc := files["account.xml"]
	for _, want := range []string{"<server-data xmlns='urn:xmpp:pie:0'", "<user name='alice'>", "mechanism='SCRAM-SHA-256'",
		"jid='bob@example.test' name='roster-marker' subscription='both'", "<group>Friends</group>",
		"jid='carol@remote.test' subscription='to' ask='subscribe'", "vcard-marker", "private-marker", "offline-marker",
		"<item jid='spam@blocked.test'/>", "<node-marker/>"} {
		if !strings.Contains(doc, want) {
			t.Errorf("account.xml lacks %q:\n%s", want, doc)
		}
	}
	if strings.Contains(body, "bob-secret") || strings.Contains(doc, "secret-password") {
		t.Error("export holds another user's data or the password")
	}
	if err := checkXML(doc); err != nil {
		t.Errorf("account.xml is not well-formed: %v", err)
	}
	if !strings.Contains(files["archive.json"], "archive-marker") || !json.Valid([]byte(files["archive.json"])) {
		t.Errorf("archive.json = %q", files["archive.json"])
	}
	var ups struct {
		Uploads []struct {
			URL     string `json:"url"`
			Expires string `json:"expires"`
		} `json:"uploads"`
	}
	if err := json.Unmarshal([]byte(files["uploads.json"]), &ups); err != nil || len(ups.Uploads) != 1 || ups.Uploads[0].Expires == "" {
		t.Errorf("uploads.json = %q (%v)", files["uploads.json"], err)
	}
	if !strings.Contains(files["README.txt"], "alice@example.test") {
		t.Errorf("README.txt = %q", files["README.txt"])
	}
}

func checkXML(s string) error {
	d := xml.NewDecoder(bytes.NewReader([]byte(s)))
	for {
		if _, err := d.Token(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}
