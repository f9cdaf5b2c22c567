package account

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// Token errors. Each has its own public message on the page.
var (
	errTokenMissing = errors.New("account: form token missing")
	errTokenForged  = errors.New("account: form token invalid")
	errTokenExpired = errors.New("account: form token expired")
)

// tokenLen is the decoded length of a form token: an 8-byte expiry (Unix
// seconds, big-endian) followed by a 32-byte HMAC-SHA256.
const tokenLen = 8 + sha256.Size

// maxTokenText bounds the token text before decoding.
const maxTokenText = 128

// tokens signs and checks the hidden form tokens. A token names the form it
// was issued for and when it expires; it holds nothing about the visitor, so
// it needs no server-side state and no cookie.
type tokens struct {
	key []byte
	ttl time.Duration
}

// mac returns the HMAC of the form name and the expiry.
func (t tokens) mac(form string, exp []byte) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte("chatbx-account-form\x00"))
	m.Write([]byte(form))
	m.Write([]byte{0})
	m.Write(exp)
	return m.Sum(nil)
}

// issue returns a token for form that expires ttl after now.
func (t tokens) issue(form string, now time.Time) string {
	var b [tokenLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.Add(t.ttl).Unix()))
	copy(b[8:], t.mac(form, b[:8]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// check reports whether s is a token for form that is valid at now.
// It returns errTokenMissing, errTokenForged or errTokenExpired.
// A token whose expiry lies further ahead than ttl is forged: the server
// never issues one.
func (t tokens) check(form, s string, now time.Time) error {
	exp, mac, err := parseToken(s)
	if err != nil {
		return err
	}
	var e [8]byte
	binary.BigEndian.PutUint64(e[:], uint64(exp))
	if !hmac.Equal(mac, t.mac(form, e[:])) {
		return errTokenForged
	}
	if exp > now.Add(t.ttl).Unix()+1 {
		return errTokenForged
	}
	if now.Unix() >= exp {
		return errTokenExpired
	}
	return nil
}

// parseToken decodes the token text into its expiry and MAC without
// checking them. It returns errTokenMissing for an empty text and
// errTokenForged for anything that is not a well-formed token.
func parseToken(s string) (exp int64, mac []byte, err error) {
	if s == "" {
		return 0, nil, errTokenMissing
	}
	if len(s) > maxTokenText {
		return 0, nil, errTokenForged
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != tokenLen {
		return 0, nil, errTokenForged
	}
	u := binary.BigEndian.Uint64(b[:8])
	if u > 1<<62 {
		return 0, nil, errTokenForged
	}
	return int64(u), b[8:], nil
}
