package load

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"sync"
)

// scramCache keeps SaltedPassword per (mechanism, user, salt, iterations),
// as real clients do (RFC 5802 §5.1), so that measured logins spend client
// CPU on the protocol and not on PBKDF2. Safe for concurrent use.
type scramCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *scramCache) get(key string) []byte {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key]
}

func (c *scramCache) put(key string, v []byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][]byte{}
	}
	c.m[key] = v
}

// scram is the client side of one SCRAM-SHA-1 or SCRAM-SHA-256 exchange
// without channel binding (RFC 5802, RFC 7677).
type scram struct {
	mech       string
	newHash    func() hash.Hash
	user, pass string
	nonce      string
	first      string // client-first-message-bare
	serverSig  []byte
	cache      *scramCache
}

func newSCRAM(mech, user, pass string, cache *scramCache) (*scram, error) {
	s := &scram{mech: mech, user: user, pass: pass, cache: cache}
	switch mech {
	case "SCRAM-SHA-1":
		s.newHash = sha1.New
	case "SCRAM-SHA-256":
		s.newHash = sha256.New
	default:
		return nil, fmt.Errorf("load: unsupported mechanism %q", mech)
	}
	var b [18]byte
	rand.Read(b[:])
	s.nonce = base64.RawStdEncoding.EncodeToString(b[:])
	name := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(user)
	s.first = "n=" + name + ",r=" + s.nonce
	return s, nil
}

// clientFirst returns the client-first-message.
func (s *scram) clientFirst() []byte { return []byte("n,," + s.first) }

// clientFinal answers the server-first-message.
func (s *scram) clientFinal(serverFirst []byte) ([]byte, error) {
	var nonce, salt64, iter string
	for _, f := range strings.Split(string(serverFirst), ",") {
		if len(f) < 2 || f[1] != '=' {
			continue
		}
		switch f[0] {
		case 'r':
			nonce = f[2:]
		case 's':
			salt64 = f[2:]
		case 'i':
			iter = f[2:]
		}
	}
	if !strings.HasPrefix(nonce, s.nonce) || len(nonce) == len(s.nonce) {
		return nil, errors.New("load: scram: server nonce does not extend ours")
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil {
		return nil, errors.New("load: scram: bad salt")
	}
	n, err := strconv.Atoi(iter)
	if err != nil || n < 1 {
		return nil, errors.New("load: scram: bad iteration count")
	}
	key := s.mech + "\x00" + s.user + "\x00" + s.pass + "\x00" + salt64 + "\x00" + iter
	salted := s.cache.get(key)
	if salted == nil {
		salted, err = pbkdf2.Key(s.newHash, s.pass, salt, n, s.newHash().Size())
		if err != nil {
			return nil, err
		}
		s.cache.put(key, salted)
	}
	withoutProof := "c=biws,r=" + nonce
	authMessage := []byte(s.first + "," + string(serverFirst) + "," + withoutProof)
	clientKey := s.hmac(salted, []byte("Client Key"))
	h := s.newHash()
	h.Write(clientKey)
	storedKey := h.Sum(nil)
	sig := s.hmac(storedKey, authMessage)
	proof := make([]byte, len(clientKey))
	subtle.XORBytes(proof, clientKey, sig)
	s.serverSig = s.hmac(s.hmac(salted, []byte("Server Key")), authMessage)
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// verify checks the server-final-message (v=ServerSignature).
func (s *scram) verify(serverFinal []byte) error {
	v, ok := strings.CutPrefix(string(serverFinal), "v=")
	if !ok {
		return fmt.Errorf("load: scram: server final %q", serverFinal)
	}
	sig, err := base64.StdEncoding.DecodeString(v)
	if err != nil || !hmac.Equal(sig, s.serverSig) {
		return errors.New("load: scram: wrong server signature")
	}
	return nil
}

func (s *scram) hmac(key, msg []byte) []byte {
	m := hmac.New(s.newHash, key)
	m.Write(msg)
	return m.Sum(nil)
}
