package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"testing"
)

// TestComputeKeysRFCVectors checks StoredKey and ServerKey against the
// example exchanges of RFC 5802 §5 (SCRAM-SHA-1) and RFC 7677 §3
// (SCRAM-SHA-256): from the stored keys alone, the server must accept the
// client's proof and produce the RFC's server signature.
func TestComputeKeysRFCVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		h           func() hash.Hash
		salt        string
		clientFirst string // client-first-message-bare
		serverFirst string
		clientFinal string // without proof
		proof       string
		serverSig   string
	}{
		{
			name:        "RFC 5802 SCRAM-SHA-1",
			h:           sha1.New,
			salt:        "QSXCR+Q6sek8bf92",
			clientFirst: "n=user,r=fyko+d2lbbFgONRv9qkxdawL",
			serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
			clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
			proof:       "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			serverSig:   "rmF9pqV8S7suAoZWja4dJRkFsKQ=",
		},
		{
			name:        "RFC 7677 SCRAM-SHA-256",
			h:           sha256.New,
			salt:        "W22ZaJ0SNY7soEsUEjb6gQ==",
			clientFirst: "n=user,r=rOprNGfwEbeRWgbNEkqO",
			serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
			proof:       "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			serverSig:   "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			salt := mustB64(t, tc.salt)
			keys, err := ComputeKeys(tc.h, "pencil", salt, 4096)
			if err != nil {
				t.Fatal(err)
			}
			authMessage := []byte(tc.clientFirst + "," + tc.serverFirst + "," + tc.clientFinal)
			mac := hmac.New(tc.h, keys.StoredKey)
			mac.Write(authMessage)
			clientSig := mac.Sum(nil)
			proof := mustB64(t, tc.proof)
			clientKey := make([]byte, len(proof))
			for i := range proof {
				clientKey[i] = proof[i] ^ clientSig[i]
			}
			sum := tc.h()
			sum.Write(clientKey)
			if got := sum.Sum(nil); !bytes.Equal(got, keys.StoredKey) {
				t.Errorf("H(ClientKey from RFC proof) = %x, want StoredKey %x", got, keys.StoredKey)
			}
			mac = hmac.New(tc.h, keys.ServerKey)
			mac.Write(authMessage)
			if got, want := mac.Sum(nil), mustB64(t, tc.serverSig); !bytes.Equal(got, want) {
				t.Errorf("ServerSignature = %x, want %x (RFC)", got, want)
			}
			if !keys.Verify(tc.h, "pencil") || keys.Verify(tc.h, "pencil!") {
				t.Errorf("Verify does not match the RFC keys")
			}
		})
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDeriveCredentials(t *testing.T) {
	t.Parallel()
	c, err := DeriveCredentials("pencil", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.validate(); err != nil {
		t.Errorf("validate() = %v", err)
	}
	if len(c.SHA1.Salt) != 16 || len(c.SHA256.Salt) != 16 || bytes.Equal(c.SHA1.Salt, c.SHA256.Salt) {
		t.Errorf("salts %x %x: want two different 16-byte salts", c.SHA1.Salt, c.SHA256.Salt)
	}
	for _, tc := range []struct {
		password string
		want     bool
	}{
		{"pencil", true},
		{"Pencil", false},
		{"pencil ", false},
		{"", false},
	} {
		if got := c.VerifyPlain(tc.password); got != tc.want {
			t.Errorf("VerifyPlain(%q) = %v, want %v", tc.password, got, tc.want)
		}
	}
	// Only SHA-1 stored: VerifyPlain falls back to it.
	only1 := Credentials{SHA1: c.SHA1}
	if !only1.VerifyPlain("pencil") || only1.VerifyPlain("x") {
		t.Errorf("VerifyPlain with SHA-1 verifier only is wrong")
	}
	if (Credentials{}).VerifyPlain("pencil") {
		t.Errorf("zero Credentials accepted a password")
	}
	// The stored form holds neither the password nor SaltedPassword.
	enc := encodeCredentials(c)
	if bytes.Contains(enc, []byte("pencil")) {
		t.Errorf("encoded credentials contain the password")
	}
	back, err := decodeCredentials(enc)
	if err != nil || !bytes.Equal(back.SHA256.StoredKey, c.SHA256.StoredKey) || back.SHA1.Iterations != MinIterations {
		t.Errorf("decodeCredentials(encode(c)) = %+v, %v", back, err)
	}
}

func TestDeriveCredentialsRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		password   string
		iterations int
	}{
		{"too few iterations", "pencil", 4095},
		{"empty password", "", 4096},
		{"control character", "pen\x07cil", 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DeriveCredentials(tc.password, tc.iterations); !errors.Is(err, ErrInvalid) {
				t.Errorf("DeriveCredentials(%q, %d) = %v, want ErrInvalid", tc.password, tc.iterations, err)
			}
		})
	}
}

// FuzzDecode checks that no stored value, however damaged, makes a decoder panic.
func FuzzDecode(f *testing.F) {
	c, _ := DeriveCredentials("pencil", MinIterations)
	f.Add(encodeCredentials(c))
	f.Add(encodeRosterItem(&RosterItem{Name: "n", Groups: []string{"a", "b"}, Sub: SubBoth}))
	f.Add([]byte{codecV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, v []byte) {
		if c, err := decodeCredentials(v); err == nil {
			// Non-minimal uvarints decode too, so compare re-encodings.
			enc := encodeCredentials(c)
			again, err := decodeCredentials(enc)
			if err != nil || !bytes.Equal(encodeCredentials(again), enc) {
				t.Errorf("credentials do not round-trip: %x", v)
			}
		}
		if it, err := decodeRosterItem([]byte("a@b"), v); err == nil {
			// Flag bits beyond the known ones are dropped; compare decoded forms.
			again, err := decodeRosterItem([]byte("a@b"), encodeRosterItem(&it))
			if err != nil || again.Name != it.Name || len(again.Groups) != len(it.Groups) || again.Sub != it.Sub {
				t.Errorf("roster item does not round-trip: %x", v)
			}
		}
		decodeOffline(make([]byte, 8), v)
	})
}
