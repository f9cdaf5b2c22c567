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
// user SCRAM answers with verifiers derived with HMAC from a secret kept in
// the store (FakeSecretKey) and the name: a salt per mechanism of the same
// length as a real one, the iteration count of new accounts, keys of the
// real lengths. The challenge is the same on every attempt and across
// restarts, the server does the same hashing as for a real account, and
// the exchange fails at the proof like a wrong password does.
//
// An exchange may carry a Gate (password guessing limits, internal/guard):
// it is consulted once the username is known and before the password or
// proof is evaluated; a closed gate fails the exchange with
// temporary-auth-failure.
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
	// ErrTemporary is returned when a Gate refuses the attempt.
	ErrTemporary = errors.New("auth: temporary-auth-failure")
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

// Settings is the store's server-wide settings API; when the Credentials
// passed to New implement it, the secret of the fake verifiers is kept
// there so that they survive restarts.
type Settings interface {
	Setting(ctx context.Context, key string) ([]byte, error)
	SetSetting(ctx context.Context, key string, v []byte) error
}

// FakeSecretKey is the setting holding the secret that unknown users'
// verifiers are derived from.
const FakeSecretKey = "auth.fake-scram-secret"

// FakeIterations is the PBKDF2 count of unknown users' verifiers: the
// count chatbx gives new accounts (main's scramIterations, the account
// pages' default), so that unknown and known users look alike.
const FakeIterations = store.MinIterations

// fakeSaltSize is the length of the salts store.DeriveCredentials makes.
const fakeSaltSize = 16

// Server offers and runs SASL exchanges. It is safe for concurrent use.
type Server struct {
	creds  Credentials
	domain string
	plus   bool
	secret []byte
}

// New returns a SASL server. With plus, the -PLUS mechanisms are offered on
// TLS 1.3 connections (tls-exporter needs TLS 1.3 or extended master
// secret; chatbx offers it on TLS 1.3 only). When creds implements
// Settings, the fake verifiers' secret is read from (or created in) the
// store; if that fails, a per-process secret is used.
func New(creds Credentials, domain string, plus bool) *Server {
	s := &Server{creds: creds, domain: domain, plus: plus}
	if st, ok := creds.(Settings); ok {
		if sec, err := LoadSecret(context.Background(), st); err == nil {
			s.secret = sec
		}
	}
	if s.secret == nil {
		s.secret = make([]byte, 32)
		rand.Read(s.secret)
	}
	return s
}

// LoadSecret returns the fake verifiers' secret from st, creating and
// storing a random one the first time.
func LoadSecret(ctx context.Context, st Settings) ([]byte, error) {
	v, err := st.Setting(ctx, FakeSecretKey)
	if err == nil && len(v) >= 32 {
		return v, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	v = make([]byte, 32)
	rand.Read(v)
	if err := st.SetSetting(ctx, FakeSecretKey, v); err != nil {
		return nil, err
	}
	// Read it back: of two servers starting on one store at once, both
	// end up with the value that was written last.
	return st.Setting(ctx, FakeSecretKey)
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

// Gate decides, before a password or proof is evaluated, whether user may
// try now. It returns ok false to refuse (the exchange fails with
// ErrTemporary); otherwise the exchange calls done once with the verdict
// (true: authenticated). An exchange abandoned before its verdict never
// calls done.
type Gate func(user string) (done func(ok bool), ok bool)

// Exchange is one SASL authentication attempt. It is used by one goroutine.
type Exchange struct {
	// Gate, if not nil, is consulted before the verdict.
	Gate Gate

	s    *Server
	mech string
	cs   *tls.ConnectionState
	step int
	user string

	// SCRAM state.
	h           func() hash.Hash
	keys        store.SCRAMKeys
	known       bool
	done        func(ok bool)
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
		return out, err == nil, x.verdict(err)
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
	if !x.open(user) {
		return ErrTemporary
	}
	c, err := x.s.creds.Credentials(ctx, user)
	if err != nil {
		// Same work for unknown users as for known ones.
		c = x.s.fakeCredentials(user)
		c.VerifyPlain(parts[2])
		return x.verdict(ErrNotAuthorized)
	}
	if !c.VerifyPlain(parts[2]) {
		return x.verdict(ErrNotAuthorized)
	}
	x.user = user
	return x.verdict(nil)
}

// open consults the gate for user.
func (x *Exchange) open(user string) bool {
	if x.Gate == nil {
		return true
	}
	done, ok := x.Gate(user)
	x.done = done
	return ok
}

// verdict reports err's outcome to the gate and returns err.
func (x *Exchange) verdict(err error) error {
	if x.done != nil {
		x.done(err == nil)
		x.done = nil
	}
	return err
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

// fakeCredentials returns the verifiers an unknown user appears to have:
// per mechanism a salt of a real salt's length and keys of the real
// lengths, all derived with HMAC from the stored secret, the mechanism and
// the name, and the iteration count of new accounts.
func (s *Server) fakeCredentials(user string) store.Credentials {
	derive := func(mech, part string, n int) []byte {
		mac := hmac.New(sha256.New, s.secret)
		mac.Write([]byte(mech + "\x00" + part + "\x00" + user))
		return mac.Sum(nil)[:n]
	}
	fake := func(mech string, size int) store.SCRAMKeys {
		return store.SCRAMKeys{
			Salt:       derive(mech, "salt", fakeSaltSize),
			Iterations: FakeIterations,
			StoredKey:  derive(mech, "stored", size),
			ServerKey:  derive(mech, "server", size),
		}
	}
	return store.Credentials{SHA1: fake(ScramSHA1, sha1.Size), SHA256: fake(ScramSHA256, sha256.Size)}
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
	if !x.open(user) {
		return nil, ErrTemporary
	}
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
		f := x.s.fakeCredentials(user)
		x.keys = f.SHA1
		if x.h().Size() == sha256.Size {
			x.keys = f.SHA256
		}
	}
	var nb [18]byte
	rand.Read(nb[:])
	x.nonce = cnonce + base64.RawStdEncoding.EncodeToString(nb[:])
	x.serverFirst = "r=" + x.nonce + ",s=" + base64.StdEncoding.EncodeToString(x.keys.Salt) +
		",i=" + strconv.Itoa(x.keys.Iterations) +
		// XEP-0474: the advertised lists, signed by the client's proof.
		",h=" + x.s.ssdp(x.h, x.cs)
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
