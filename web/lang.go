package web

import (
	"strings"

	"golang.org/x/text/language"

	"chatbx/web/site"
)

// resolve maps a request path to a page language and page name.
// lang is "" when the path has no language prefix (the caller picks one
// from Accept-Language). ok is false when the path names no page; lang may
// then still be set, for the language of the 404 page.
//
//	/            → "", home      /de  and /de/   → de, home
//	/privacy     → "", privacy   /de/privacy     → de, privacy
//
// The page name is checked later against a strict pattern by package site;
// resolve only splits, so "..", empty or nested segments never match.
func resolve(path string) (lang, name string, ok bool) {
	p, found := strings.CutPrefix(path, "/")
	if !found {
		return "", "", false
	}
	if p == "" {
		return "", "home", true
	}
	first, rest, nested := strings.Cut(p, "/")
	if isLanguage(first) {
		switch {
		case !nested || rest == "":
			return first, "home", true
		case rest == "home" || !validName(rest): // validName also refuses "/"
			return first, "", false
		default:
			return first, rest, true
		}
	}
	if nested || first == "home" || !validName(first) {
		return "", "", false
	}
	return "", first, true
}

// validName reports whether s is a plain lower-case page name: letters,
// digits and inner hyphens, at most 64 bytes.
func validName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isLanguage(s string) bool {
	for _, l := range site.Languages {
		if s == l {
			return true
		}
	}
	return false
}

var (
	languageTags = func() []language.Tag {
		tags := make([]language.Tag, len(site.Languages))
		for i, l := range site.Languages {
			tags[i] = language.MustParse(l)
		}
		return tags
	}()
	languageMatcher = language.NewMatcher(languageTags)
)

// maxAcceptLanguage bounds the header that is parsed; real browsers send a
// few dozen bytes.
const maxAcceptLanguage = 512

// preferredLanguage picks the page language for an Accept-Language header:
// the best match among site.Languages, or the first (English) when nothing
// matches or the header is malformed.
func preferredLanguage(header string) string {
	if header == "" || len(header) > maxAcceptLanguage {
		return site.Languages[0]
	}
	tags, _, err := language.ParseAcceptLanguage(header)
	if err != nil || len(tags) == 0 {
		return site.Languages[0]
	}
	_, index, confidence := languageMatcher.Match(tags...)
	if confidence == language.No {
		return site.Languages[0]
	}
	return site.Languages[index]
}
