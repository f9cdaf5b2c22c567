package site

import (
	"strings"
	"testing"
	"time"
)

// TestPrivacyNamesUserRights: the privacy page names the data of issue 14
// (invitations users make, the lock flag, operating figures) and links
// the lock and uploads pages, in both languages.
func TestPrivacyNamesUserRights(t *testing.T) {
	s, err := New(Facts{ServiceName: "S", Domain: "d.test", ArchiveDefault: "never", AccountURL: "https://d.test/account",
		Uploads: time.Hour, WebErrors: time.Hour, ConnectionLogs: time.Hour, Offline: time.Hour}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[string][]string{
		"en": {"Invitations you create", "locked your account", "Art. 18 GDPR", `href="https://d.test/account/lock"`, `href="https://d.test/account/uploads"`, "operating figures"},
		"de": {"Einladungen, die ihr", "Konto gesperrt", "Art. 18 DSGVO", `href="https://d.test/account/lock"`, `href="https://d.test/account/uploads"`, "Betriebszahlen"},
	}
	for lang, ws := range want {
		out, err := s.Page(lang, "privacy")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			if !strings.Contains(string(out), w) {
				t.Errorf("privacy (%s) lacks %q", lang, w)
			}
		}
	}
}
