package s2s

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
)

// target is one address to try for a remote domain.
type target struct {
	host   string // for the address lookup
	port   string
	direct bool // XEP-0368 direct TLS
}

// errNotFound means the domain has no XMPP service (DNS says so).
var errNotFound = errors.New("s2s: remote server not found")

// targets resolves a domain per RFC 6120 §3.2 and XEP-0368:
// _xmpps-server._tcp and _xmpp-server._tcp SRV records merged by priority
// (direct TLS first at equal priority; the resolver orders by weight),
// else the domain itself on 5269. Config.Hosts overrides DNS.
func (s *Server) targets(ctx context.Context, domain string) ([]target, error) {
	if a, ok := s.cfg.Hosts[domain]; ok {
		direct := false
		if rest, ok := strings.CutPrefix(a, "tls:"); ok {
			a, direct = rest, true
		}
		h, p, err := net.SplitHostPort(a)
		if err != nil {
			return nil, err
		}
		return []target{{host: h, port: p, direct: direct}}, nil
	}
	type srvT struct {
		target
		prio uint16
	}
	var all []srvT
	found, refused := false, 0
	for _, svc := range []struct {
		name   string
		direct bool
	}{{"xmpps-server", true}, {"xmpp-server", false}} {
		_, recs, err := s.d.Resolver.LookupSRV(ctx, svc.name, "tcp", domain)
		if err != nil || len(recs) == 0 {
			continue
		}
		found = true
		if len(recs) == 1 && (recs[0].Target == "." || recs[0].Target == "") {
			refused++ // RFC 2782: the service is decidedly not available
			continue
		}
		for _, r := range recs {
			all = append(all, srvT{target{host: strings.TrimSuffix(r.Target, "."),
				port: strconv.Itoa(int(r.Port)), direct: svc.direct}, r.Priority})
		}
	}
	if found && len(all) == 0 && refused > 0 {
		return nil, errNotFound
	}
	if !found {
		return []target{{host: domain, port: "5269"}}, nil
	}
	slices.SortStableFunc(all, func(a, b srvT) int { return int(a.prio) - int(b.prio) })
	out := make([]target, len(all))
	for i, t := range all {
		out[i] = t.target
	}
	return out, nil
}

// addresses returns the IP addresses of a target host, IPv6 and IPv4
// interleaved (RFC 8305 §4).
func (s *Server) addresses(ctx context.Context, host string) ([]string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return []string{host}, nil
	}
	addrs, err := s.d.Resolver.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	var v6, v4 []string
	for _, a := range addrs {
		if strings.Contains(a, ":") {
			v6 = append(v6, a)
		} else {
			v4 = append(v4, a)
		}
	}
	out := make([]string, 0, len(addrs))
	for i := 0; i < len(v6) || i < len(v4); i++ {
		if i < len(v6) {
			out = append(out, v6[i])
		}
		if i < len(v4) {
			out = append(out, v4[i])
		}
	}
	return out, nil
}
