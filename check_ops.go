package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"

	"chatbx/internal/accounts"
	"chatbx/internal/config"
	"chatbx/retention"
)

// The parts of `chatbx check` added for operators (issue 14): the names
// every certificate must cover, the worst cases of the retention rules
// the base check does not state, and where the metrics are exposed.

// serviceNames returns every host name clients reach this server under:
// the XMPP domain, the web hosts, and the local service domains (none
// yet; MUC adds conference.<domain>). Each needs a certificate that
// covers it.
func serviceNames(c *Config) []string {
	names := []string{c.Domain}
	for _, h := range c.Web.Hosts {
		if !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	return names
}

// writeOpsCheck prints the certificate names, the further retention worst
// cases and the metrics exposure.
func writeOpsCheck(w io.Writer, c *Config) {
	fmt.Fprintln(w, "\ncertificate names")
	source := "ACME (tls.acme) orders a certificate for each"
	switch {
	case c.TLS.CertFile != "":
		source = "tls.cert_file must cover each (checked under certificate)"
	case c.Dev():
		source = "the self-signed --dev certificate covers each"
	case !c.TLS.ACME:
		source = "no certificate source is configured"
	}
	fmt.Fprintf(w, "  %s:\n", source)
	for _, n := range serviceNames(c) {
		fmt.Fprintf(w, "    %s\n", n)
	}

	fmt.Fprintln(w, "\nmore retention worst cases")
	sweep := c.Retention.Sweep
	if sweep <= 0 {
		sweep = retention.MaxTick
	}
	if c.Archive.MaxAge > 0 {
		fmt.Fprintf(w, "  an archived message is deleted at most %s after it was archived (swept every %s)\n",
			config.FormatDuration(c.Archive.MaxAge), config.FormatDuration(retention.TickFor(c.Archive.MaxAge)))
	} else {
		fmt.Fprintln(w, "  archived messages are kept until their user empties the archive or deletes the account (archive.max_age = 0)")
	}
	fmt.Fprintf(w, "  an invitation is deleted at most %s after it expires or is used up at once; operator invitations last at most %s, user invitations %s\n",
		config.FormatDuration(sweep), config.FormatDuration(maxInviteExpires), config.FormatDuration(accounts.UserInviteTTL))
	fmt.Fprintf(w, "  a deleted account's data is gone in the deleting transaction; its upload files are unlinked at once (after a crash, within %s)\n",
		config.FormatDuration(sweep))
	fmt.Fprintln(w, "  a locked account's data is kept unchanged until it is unlocked or deleted; retention periods still apply to it")

	fmt.Fprintln(w, "\nmetrics")
	if c.Metrics.Listen == "" {
		fmt.Fprintln(w, "  off (metrics.listen is empty)")
	} else {
		fmt.Fprintf(w, "  Prometheus text format on http://%s/metrics (no personal data in any label)\n", c.Metrics.Listen)
	}
}

// metricsWarnings warns when the metrics listener is reachable beyond the
// host: the numbers name nobody but tell anyone how busy the server is.
func metricsWarnings(c *Config) []string {
	addr := c.Metrics.Listen
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil // config.Load refused it already
	}
	var warns []string
	switch ip, err := netip.ParseAddr(host); {
	case host == "" || err == nil && ip.IsUnspecified():
		warns = append(warns, fmt.Sprintf("metrics.listen %s listens on every interface: anyone who reaches it sees how busy the server is; use 127.0.0.1:%s or a firewall", addr, port))
	case host == "localhost" || err == nil && ip.IsLoopback():
	default:
		warns = append(warns, fmt.Sprintf("metrics.listen %s is not a loopback address: keep the metrics behind a firewall or use 127.0.0.1:%s", addr, port))
	}
	for _, other := range []struct{ key, addr string }{
		{"c2s.listen", c.C2S.Listen}, {"c2s.listen_tls", c.C2S.ListenTLS},
		{"web.listen_https", c.Web.ListenHTTPS}, {"web.listen_http", c.Web.ListenHTTP},
	} {
		if _, p, err := net.SplitHostPort(other.addr); err == nil && p == port && port != "0" {
			warns = append(warns, fmt.Sprintf("metrics.listen uses port %s like %s: one of them will fail to start", port, other.key))
		}
	}
	return warns
}
