package site

import (
	"strings"
	"testing"
	"time"
)

// TestPrivacyNamesLoginTokens: the privacy page names the FAST login
// tokens (XEP-0484), with their configured lifetime, and links the page
// that lists and revokes them, in every language.
func TestPrivacyNamesLoginTokens(t *testing.T) {
	s, err := New(Facts{ServiceName: "S", Domain: "d.test", ArchiveDefault: "never", AccountURL: "https://d.test/account",
		Uploads: time.Hour, WebErrors: time.Hour, ConnectionLogs: time.Hour, Offline: time.Hour, LoginTokens: 9 * 24 * time.Hour}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[string]string{"en": "9 days", "de": "9 Tage"}
	for _, lang := range Languages {
		out, err := s.Page(lang, "privacy")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{"XEP-0484", want[lang], "https://d.test/account/devices"} {
			if !strings.Contains(string(out), w) {
				t.Errorf("privacy page (%s) lacks %q", lang, w)
			}
		}
	}
}
