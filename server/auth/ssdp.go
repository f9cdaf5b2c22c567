package auth

import (
	"crypto/tls"
	"encoding/base64"
	"hash"
	"slices"
	"strings"
)

// SSDP returns the XEP-0474 (SASL SCRAM Downgrade Protection, version
// 0.5) hash of the mechanisms and channel-binding types a server
// advertised: the mechanisms sorted by octet and joined by %x1E, then, if
// channel bindings were advertised with XEP-0440, %x1F and the sorted
// types joined by %x1E, hashed with the SCRAM mechanism's hash and
// encoded in base64. The server sends it as the optional attribute "h" of
// its server-first-message, which the client's proof then signs: a
// man in the middle who removed mechanisms or channel-binding types from
// the stream features is detected by a client that compares the hash, and
// by the server's proof check if he also rewrote the attribute.
//
// XEP-0474 named the attribute "d" before version 0.3; chatbx follows the
// current text.
func SSDP(h func() hash.Hash, mechs, cbs []string) string {
	var b strings.Builder
	b.WriteString(strings.Join(slices.Sorted(slices.Values(mechs)), "\x1e"))
	if len(cbs) > 0 {
		b.WriteByte(0x1f)
		b.WriteString(strings.Join(slices.Sorted(slices.Values(cbs)), "\x1e"))
	}
	sum := h()
	sum.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(sum.Sum(nil))
}

// ssdp is the hash for the mechanisms and channel bindings offered on cs
// (the same lists for SASL and SASL2: both profiles offer Mechanisms(cs)).
func (s *Server) ssdp(h func() hash.Hash, cs *tls.ConnectionState) string {
	return SSDP(h, s.Mechanisms(cs), s.ChannelBindings(cs))
}
