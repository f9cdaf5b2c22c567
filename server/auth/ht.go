package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"hash"
	"strings"
)

// FAST token mechanisms (XEP-0484) of the Hashed Token family
// (draft-schmaus-kitten-sasl-ht-08): the client proves it holds a token
// in a single message, authcid NUL HMAC-SHA-256(token, "Initiator" ||
// channel-binding data), and the server answers HMAC-SHA-256(token,
// "Responder" || channel-binding data) as additional data.
const (
	HTNone = "HT-SHA-256-NONE" // no channel binding
	HTExpr = "HT-SHA-256-EXPR" // tls-exporter (RFC 9266)
	HTEndp = "HT-SHA-256-ENDP" // tls-server-end-point (RFC 5929)
)

// TokenLen is the length of the tokens NewToken makes: longer than
// SHA-256's block (64 bytes), so that HMAC keys with SHA-256(token)
// instead of the token itself (RFC 2104 §2). The server therefore needs
// only the token's hash to check a proof, and stores nothing else.
const TokenLen = 80

// TokenHash returns the stored form of a token: its SHA-256, which is
// also the HMAC key the token stands for (see TokenLen).
func TokenHash(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// FastMechanisms lists the FAST mechanisms to offer on cs, channel
// binding first: HT-SHA-256-EXPR where tls-exporter channel binding is
// offered (ChannelBindings), HT-SHA-256-ENDP when the connection knows
// its tls-server-end-point data (endpoint), HT-SHA-256-NONE on any TLS
// connection.
func (s *Server) FastMechanisms(cs *tls.ConnectionState, endpoint bool) []string {
	if cs == nil {
		return nil
	}
	var m []string
	if s.ChannelBindings(cs) != nil {
		m = append(m, HTExpr)
	}
	if endpoint {
		m = append(m, HTEndp)
	}
	return append(m, HTNone)
}

// EndpointHash returns the tls-server-end-point channel-binding data of a
// server certificate (RFC 5929 §4.1): its hash with the hash function of
// its signature algorithm, SHA-256 for MD5 and SHA-1.
func EndpointHash(cert *tls.Certificate) []byte {
	leaf := cert.Leaf
	if leaf == nil {
		if len(cert.Certificate) == 0 {
			return nil
		}
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil
		}
	}
	var h hash.Hash
	switch leaf.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = sha512.New()
	default: // SHA-256, MD5, SHA-1, and Ed25519 (RFC 5929 names no hash for it)
		h = sha256.New()
	}
	h.Write(leaf.Raw)
	return h.Sum(nil)
}

// HTBinding returns the channel-binding data of mech on cs: none for
// HT-SHA-256-NONE, the tls-exporter keying material for HT-SHA-256-EXPR,
// endpoint (EndpointHash of the server certificate, nil when unknown) for
// HT-SHA-256-ENDP. It fails with ErrInvalidMechanism for a mechanism not
// offered on cs.
func (s *Server) HTBinding(mech string, cs *tls.ConnectionState, endpoint []byte) ([]byte, error) {
	offered := false
	for _, m := range s.FastMechanisms(cs, endpoint != nil) {
		offered = offered || m == mech
	}
	switch {
	case !offered:
		return nil, ErrInvalidMechanism
	case mech == HTEndp:
		return endpoint, nil
	case mech == HTExpr:
		ekm, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
		if err != nil {
			return nil, ErrNotAuthorized
		}
		return ekm, nil
	}
	return nil, nil
}

// ParseHT splits an HT initial response into the normalised localpart
// (a bare JID of domain is accepted too) and the client's HMAC. It fails
// with ErrMalformed or ErrNotAuthorized for an unusable name.
func (s *Server) ParseHT(in []byte) (user string, mac []byte, err error) {
	i := bytes.IndexByte(in, 0)
	if i <= 0 || len(in)-i-1 != sha256.Size {
		return "", nil, ErrMalformed
	}
	user, err = NormalizeUser(strings.TrimSuffix(string(in[:i]), "@"+s.domain))
	if err != nil {
		return "", nil, err
	}
	return user, in[i+1:], nil
}

// HTCheck reports, in constant time, whether mac is the initiator HMAC of
// the token whose hash is key over the channel-binding data cb.
func HTCheck(key [32]byte, cb, mac []byte) bool {
	return subtle.ConstantTimeCompare(htMAC(key, "Initiator", cb), mac) == 1
}

// HTFinal returns the server's responder HMAC (the success's additional
// data).
func HTFinal(key [32]byte, cb []byte) []byte { return htMAC(key, "Responder", cb) }

func htMAC(key [32]byte, label string, cb []byte) []byte {
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(label))
	m.Write(cb)
	return m.Sum(nil)
}
