package web

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config configures the web site.
// The values that the privacy policy states (retention periods, archive
// default, anonymisation, contacts) must be the ones the rest of the server
// runs with; main fills them from the same configuration.
type Config struct {
	// ServiceName is the name shown on every page.
	ServiceName string
	// Domain is the XMPP domain.
	Domain string
	// Hosts are the web host names; empty means [Domain].
	// The first one is used in redirects for unknown Host headers and in the
	// default AccountURL.
	Hosts []string
	// HTTPSPort is the port browsers reach the HTTPS site on; 443 (or 0)
	// leaves it out of URLs.
	HTTPSPort int
	// ContentDir is the operator's override directory (<lang>/<page>.md);
	// empty means only the embedded pages.
	ContentDir string
	// ContactAdmin and ContactAbuse are contact URIs (mailto:…, xmpp:…).
	ContactAdmin, ContactAbuse []string
	// AccountURL is the base URL of the account pages; empty means
	// https://<Hosts[0]>[:HTTPSPort]/account.
	AccountURL string
	// ArchiveDefault is the message archive default of new accounts:
	// "never", "always" or "roster".
	ArchiveDefault string
	// GroupChat is the domain of the group chat service (XEP-0045);
	// empty: the server offers none and the policy leaves group chats out.
	GroupChat string
	// Retention holds the deletion periods the policy states.
	Retention Retention
	// IPAnonymisation describes how connection logs shorten IP addresses.
	IPAnonymisation string
	// PushSender and PushBody: push notifications carry the sender or the
	// message text (the privacy page says so).
	PushSender, PushBody bool
	// PortC2S and PortC2STLS are the client ports shown on the home page
	// (STARTTLS and direct TLS).
	PortC2S, PortC2STLS int

	// HeaderTimeout bounds the TLS handshake and the request header
	// (default 10 s).
	HeaderTimeout time.Duration
	// BodyTimeout bounds the time a request body takes to arrive in
	// full, however steadily it trickles (default 30 s). Uploads have
	// their own deadline, which moves as bytes arrive (web/upload).
	BodyTimeout time.Duration
	// WriteTimeout ends a response the client stops reading: every write
	// must go out within it (default 1 min). A response that keeps going
	// out may take as long as it needs.
	WriteTimeout time.Duration
	// MaxConnections bounds the open connections of both listeners
	// together (default 1024); PerIPConnections those from one client
	// address (default 64). A connection beyond either is closed at once.
	MaxConnections, PerIPConnections int
}

// Retention holds the deletion periods stated on the privacy page.
type Retention struct {
	Uploads        time.Duration // uploaded files
	WebErrors      time.Duration // web error log lines
	ConnectionLogs time.Duration // connection log lines
	Offline        time.Duration // undelivered offline messages
	Backups        time.Duration // the operator's backups; 0: none named
	GroupArchive   time.Duration // messages of group chats whose owner switched archiving on
	LoginTokens    time.Duration // FAST login tokens (XEP-0484), c2s.fast_token_ttl
}

// DefaultConfig returns the configuration the privacy policy was written
// for: archive off, 30 days for uploads, web errors and offline messages,
// 24 hours for connection logs.
func DefaultConfig() Config {
	return Config{
		ServiceName:    "chatbx",
		Domain:         "localhost",
		HTTPSPort:      443,
		ArchiveDefault: "never",
		Retention: Retention{
			Uploads:        30 * 24 * time.Hour,
			WebErrors:      30 * 24 * time.Hour,
			ConnectionLogs: 24 * time.Hour,
			Offline:        30 * 24 * time.Hour,
			GroupArchive:   30 * 24 * time.Hour,
			LoginTokens:    14 * 24 * time.Hour,
		},
		IPAnonymisation:  "IPv4 /24, IPv6 /48",
		PortC2S:          5222,
		PortC2STLS:       5223,
		HeaderTimeout:    10 * time.Second,
		BodyTimeout:      30 * time.Second,
		WriteTimeout:     time.Minute,
		MaxConnections:   1024,
		PerIPConnections: 64,
	}
}

// withDefaults fills zero limits with DefaultConfig's.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.HeaderTimeout == 0 {
		c.HeaderTimeout = d.HeaderTimeout
	}
	if c.BodyTimeout == 0 {
		c.BodyTimeout = d.BodyTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = d.MaxConnections
	}
	if c.PerIPConnections == 0 {
		c.PerIPConnections = d.PerIPConnections
	}
	return c
}

// hosts returns the configured web host names, lower-cased, or [Domain].
func (c Config) hosts() []string {
	hs := c.Hosts
	if len(hs) == 0 {
		hs = []string{c.Domain}
	}
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = strings.ToLower(strings.TrimSuffix(h, "."))
	}
	return out
}

// portSuffix returns ":port" for a non-standard HTTPS port, else "".
func (c Config) portSuffix() string {
	if c.HTTPSPort == 0 || c.HTTPSPort == 443 {
		return ""
	}
	return ":" + strconv.Itoa(c.HTTPSPort)
}

// accountURL returns AccountURL or its default, without a trailing slash.
func (c Config) accountURL() string {
	if c.AccountURL != "" {
		return strings.TrimSuffix(c.AccountURL, "/")
	}
	return "https://" + c.hosts()[0] + c.portSuffix() + "/account"
}

// validate reports the first invalid field.
func (c Config) validate() error {
	if c.ServiceName == "" {
		return errors.New("web: service name is empty")
	}
	if !validHost(c.Domain) {
		return fmt.Errorf("web: invalid domain %q", c.Domain)
	}
	for _, h := range c.Hosts {
		if !validHost(h) {
			return fmt.Errorf("web: invalid host %q", h)
		}
	}
	if c.HTTPSPort < 0 || c.HTTPSPort > 65535 {
		return fmt.Errorf("web: invalid https port %d", c.HTTPSPort)
	}
	switch c.ArchiveDefault {
	case "never", "always", "roster":
	default:
		return fmt.Errorf("web: invalid archive default %q (want never, always or roster)", c.ArchiveDefault)
	}
	for name, d := range map[string]time.Duration{
		"uploads": c.Retention.Uploads, "web_errors": c.Retention.WebErrors,
		"connection_logs": c.Retention.ConnectionLogs, "offline": c.Retention.Offline,
	} {
		if d <= 0 {
			return fmt.Errorf("web: retention period %s must be positive", name)
		}
	}
	for name, d := range map[string]time.Duration{
		"header timeout": c.HeaderTimeout, "body timeout": c.BodyTimeout, "write timeout": c.WriteTimeout,
	} {
		if d < 0 {
			return fmt.Errorf("web: %s must be positive", name)
		}
	}
	if c.MaxConnections < 0 || c.PerIPConnections < 0 {
		return errors.New("web: connection limits must be positive")
	}
	if c.AccountURL != "" {
		u, err := url.Parse(c.AccountURL)
		if err != nil || (u.Scheme != "https" && !(u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/"))) ||
			u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(c.AccountURL, "()<> \n") {
			return fmt.Errorf("web: invalid account URL %q (want https://host/path or /path)", c.AccountURL)
		}
	}
	return nil
}

// validHost reports whether h is a plausible DNS name or IP literal.
func validHost(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
