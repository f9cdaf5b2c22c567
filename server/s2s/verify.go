package s2s

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"strings"
	"unicode/utf8"
)

var (
	oidSAN      = asn1.ObjectIdentifier{2, 5, 29, 17}
	oidXmppAddr = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 5}
	oidDNSSRV   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 7}
)

// otherNames returns the SRV-IDs (RFC 4985, e.g. "_xmpp-server.example.org")
// and XmppAddr identifiers (RFC 6120 §13.7.1.4) of a certificate's subject
// alternative names. Malformed entries are skipped.
func otherNames(exts []byte) (srv, xmpp []string) {
	var seq asn1.RawValue
	if rest, err := asn1.Unmarshal(exts, &seq); err != nil || len(rest) != 0 || !seq.IsCompound || seq.Tag != asn1.TagSequence {
		return nil, nil
	}
	b := seq.Bytes
	for len(b) > 0 {
		var gn asn1.RawValue
		rest, err := asn1.Unmarshal(b, &gn)
		if err != nil {
			return srv, xmpp
		}
		b = rest
		// otherName is [0] IMPLICIT SEQUENCE { type-id OID, value [0] EXPLICIT ANY }
		if gn.Class != asn1.ClassContextSpecific || gn.Tag != 0 || !gn.IsCompound {
			continue
		}
		var oid asn1.ObjectIdentifier
		inner, err := asn1.Unmarshal(gn.Bytes, &oid)
		if err != nil {
			continue
		}
		var wrapped asn1.RawValue
		if _, err := asn1.Unmarshal(inner, &wrapped); err != nil || wrapped.Class != asn1.ClassContextSpecific || wrapped.Tag != 0 {
			continue
		}
		var val asn1.RawValue
		if _, err := asn1.Unmarshal(wrapped.Bytes, &val); err != nil || val.Class != asn1.ClassUniversal {
			continue
		}
		s := string(val.Bytes)
		if !utf8.ValidString(s) || len(s) > 1024 {
			continue
		}
		switch {
		case oid.Equal(oidXmppAddr) && val.Tag == asn1.TagUTF8String:
			xmpp = append(xmpp, s)
		case oid.Equal(oidDNSSRV) && val.Tag == asn1.TagIA5String:
			srv = append(srv, s)
		}
	}
	return srv, xmpp
}

// sanExtension returns the raw subject alternative name extension.
func sanExtension(c *x509.Certificate) []byte {
	for _, e := range c.Extensions {
		if e.Id.Equal(oidSAN) {
			return e.Value
		}
	}
	return nil
}

// ErrCertificate is returned when a peer's certificate does not
// authenticate the domain.
var ErrCertificate = errors.New("s2s: certificate does not authenticate the domain")

// verifyPeer checks a peer's certificate chain against roots and its
// identity against domain (RFC 6125 §6: SRV-ID, XmppAddr, DNS-ID with a
// leftmost wildcard; no CN-ID). It returns nil when the certificate
// authenticates domain.
func verifyPeer(certs []*x509.Certificate, roots *x509.CertPool, domain string) error {
	if len(certs) == 0 {
		return ErrCertificate
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	// Any extended key usage: server certificates act as client
	// certificates on s2s (many public CAs no longer include clientAuth).
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return errors.Join(ErrCertificate, err)
	}
	if matchesName(leaf, domain) {
		return nil
	}
	return ErrCertificate
}

// matchesName reports whether the certificate names domain.
func matchesName(leaf *x509.Certificate, domain string) bool {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	srv, xmpp := otherNames(sanExtension(leaf))
	for _, s := range srv {
		s = strings.ToLower(s)
		if s == "_xmpp-server."+domain || s == "_xmpps-server."+domain {
			return true
		}
	}
	for _, x := range xmpp {
		if strings.ToLower(x) == domain {
			return true
		}
	}
	for _, n := range leaf.DNSNames {
		if dnsMatch(strings.ToLower(strings.TrimSuffix(n, ".")), domain) {
			return true
		}
	}
	return false
}

// dnsMatch compares a DNS-ID with a domain; a wildcard is only the whole
// leftmost label and matches exactly one label (RFC 6125 §6.4.3).
func dnsMatch(pattern, domain string) bool {
	if pattern == domain {
		return true
	}
	if rest, ok := strings.CutPrefix(pattern, "*."); ok && !strings.Contains(rest, "*") {
		_, d, found := strings.Cut(domain, ".")
		return found && d == rest && strings.Count(rest, ".") >= 1
	}
	return false
}

// peerOK reports whether the TLS state carries a certificate that
// authenticates domain.
func peerOK(st *tls.ConnectionState, roots *x509.CertPool, domain string) bool {
	return st != nil && verifyPeer(st.PeerCertificates, roots, domain) == nil
}
