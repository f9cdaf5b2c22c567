package site

import (
	"strings"
	"testing"
	"time"
)

// TestPrivacyNamesFederation: the privacy page names the account
// settings (the stranger policy) and that data leaves for other servers
// only as XMPP needs it, in every language.
func TestPrivacyNamesFederation(t *testing.T) {
	s, err := New(Facts{ServiceName: "S", Domain: "d.test", ArchiveDefault: "never", AccountURL: "https://d.test/account",
		Uploads: time.Hour, WebErrors: time.Hour, ConnectionLogs: time.Hour, Offline: time.Hour}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[string][]string{
		"en": {"Your settings, such as whose messages from other servers reach you", "leave this server only as XMPP needs it"},
		"de": {"Eure Einstellungen, etwa wessen Nachrichten von anderen Servern", "verlassen diesen Server nur, soweit XMPP es braucht"},
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
