package web

import (
	"net/url"
	"path"
	"strings"
)

// maxLoggedPath bounds the path in an error log line.
const maxLoggedPath = 256

// Path segments after which nothing a client sent may be logged.
// Privacy and security: /invite/<token> holds a working credential, and
// /upload/<id>/<name> a file name that may say what the file is (only
// the id, 32 hex digits, is kept, as web/upload.LogPath does). Both are
// matched in any position and any case, so that a typo or a language
// prefix (/de/invite/…) does not leak the token either.
const (
	segInvite = "invite"
	segUpload = "upload"
	uploadID  = 32
)

// maxUnescape bounds the rounds of percent-decoding logPath undoes to find
// a hidden segment (/invite%252F… is /invite%2F… is /invite/…).
const maxUnescape = 4

// logPath returns what the error log may record of the escaped request
// path p: the cleaned path (dot segments resolved, empty segments dropped,
// percent-encoding decoded), cut after an invite or upload segment, and at
// most maxLoggedPath bytes. It works on whatever the client sent: unclean
// paths are answered 404 before any handler runs (wrap), so no handler can
// hide its secrets first.
func logPath(p string) string {
	once := p
	if s, err := url.PathUnescape(p); err == nil {
		once = s
	}
	// Look for secrets in the fully decoded path, so that no encoding
	// hides them; log the once-decoded path when there are none.
	deep := once
	for range maxUnescape {
		s, err := url.PathUnescape(deep)
		if err != nil || s == deep {
			break
		}
		deep = s
	}
	out := clean(once)
	if cut, ok := redact(clean(deep)); ok {
		out = cut
	}
	out = (&url.URL{Path: out}).EscapedPath()
	if len(out) > maxLoggedPath {
		out = out[:maxLoggedPath]
	}
	return out
}

// clean returns p as an absolute path without empty, "." or ".."
// segments (a trailing slash is kept); backslashes count as slashes.
func clean(p string) string {
	p = strings.ReplaceAll(p, `\`, "/")
	c := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// redact cuts the clean path p after its first invite or upload segment
// (keeping a valid upload id); ok is false when p has neither.
func redact(p string) (string, bool) {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range segs {
		switch strings.ToLower(s) {
		case segInvite:
			return "/" + strings.Join(segs[:i+1], "/") + "/", true
		case segUpload:
			keep := i + 1
			if keep < len(segs) && validUploadID(segs[keep]) {
				keep++
			}
			out := "/" + strings.Join(segs[:keep], "/")
			if keep == i+1 {
				out += "/"
			}
			return out, true
		}
	}
	return "", false
}

func validUploadID(s string) bool {
	if len(s) != uploadID {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
