package site

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	tests := []struct {
		d      time.Duration
		en, de string
	}{
		{30 * 24 * time.Hour, "30 days", "30 Tage"},
		{24 * time.Hour, "24 hours", "24 Stunden"},
		{48 * time.Hour, "2 days", "2 Tage"},
		{36 * time.Hour, "36 hours", "36 Stunden"},
		{time.Hour, "1 hour", "1 Stunde"},
		{90 * time.Minute, "90 minutes", "90 Minuten"},
		{time.Minute, "1 minute", "1 Minute"},
		{20 * time.Second, "20 seconds", "20 Sekunden"},
		{time.Second, "1 second", "1 Sekunde"},
		{1500 * time.Millisecond, "2 seconds", "2 Sekunden"},
		{24*time.Hour + time.Second, "86401 seconds", "86401 Sekunden"},
		{0, "0 seconds", "0 Sekunden"},
		{-time.Hour, "0 seconds", "0 Sekunden"},
	}
	for _, tc := range tests {
		if got := Duration(tc.d, "en"); got != tc.en {
			t.Errorf("Duration(%v, en) = %q, want %q", tc.d, got, tc.en)
		}
		if got := Duration(tc.d, "de"); got != tc.de {
			t.Errorf("Duration(%v, de) = %q, want %q", tc.d, got, tc.de)
		}
	}
}

func TestContactLinks(t *testing.T) {
	tests := []struct {
		uris []string
		lang string
		want string
	}{
		{nil, "en", "(no contact address configured)"},
		{[]string{"mailto:a@x.test"}, "en", "[a@x.test](<mailto:a@x.test>)"},
		{[]string{"a@x.test"}, "de", "[a@x.test](<mailto:a@x.test>)"},
		{[]string{"xmpp:a@x.test", "mailto:b@x.test"}, "de", "[a@x.test (XMPP)](<xmpp:a@x.test>) oder [b@x.test](<mailto:b@x.test>)"},
		{[]string{"https://x.test/c", "mailto:a@x.test", "xmpp:b@x.test"}, "en", "[https://x.test/c](<https://x.test/c>), [a@x.test](<mailto:a@x.test>) or [b@x.test (XMPP)](<xmpp:b@x.test>)"},
		{[]string{"mailto:a_[b]@x.test>"}, "en", `[a\_\[b\]@x.test\>](<mailto:a_[b]@x.test%3E>)`},
	}
	for _, tc := range tests {
		if got := contactLinks(tc.uris, tc.lang); got != tc.want {
			t.Errorf("contactLinks(%q, %s) = %q, want %q", tc.uris, tc.lang, got, tc.want)
		}
	}
}

func TestEmbeddedPages(t *testing.T) {
	s, err := New(Facts{ServiceName: "S", Domain: "d.test", ArchiveDefault: "never", AccountURL: "https://d.test/account",
		Uploads: time.Hour, WebErrors: time.Hour, ConnectionLogs: time.Hour, Offline: time.Hour}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, lang := range Languages {
		for _, name := range Pages {
			out, err := s.Page(lang, name)
			if err != nil {
				t.Fatalf("Page(%s, %s): %v", lang, name, err)
			}
			if strings.Contains(string(out), "{{") || strings.Contains(string(out), "<no value>") {
				t.Errorf("Page(%s, %s) has an unfilled placeholder", lang, name)
			}
		}
		if _, err := s.Page(lang, "nothing"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Page(%s, nothing) = %v, want ErrNotFound", lang, err)
		}
	}
	if _, err := s.Page("fr", "home"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Page(fr, home) = %v, want ErrNotFound", err)
	}
}

func TestContentPath(t *testing.T) {
	tests := []struct {
		lang, name, want string
		ok               bool
	}{
		{"en", "privacy", "en/privacy.md", true},
		{"de", "house-rules", "de/house-rules.md", true},
		{"de", "a1", "de/a1.md", true},
		{"fr", "privacy", "", false},
		{"en", "..", "", false},
		{"en", "../x", "", false},
		{"../en", "x", "", false},
		{"en", "a/b", "", false},
		{"en", "a.md", "", false},
		{"en", "", "", false},
		{"en", "-a", "", false},
		{"en", "A", "", false},
		{"en", strings.Repeat("a", 65), "", false},
		{"en", "a\\b", "", false},
		{"en\x00", "a", "", false},
	}
	for _, tc := range tests {
		got, ok := contentPath(tc.lang, tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("contentPath(%q, %q) = %q, %v, want %q, %v", tc.lang, tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzContentPath checks that no input leads outside the content directory.
func FuzzContentPath(f *testing.F) {
	for _, s := range [][2]string{{"en", "privacy"}, {"de", ".."}, {"en", "../../etc/passwd"}, {"..", "x"}, {"en", "a/b"}, {"en", "%2e%2e"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, lang, name string) {
		p, ok := contentPath(lang, name)
		if !ok {
			return
		}
		if !fs.ValidPath(p) || strings.Contains(p, "..") || strings.Count(p, "/") != 1 || strings.ContainsAny(p, "\\\x00") {
			t.Fatalf("contentPath(%q, %q) = %q", lang, name, p)
		}
		if p != lang+"/"+name+".md" || !isLanguage(lang) {
			t.Fatalf("contentPath(%q, %q) = %q", lang, name, p)
		}
	})
}

// TestPrivacyPush: the privacy page names push registrations and says
// what a notification carries, following push.include_sender and
// push.include_body.
func TestPrivacyPush(t *testing.T) {
	for _, tc := range []struct {
		sender, body bool
		want         map[string]string
	}{
		{false, false, map[string]string{"en": "messages only, not who wrote or what", "de": "sonst nichts: nicht wer schrieb und nicht was"}},
		{true, false, map[string]string{"en": "and who wrote the newest one, not what", "de": "und wer die neueste schrieb, nicht aber was"}},
		{false, true, map[string]string{"en": "and the text of the newest one, not who wrote it", "de": "und den Text der neuesten, nicht aber wer schrieb"}},
		{true, true, map[string]string{"en": ", who wrote the newest one and its text", "de": ", wer die neueste schrieb und ihren Text"}},
	} {
		s, err := New(Facts{ServiceName: "S", Domain: "d.test", ArchiveDefault: "never", AccountURL: "https://d.test/account",
			Uploads: time.Hour, WebErrors: time.Hour, ConnectionLogs: time.Hour, Offline: time.Hour,
			PushSender: tc.sender, PushBody: tc.body}, "")
		if err != nil {
			t.Fatal(err)
		}
		for lang, want := range tc.want {
			out, err := s.Page(lang, "privacy")
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range []string{want, "XEP-0357"} {
				if !strings.Contains(string(out), w) {
					t.Errorf("sender=%v body=%v: %s privacy page lacks %q", tc.sender, tc.body, lang, w)
				}
			}
		}
		s.Close()
	}
}
