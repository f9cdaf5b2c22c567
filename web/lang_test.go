package web

import (
	"strings"
	"testing"

	"chatbx/web/site"
)

func TestResolve(t *testing.T) {
	tests := []struct {
		path, lang, name string
		ok               bool
	}{
		{"/", "", "home", true},
		{"/privacy", "", "privacy", true},
		{"/de", "de", "home", true},
		{"/de/", "de", "home", true},
		{"/en/imprint", "en", "imprint", true},
		{"/en/house-rules", "en", "house-rules", true},
		{"/en/home", "en", "", false},
		{"/home", "", "", false},
		{"/en/a/b", "en", "", false},
		{"/en/..", "en", "", false},
		{"/en/a.md", "en", "", false},
		{"/privacy/", "", "", false},
		{"/fr/privacy", "", "", false},
		{"", "", "", false},
		{"privacy", "", "", false},
		{"/-x", "", "", false},
		{"/a--b", "", "", false},
	}
	for _, tc := range tests {
		lang, name, ok := resolve(tc.path)
		if lang != tc.lang || name != tc.name || ok != tc.ok {
			t.Errorf("resolve(%q) = %q, %q, %v, want %q, %q, %v", tc.path, lang, name, ok, tc.lang, tc.name, tc.ok)
		}
	}
}

func FuzzResolve(f *testing.F) {
	for _, s := range []string{"/", "/de/", "/en/privacy", "/../etc/passwd", "/de/..", "/en/a/b", "//", "/en/\x00", "/de/%2e%2e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		lang, name, ok := resolve(path)
		if !ok {
			return
		}
		if lang != "" && !isLanguage(lang) {
			t.Fatalf("resolve(%q): language %q", path, lang)
		}
		if !validName(name) || strings.ContainsAny(name, "./\\\x00") {
			t.Fatalf("resolve(%q): unsafe name %q", path, name)
		}
		// Every page name resolve admits must also pass the site's own
		// check, which guards the content directory.
		for _, l := range site.Languages {
			if lang != "" && l != lang {
				continue
			}
			if !site.ValidPage(l, name) {
				t.Fatalf("resolve(%q) = %q, %q, but site refuses it", path, lang, name)
			}
		}
	})
}

func TestPreferredLanguage(t *testing.T) {
	tests := []struct{ header, want string }{
		{"", "en"},
		{"de", "de"},
		{"de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "de"},
		{"en-US,en;q=0.9,de;q=0.8", "en"},
		{"fr-CH, fr;q=0.9, de;q=0.8, *;q=0.5", "de"},
		{"fr", "en"},
		{"*", "en"},
		{"gsw-CH", "de"},
		{"de;q=0", "en"},
		{";;;garbage", "en"},
		{strings.Repeat("de,", 400), "en"},
	}
	for _, tc := range tests {
		if got := preferredLanguage(tc.header); got != tc.want {
			t.Errorf("preferredLanguage(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

func FuzzPreferredLanguage(f *testing.F) {
	for _, s := range []string{"de", "en-US,en;q=0.9", "*;q=0.1", "x-klingon", "de;q=1.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if got := preferredLanguage(header); !isLanguage(got) {
			t.Fatalf("preferredLanguage(%q) = %q", header, got)
		}
	})
}

func TestCleanPath(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"/", true}, {"/de/", true}, {"/de/privacy", true}, {"/a/b/c/", true},
		{"", false}, {"de", false}, {"//", false}, {"/a//b", false}, {"/.", false},
		{"/..", false}, {"/a/../b", false}, {"/a/./b", false}, {"/a/..", false}, {"/.well-known/x", true},
	}
	for _, tc := range tests {
		if got := cleanPath(tc.path); got != tc.want {
			t.Errorf("cleanPath(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
}
