package account_test

import (
	"archive/zip"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"chatbx/store"
)

// The account export holds the user's PEP nodes (XEP-0163) in pep.xml.
func TestExportPEP(t *testing.T) {
	e := newEnv(t, nil)
	user(t, e.db, "alice")
	_, err := e.db.PEPPublish(t.Context(), "alice", "urn:xmpp:omemo:2:devices", func(n *store.PEPNode, _ bool) error {
		n.Access, n.Persist, n.MaxItems, n.SendLast = "open", true, 1, "on_sub_and_presence"
		return nil
	}, &store.PEPItem{ID: "current", Payload: []byte(`<devices xmlns="urn:xmpp:omemo:2"><device id="pep-export-marker"/></devices>`)}, store.PEPLimits{})
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
	var doc, readme string
	for _, f := range z.File {
		r, _ := f.Open()
		b, _ := io.ReadAll(r)
		r.Close()
		switch f.Name {
		case "pep.xml":
			doc = string(b)
		case "README.txt":
			readme = string(b)
		}
	}
	for _, want := range []string{"<node name='urn:xmpp:omemo:2:devices' access_model='open'", "<item id='current'>", "pep-export-marker"} {
		if !strings.Contains(doc, want) {
			t.Errorf("pep.xml lacks %q:\n%s", want, doc)
		}
	}
	if err := checkXML(doc); err != nil {
		t.Errorf("pep.xml is not well-formed: %v", err)
	}
	if !strings.Contains(readme, "pep.xml") {
		t.Errorf("README.txt does not name pep.xml:\n%s", readme)
	}
}
