package upload

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxNameBytes bounds a sanitised file name in bytes.
const MaxNameBytes = 128

// maxExtBytes is the longest extension SanitizeName keeps when it shortens
// a name.
const maxExtBytes = 16

// SanitizeName turns a file name from a slot request into the name used in
// the upload's URL and in the Content-Disposition of the download, or
// returns "" if nothing usable is left.
//
// It keeps the last path element only (a client may send a full path),
// drops invalid UTF-8, control and formatting characters (among them the
// bidirectional overrides that disguise "gpj.exe" as "exe.jpg"), replaces
// characters that file systems or URLs treat specially with '_', turns
// every kind of space into ' ', normalises to NFC, trims spaces and dots
// from both ends (no hidden files, no "." or ".."), and shortens the name
// to MaxNameBytes keeping the extension, as XEP-0363 §4 asks.
// The result is valid UTF-8, and SanitizeName(SanitizeName(s)) equals
// SanitizeName(s).
func SanitizeName(s string) string {
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	// Work on a bounded prefix: the rest would be cut anyway.
	if len(s) > 4*MaxNameBytes {
		s = cutUTF8(s, 4*MaxNameBytes)
	}
	for range 3 { // normalisation and cutting settle in one or two rounds
		t := sanitizeOnce(s)
		if t == s {
			break
		}
		s = t
	}
	return s
}

func sanitizeOnce(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.ToValidUTF8(s, "") {
		switch {
		case r == utf8.RuneError:
			// A replacement character in the input is kept out too.
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), unicode.Is(unicode.Co, r),
			unicode.Is(unicode.Cs, r), unicode.Is(unicode.Noncharacter_Code_Point, r):
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		case strings.ContainsRune(`/\:*?"<>|%#&;`, r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	s = norm.NFC.String(b.String())
	s = strings.Join(strings.Fields(s), " ")
	s = strings.Trim(s, ". ")
	if len(s) > MaxNameBytes {
		s = shorten(s)
	}
	return strings.Trim(s, ". ")
}

// shorten cuts s to MaxNameBytes, keeping a short extension.
func shorten(s string) string {
	ext := ""
	if i := strings.LastIndexByte(s, '.'); i > 0 && len(s)-i <= maxExtBytes {
		ext = s[i:]
		s = s[:i]
	}
	return cutUTF8(s, MaxNameBytes-len(ext)) + ext
}

// cutUTF8 returns the longest prefix of s of at most n bytes that ends on
// a rune boundary.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
