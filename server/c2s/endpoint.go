package c2s

import (
	"crypto/tls"
	"sync"

	"chatbx/server/auth"
)

// The tls-server-end-point channel binding (RFC 5929 §4) is a hash of the
// server's certificate, which the server side of crypto/tls does not
// report in its ConnectionState. The TLS configs of both TCP listeners are
// therefore wrapped once so that the certificate chosen for a handshake
// is kept on that connection's transport, for FAST's HT-SHA-256-ENDP.
// WebSocket streams arrive with their TLS terminated by net/http and do
// not get ENDP.

// withEndpoint returns d with its TLS configs wrapped by endpointConfig.
func withEndpoint(d Deps) Deps {
	if d.DirectTLS != nil {
		d.DirectTLS = endpointConfig(d.DirectTLS)
	}
	if st := d.StartTLS; st != nil {
		d.StartTLS = func(to string) *tls.Config { return endpointConfig(st(to)) }
	}
	return d
}

// endpointConfig clones cfg with a GetCertificate that chooses as cfg
// does (its GetCertificate, else the first of Certificates the client
// supports) and records the choice on the transport. A config that
// chooses in GetConfigForClient is used as it is, without ENDP.
func endpointConfig(cfg *tls.Config) *tls.Config {
	if cfg == nil || cfg.GetConfigForClient != nil {
		return cfg
	}
	c := cfg.Clone()
	get, certs := cfg.GetCertificate, cfg.Certificates
	c.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		var cert *tls.Certificate
		if get != nil {
			var err error
			if cert, err = get(h); err != nil {
				return nil, err
			}
		}
		for i := 0; cert == nil && i < len(certs); i++ {
			if h.SupportsCertificate(&certs[i]) == nil {
				cert = &certs[i]
			}
		}
		if cert == nil && len(certs) > 0 {
			cert = &certs[0]
		}
		if ic, ok := h.Conn.(*idleConn); ok && ic.s != nil {
			if t, ok := ic.s.tr.(*tcpTransport); ok {
				t.cert = cert
			}
		}
		return cert, nil
	}
	return c
}

// hasEndpoint reports whether ss's connection knows its certificate (so
// FAST may offer HT-SHA-256-ENDP), without hashing it.
func (ss *Session) hasEndpoint() bool {
	t, ok := ss.tr.(*tcpTransport)
	return ok && t.cert != nil && t.tls != nil
}

// endpoint returns the tls-server-end-point binding data of ss's
// connection, or nil when it is not known. The hash is computed once per
// certificate (parsing the leaf is most of its cost).
func (ss *Session) endpoint() []byte {
	if !ss.hasEndpoint() {
		return nil
	}
	return ss.srv.endpoints.get(ss.tr.(*tcpTransport).cert)
}

// endpointCache keeps the tls-server-end-point hash of the few
// certificates in use; a renewal adds one, and the cache starts over
// when it holds maxEndpoints.
type endpointCache struct {
	mu sync.Mutex
	m  map[*tls.Certificate][]byte
}

const maxEndpoints = 16

func (c *endpointCache) get(cert *tls.Certificate) []byte {
	c.mu.Lock()
	h, ok := c.m[cert]
	c.mu.Unlock()
	if ok {
		return h
	}
	h = auth.EndpointHash(cert)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxEndpoints {
		c.m = make(map[*tls.Certificate][]byte)
	}
	c.m[cert] = h
	c.mu.Unlock()
	return h
}
