package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"testing"
)

// TestHTHashedKey checks that an HMAC keyed with a TokenLen token, as a
// client computes it, equals the one keyed with the stored hash.
func TestHTHashedKey(t *testing.T) {
	var b [TokenLen * 3 / 4]byte
	rand.Read(b[:])
	token := base64.RawURLEncoding.EncodeToString(b[:])
	if len(token) != TokenLen {
		t.Fatalf("token of %d bytes", len(token))
	}
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("Initiator"))
	m.Write([]byte("cb"))
	if !HTCheck(TokenHash(token), []byte("cb"), m.Sum(nil)) {
		t.Error("client HMAC with the token does not match the check with its hash")
	}
	if HTCheck(TokenHash(token+"x"), []byte("cb"), m.Sum(nil)) {
		t.Error("another token's hash matches")
	}
}

// FuzzParseHT feeds arbitrary initial responses to the HT parser.
func FuzzParseHT(f *testing.F) {
	s := New(noCreds{}, "example.org", false)
	f.Add([]byte("user\x00" + string(make([]byte, 32))))
	f.Add([]byte("user@example.org\x00" + string(make([]byte, 32))))
	f.Add([]byte("\x00"))
	f.Add([]byte("a@b\x00xyz"))
	f.Fuzz(func(t *testing.T, in []byte) {
		user, mac, err := s.ParseHT(in)
		if err == nil && (user == "" || len(mac) != sha256.Size) {
			t.Fatalf("ParseHT(%q) = %q, %d-byte mac", in, user, len(mac))
		}
	})
}
