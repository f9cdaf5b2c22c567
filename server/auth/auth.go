// Package auth is chatbx's SASL server (RFC 4422, RFC 6120 §6): SCRAM-SHA-1
// and SCRAM-SHA-256 (RFC 5802, RFC 7677), their -PLUS variants with the
// tls-exporter channel binding (RFC 9266), and PLAIN (RFC 4616) over TLS.
//
// Every mechanism works from the stored SCRAM verifier (salt, iteration
// count, StoredKey, ServerKey): the server never holds the password or the
// salted password. PLAIN reruns PBKDF2 with the stored salt and compares
// StoredKey.
//
// Unknown users and wrong passwords are indistinguishable: for an unknown
// user SCRAM answers with a salt derived from a server secret and the name,
// so the challenge looks the same on every attempt, and the exchange fails
// at the proof like a wrong password does.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/text/secure/precis"

	"chatbx/store"
)

// Mechanism names.
const (
	ScramSHA256Plus = "SCRAM-SHA-256-PLUS"
	ScramSHA1Plus   = "SCRAM-SHA-1-PLUS"
	ScramSHA256     = "SCRAM-SHA-256"
	ScramSHA1       = "SCRAM-SHA-1"
	Plain           = "PLAIN"
)

// Errors map to SASL failure conditions (RFC 6120 §6.5).
var (
	ErrInvalidMechanism  = errors.New("auth: invalid-mechanism")
	ErrMalformed         = errors.New("auth: malformed-request")
	ErrNotAuthorized     = errors.New("auth: not-authorized")
	ErrIncorrectEncoding = errors.New("auth: incorrect-encoding")
)

// Condition returns the SASL failure element name for err.
func Condition(err error) string {
	switch {
	case errors.Is(err, ErrInvalidMechanism):
		return "invalid-mechanism"
	case errors.Is(err, ErrMalformed):
		return "malformed-request"
	case errors.Is(err, ErrIncorrectEncoding):
		return "incorrect-encoding"
	case errors.Is(err, ErrNotAuthorized):
		return "not-authorized"
	}
	return "temporary-auth-failure"
}

// Credentials looks up an account's verifiers; store.ErrNotFound for
// unknown users.
type Credentials interface {
	Credentials(ctx context.Context, user string) (store.Credentials, error)
}

// Server offers and runs SASL exchanges. It is safe for concurrent use.
type Server struct {
	creds  Credentials
	domain string
	plus   bool
	secret [32]byte
}

// New returns a SASL server. With plus, the -PLUS mechanisms are offered on
// TLS 1.3 connections (tls-exporter needs TLS 1.3 or extended master
// secret; chatbx offers it on TLS 1.3 only).
func New(creds Credentials, domain string, plus bool) *Server {
	s := &Server{creds: creds, domain: domain, plus: plus}
	rand.Read(s.secret[:])
	return s
}

func plusUsable(cs *tls.ConnectionState) bool {
	return cs != nil && cs.Version >= tls.VersionTLS13
}

// Mechanisms lists the mechanisms to advertise on a connection in order of
// preference. Nothing is offered without TLS.
func (s *Server) Mechanisms(cs *tls.ConnectionState) []string {
	if cs == nil {
		return nil
	}
	if s.plus && plusUsable(cs) {
		return []string{ScramSHA256Plus, ScramSHA1Plus, ScramSHA256, ScramSHA1, Plain}
	}
	return []string{ScramSHA256, ScramSHA1, Plain}
}

// ChannelBindings lists the channel-binding types to advertise with
// XEP-0440, or nil when no -PLUS mechanism is offered.
func (s *Server) ChannelBindings(cs *tls.ConnectionState) []string {
	if s.plus && plusUsable(cs) {
		return []string{"tls-exporter"}
	}
	return nil
}

// Exchange is one SASL authentication attempt. It is used by one goroutine.
type Exchange struct {
	s    *Server
	mech string
	cs   *tls.ConnectionState
	step int
	user string

	// SCRAM state.
	h           func() hash.Hash
	keys        store.SCRAMKeys
	known       bool
	gs2         string
	nonce       string
	firstBare   string
	serverFirst string
}

// Start begins an exchange with mechanism mech on a connection with TLS
// state cs. It fails with ErrInvalidMechanism for anything not offered.
func (s *Server) Start(mech string, cs *tls.ConnectionState) (*Exchange, error) {
	offered := false
	for _, m := range s.Mechanisms(cs) {
		if m == mech {
			offered = true
		}
	}
	if !offered {
		return nil, ErrInvalidMechanism
	}
	x := &Exchange{s: s, mech: mech, cs: cs}
	switch mech {
	case ScramSHA256, ScramSHA256Plus:
		x.h = sha256.New
	case ScramSHA1, ScramSHA1Plus:
		x.h = sha1.New
	}
	return x, nil
}

// User returns the authenticated, normalised localpart once Step reported
// done without error.
func (x *Exchange) User() string { return x.user }

// Mechanism returns the exchange's mechanism name.
func (x *Exchange) Mechanism() string { return x.mech }

// Step consumes the client's next message and returns the server's
// challenge (done false) or the additional data of the success (done true).
func (x *Exchange) Step(ctx context.Context, in []byte) (out []byte, done bool, err error) {
	defer func() { x.step++ }()
	if x.mech == Plain {
		if x.step != 0 {
			return nil, false, ErrMalformed
		}
		return nil, true, x.plain(ctx, in)
	}
	switch x.step {
	case 0:
		out, err := x.clientFirst(ctx, in)
		return out, false, err
	case 1:
		out, err := x.clientFinal(in)
		return out, err == nil, err
	}
	return nil, false, ErrMalformed
}

// NormalizeUser applies PRECIS UsernameCaseMapped (RFC 8265 §3.3) to a
// localpart.
func NormalizeUser(u string) (string, error) {
	n, err := precis.UsernameCaseMapped.String(u)
	if err != nil || n == "" || len(n) > 1023 || strings.ContainsAny(n, "\"&'/:<>@") {
		return "", ErrNotAuthorized
	}
	return n, nil
}

func (x *Exchange) plain(ctx context.Context, in []byte) error {
	parts := strings.Split(string(in), "\x00")
	if len(parts) != 3 || parts[1] == "" {
		return ErrMalformed
	}
	user, err := NormalizeUser(parts[1])
	if err != nil {
		return ErrNotAuthorized
	}
	if !x.authzOK(parts[0], user) {
		return ErrNotAuthorized
	}
	c, err := x.s.creds.Credentials(ctx, user)
	if err != nil {
		// Same work for unknown users as for known ones.
		c = x.s.fakeCredentials(user)
		c.VerifyPlain(parts[2])
		return ErrNotAuthorized
	}
	if !c.VerifyPlain(parts[2]) {
		return ErrNotAuthorized
	}
	x.user = user
	return nil
}

// authzOK accepts an empty authorization identity or one naming the
// authenticated user itself; chatbx has no proxy authorization.
func (x *Exchange) authzOK(authz, user string) bool {
	if authz == "" {
		return true
	}
	a, err := NormalizeUser(strings.TrimSuffix(authz, "@"+x.s.domain))
	return err == nil && a == user
}

func (s *Server) fakeCredentials(user string) store.Credentials {
	mac := hmac.New(sha256.New, s.secret[:])
	mac.Write([]byte(user))
	sum := mac.Sum(nil)
	fake := func(n int) store.SCRAMKeys {
		return store.SCRAMKeys{Salt: sum[:16], Iterations: store.MinIterations,
			StoredKey: sum[n : n+16], ServerKey: sum[n : n+16]}
	}
	return store.Credentials{SHA1: fake(16), SHA256: fake(16)}
}

func (x *Exchange) clientFirst(ctx context.Context, in []byte) ([]byte, error) {
	msg := string(in)
	// gs2-header: cbind-flag "," [authzid] ","
	i := strings.IndexByte(msg, ',')
	if i < 0 {
		return nil, ErrMalformed
	}
	flag := msg[:i]
	rest := msg[i+1:]
	j := strings.IndexByte(rest, ',')
	if j < 0 {
		return nil, ErrMalformed
	}
	authz := rest[:j]
	x.gs2 = msg[:i+1+j+1]
	x.firstBare = rest[j+1:]
	isPlus := strings.HasSuffix(x.mech, "-PLUS")
	switch {
	case flag == "n":
		if isPlus {
			return nil, ErrMalformed
		}
	case flag == "y":
		// The client thinks we do not support channel binding; if we
		// offered it on this connection, that is a downgrade (RFC 5802 §6).
		if isPlus || x.s.ChannelBindings(x.cs) != nil {
			return nil, ErrNotAuthorized
		}
	case flag == "p=tls-exporter":
		if !isPlus {
			return nil, ErrMalformed
		}
	case strings.HasPrefix(flag, "p="):
		return nil, ErrNotAuthorized // unsupported channel binding type
	default:
		return nil, ErrMalformed
	}
	if authz != "" && !strings.HasPrefix(authz, "a=") {
		return nil, ErrMalformed
	}
	attrs := strings.Split(x.firstBare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, ErrMalformed
	}
	name, ok := decodeSaslname(attrs[0][2:])
	if !ok {
		return nil, ErrMalformed
	}
	cnonce := attrs[1][2:]
	if cnonce == "" || strings.ContainsAny(cnonce, ",") {
		return nil, ErrMalformed
	}
	user, err := NormalizeUser(name)
	if err != nil {
		user = "\x00invalid"
	}
	if authz != "" {
		az, ok := decodeSaslname(authz[2:])
		if !ok || !x.authzOK(az, user) {
			return nil, ErrNotAuthorized
		}
	}
	x.user = user
	c, err := x.s.creds.Credentials(ctx, user)
	x.known = err == nil
	if !x.known {
		c = x.s.fakeCredentials(user)
	}
	if x.h().Size() == sha256.Size {
		x.keys = c.SHA256
	} else {
		x.keys = c.SHA1
	}
	if len(x.keys.StoredKey) == 0 {
		x.known = false
		x.keys = x.s.fakeCredentials(user).SHA256
	}
	var nb [18]byte
	rand.Read(nb[:])
	x.nonce = cnonce + base64.RawStdEncoding.EncodeToString(nb[:])
	x.serverFirst = "r=" + x.nonce + ",s=" + base64.StdEncoding.EncodeToString(x.keys.Salt) +
		",i=" + strconv.Itoa(x.keys.Iterations)
	return []byte(x.serverFirst), nil
}

func decodeSaslname(s string) (string, bool) {
	if !strings.Contains(s, "=") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

func (x *Exchange) clientFinal(in []byte) ([]byte, error) {
	msg := string(in)
	k := strings.LastIndex(msg, ",p=")
	if k < 0 {
		return nil, ErrMalformed
	}
	withoutProof := msg[:k]
	proof, err := base64.StdEncoding.DecodeString(msg[k+3:])
	if err != nil {
		return nil, ErrIncorrectEncoding
	}
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, ErrMalformed
	}
	cb, err := base64.StdEncoding.DecodeString(attrs[0][2:])
	if err != nil {
		return nil, ErrIncorrectEncoding
	}
	want := []byte(x.gs2)
	if strings.HasPrefix(x.gs2, "p=") {
		ekm, err := x.cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
		if err != nil {
			return nil, ErrNotAuthorized
		}
		want = append(want, ekm...)
	}
	if subtle.ConstantTimeCompare(cb, want) != 1 {
		return nil, ErrNotAuthorized
	}
	if attrs[1][2:] != x.nonce {
		return nil, ErrNotAuthorized
	}
	authMessage := x.firstBare + "," + x.serverFirst + "," + withoutProof
	mac := hmac.New(x.h, x.keys.StoredKey)
	mac.Write([]byte(authMessage))
	sig := mac.Sum(nil)
	if len(proof) != len(sig) {
		return nil, ErrNotAuthorized
	}
	for i := range sig {
		sig[i] ^= proof[i] // sig now holds ClientKey
	}
	sum := x.h()
	sum.Write(sig)
	ok := subtle.ConstantTimeCompare(sum.Sum(nil), x.keys.StoredKey) == 1
	if !ok || !x.known {
		return nil, ErrNotAuthorized
	}
	mac = hmac.New(x.h, x.keys.ServerKey)
	mac.Write([]byte(authMessage))
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac.Sum(nil))), nil
}
