package store

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"

	"golang.org/x/text/secure/precis"
)

// MinIterations is the smallest PBKDF2 iteration count accepted for stored
// SCRAM verifiers (RFC 7677 §4 recommends at least 4096).
const MinIterations = 4096

// saltSize is the length of the random salt DeriveCredentials makes.
const saltSize = 16

// SCRAMKeys is the verifier of one SCRAM hash (RFC 5802 §3):
// StoredKey = H(HMAC(SaltedPassword, "Client Key")) and
// ServerKey = HMAC(SaltedPassword, "Server Key"),
// where SaltedPassword = PBKDF2-HMAC(password, Salt, Iterations).
// Neither the password nor SaltedPassword is kept: both are
// password-equivalent, the verifier is not.
type SCRAMKeys struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// Credentials holds the SCRAM-SHA-1 and SCRAM-SHA-256 verifiers of an
// account. PLAIN logins are checked against the same verifiers
// (VerifyPlain), so no other password data exists.
type Credentials struct {
	SHA1, SHA256 SCRAMKeys
}

// PreparePassword applies the PRECIS OpaqueString profile (RFC 8265 §4.2),
// the successor of the SASLprep that RFC 5802 names, to a password.
// DeriveCredentials and VerifyPlain call it; ComputeKeys does not.
func PreparePassword(password string) (string, error) {
	p, err := precis.OpaqueString.String(password)
	if err != nil {
		return "", fmt.Errorf("%w: password: %v", ErrInvalid, err)
	}
	return p, nil
}

// ComputeKeys derives the SCRAM verifier for one hash (sha1.New or
// sha256.New) from an already prepared password, as RFC 5802 §3 defines it.
// It does not check the iteration count; DeriveCredentials does.
func ComputeKeys(h func() hash.Hash, password string, salt []byte, iterations int) (SCRAMKeys, error) {
	if iterations < 1 {
		return SCRAMKeys{}, fmt.Errorf("%w: iterations %d", ErrInvalid, iterations)
	}
	size := h().Size()
	salted, err := pbkdf2.Key(h, password, salt, iterations, size)
	if err != nil {
		return SCRAMKeys{}, fmt.Errorf("store: derive keys: %w", err)
	}
	stored, server := keysFromSalted(h, salted)
	clear(salted)
	return SCRAMKeys{
		Salt:       append([]byte(nil), salt...),
		Iterations: iterations,
		StoredKey:  stored,
		ServerKey:  server,
	}, nil
}

// keysFromSalted returns StoredKey and ServerKey for a SaltedPassword.
func keysFromSalted(h func() hash.Hash, salted []byte) (stored, server []byte) {
	mac := hmac.New(h, salted)
	mac.Write([]byte("Client Key"))
	clientKey := mac.Sum(nil)
	sum := h()
	sum.Write(clientKey)
	stored = sum.Sum(nil)
	clear(clientKey)

	mac = hmac.New(h, salted)
	mac.Write([]byte("Server Key"))
	server = mac.Sum(nil)
	return stored, server
}

// DeriveCredentials makes verifiers for both hashes with fresh random
// 16-byte salts. The password is prepared with PreparePassword first.
// It fails with ErrInvalid if iterations < MinIterations or the password
// is empty or not a valid OpaqueString.
func DeriveCredentials(password string, iterations int) (Credentials, error) {
	if iterations < MinIterations {
		return Credentials{}, fmt.Errorf("%w: %d iterations, want at least %d", ErrInvalid, iterations, MinIterations)
	}
	p, err := PreparePassword(password)
	if err != nil {
		return Credentials{}, err
	}
	var c Credentials
	for _, x := range []struct {
		h    func() hash.Hash
		keys *SCRAMKeys
	}{{sha1.New, &c.SHA1}, {sha256.New, &c.SHA256}} {
		salt := make([]byte, saltSize)
		rand.Read(salt)
		*x.keys, err = ComputeKeys(x.h, p, salt, iterations)
		if err != nil {
			return Credentials{}, err
		}
	}
	return c, nil
}

// Verify reports whether password (already prepared) yields k's StoredKey
// under hash h. The comparison is constant time.
func (k SCRAMKeys) Verify(h func() hash.Hash, password string) bool {
	if len(k.StoredKey) == 0 || len(k.Salt) == 0 || k.Iterations < 1 {
		return false
	}
	got, err := ComputeKeys(h, password, k.Salt, k.Iterations)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got.StoredKey, k.StoredKey) == 1
}

// VerifyPlain reports whether password matches the credentials, for SASL
// PLAIN and the web account pages. It prepares the password like
// DeriveCredentials and checks the SCRAM-SHA-256 verifier (SCRAM-SHA-1 only
// when no SHA-256 verifier is stored) in constant time. It costs one PBKDF2
// run of the stored iteration count.
func (c Credentials) VerifyPlain(password string) bool {
	p, err := PreparePassword(password)
	if err != nil {
		return false
	}
	if len(c.SHA256.StoredKey) != 0 {
		return c.SHA256.Verify(sha256.New, p)
	}
	return c.SHA1.Verify(sha1.New, p)
}

// validate checks that both verifiers are complete and strong enough to store.
func (c Credentials) validate() error {
	for _, x := range []struct {
		name string
		k    SCRAMKeys
		size int
	}{{"SHA-1", c.SHA1, sha1.Size}, {"SHA-256", c.SHA256, sha256.Size}} {
		switch {
		case x.k.Iterations < MinIterations:
			return fmt.Errorf("%w: %s verifier: %d iterations, want at least %d", ErrInvalid, x.name, x.k.Iterations, MinIterations)
		case len(x.k.Salt) == 0:
			return fmt.Errorf("%w: %s verifier: empty salt", ErrInvalid, x.name)
		case len(x.k.StoredKey) != x.size || len(x.k.ServerKey) != x.size:
			return fmt.Errorf("%w: %s verifier: wrong key length", ErrInvalid, x.name)
		}
	}
	return nil
}

// encodeCredentials: version, then per hash (SHA-1, SHA-256):
// uvarint iterations, salt, StoredKey, ServerKey (length-prefixed).
func encodeCredentials(c Credentials) []byte {
	b := make([]byte, 0, 1+2*(4+saltSize+2+2*(sha256.Size+1)))
	b = append(b, codecV1)
	for _, k := range [...]*SCRAMKeys{&c.SHA1, &c.SHA256} {
		b = appendUvarint(b, uint64(k.Iterations))
		b = appendBytes(b, k.Salt)
		b = appendBytes(b, k.StoredKey)
		b = appendBytes(b, k.ServerKey)
	}
	return b
}

// decodeCredentials decodes v; the result aliases v.
func decodeCredentials(v []byte) (Credentials, error) {
	var c Credentials
	d := newDecoder(v)
	for _, k := range [...]*SCRAMKeys{&c.SHA1, &c.SHA256} {
		k.Iterations = int(d.uvarint())
		k.Salt = d.bytes()
		k.StoredKey = d.bytes()
		k.ServerKey = d.bytes()
	}
	return c, d.done()
}
