package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"chatbx/internal/accounts"
	"chatbx/internal/certs"
	"chatbx/internal/guard"
	"chatbx/internal/metrics"
	"chatbx/retention"
	"chatbx/server/c2s"
	"chatbx/server/extdisco"
	"chatbx/server/mam"
	"chatbx/server/muc"
	"chatbx/server/pep"
	"chatbx/server/push"
	"chatbx/server/register"
	"chatbx/server/s2s"
	"chatbx/server/upload"
	"chatbx/server/vcard"
	"chatbx/server/ws"
	"chatbx/store"
	"chatbx/web"
)

// Config is the whole configuration of chatbx.
// It is filled from defaults, one TOML file, CHATBX_* environment variables and
// command-line flags, in rising order of precedence (see Load).
//
// Every leaf field carries a `key` tag with its TOML name; sections carry the
// section name. The key table (configKeys) is derived from these tags by
// reflection, so flags, environment variables, the TOML reader and
// docs/configuration.md all come from this one declaration.
type Config struct {
	Domain      string `key:"domain" check:"domain" def:"(none; required outside --dev)" doc:"The XMPP domain this server serves: the part after the @ in every address (alice@example.org). Required outside --dev."`
	DataDir     string `key:"data_dir" check:"nonempty" doc:"Directory for all state: chatbx.db (accounts, certificates, settings), uploads/, logs/ and admin.sock (with --dev also the self-signed dev-cert.pem and dev-key.pem). Nothing else is written there, nothing is written elsewhere. Created with mode 0700."`
	ServiceName string `key:"service_name" def:"(the domain)" doc:"Name of the service shown on the website and in the privacy policy."`

	C2S       C2S       `key:"c2s"`
	Web       Web       `key:"web"`
	Contact   Contact   `key:"contact"`
	TLS       TLS       `key:"tls"`
	Upload    Upload    `key:"upload"`
	Retention Retention `key:"retention"`
	Log       Log       `key:"log"`
	Archive   Archive   `key:"archive"`
	Accounts  Accounts  `key:"accounts"`
	Metrics   Metrics   `key:"metrics"`
	MUC       MUC       `key:"muc"`
	Push      Push      `key:"push"`
	ExtDisco  ExtDisco  `key:"extdisco"`
	S2S       S2S       `key:"s2s"`

	dev    bool              // --dev was given
	file   string            // the TOML file read, if any
	source map[string]string // key → "default", "file", "env" or "flag"
}

// C2S configures client-to-server XMPP (RFC 6120).
type C2S struct {
	Listen             string        `key:"listen" check:"addr" doc:"Listen address for client connections with STARTTLS (RFC 6120 §5). TLS is required before authentication."`
	ListenTLS          string        `key:"listen_tls" check:"addr" doc:"Listen address for client connections with direct TLS (XEP-0368)."`
	MaxStanzaBytes     int           `key:"max_stanza_bytes" kind:"size" doc:"Largest stanza a client may send, in bytes (suffixes KiB, MiB accepted). A larger one ends the stream with policy-violation."`
	SASLPlus           bool          `key:"sasl_plus" doc:"Offer the SCRAM -PLUS mechanisms with tls-exporter channel binding (XEP-0440). Off by default because slixmpp 1.8 (Debian) always tries tls-unique when PLUS is offered and then cannot log in at all."`
	OfflineMax         int           `key:"offline_max" doc:"Most messages kept for one offline user (XEP-0160); further messages are bounced with an error."`
	OfflineBytes       int           `key:"offline_bytes" kind:"size" check:"nonneg" doc:"Most bytes of messages kept for one offline user; further messages are bounced with resource-constraint. 0 switches the cap off."`
	OfflineSenderShare int           `key:"offline_sender_percent" check:"nonneg" doc:"Share, in percent, of one user's offline storage (of offline_max and offline_bytes) that messages from one sender may take, so that nobody can fill another user's queue. Senders are counted under a salted hash, never by address. 0 or 100 switches it off."`
	RosterMax          int           `key:"roster_max" check:"nonneg" doc:"Most contacts in one roster, counting pending subscription requests. A roster set beyond it gets policy-violation; further subscription requests to a full roster are dropped. 0 switches the cap off."`
	VCardBytes         int           `key:"vcard_bytes" kind:"size" check:"nonneg" doc:"Largest vCard (XEP-0054) one account may store; a larger one is refused with not-acceptable. Avatars belong in PEP (XEP-0084). 0 means the default."`
	PrivateBytes       int           `key:"private_bytes" kind:"size" check:"nonneg" doc:"Most bytes one account may keep in private XML storage (XEP-0049, e.g. old-style bookmarks), over all its fragments. A store beyond it gets policy-violation. 0 switches the cap off."`
	PEPItems           int           `key:"pep_items" check:"nonneg" doc:"Most items one account may keep in personal eventing (XEP-0163 PEP: OMEMO keys, avatar, nickname, bookmarks), over all its nodes. A publish beyond it gets policy-violation. 0 switches the cap off."`
	PEPBytes           int           `key:"pep_bytes" kind:"size" check:"nonneg" doc:"Most bytes of items (ids and payloads) one account may keep in personal eventing (XEP-0163), over all its nodes. A publish beyond it gets policy-violation. 0 switches the cap off."`
	PEPItemBytes       int           `key:"pep_item_bytes" kind:"size" check:"nonneg" doc:"Largest payload of one personal eventing item (an avatar, say); a larger one is refused with not-acceptable (payload-too-big). 0 means the default."`
	IdleTimeout        time.Duration `key:"idle_timeout" doc:"A session that sends nothing for this long is probed with a ping (XEP-0199) and closed when it does not answer."`
	NegotiationTimeout time.Duration `key:"negotiation_timeout" doc:"Time a new connection has to finish TLS, authentication and resource binding."`
	ConnPerSecond      int           `key:"conn_per_second" doc:"New client connections accepted per second from one anonymised network (IPv4 /24, IPv6 /48), kept in memory only. Raise it for load tests from one address."`
	ConnBurst          int           `key:"conn_burst" doc:"Burst of new client connections allowed from one anonymised network before conn_per_second applies."`
	AuthBurst          int           `key:"auth_burst" doc:"Login attempts (SASL exchanges) one anonymised network may have under way or failed, refilled over a minute; further attempts get temporary-auth-failure before the password is checked. Successful logins hand their slot back. Raise it for many users behind one NAT or for load tests from one address; the per-account limit (accounts.login_failures) applies besides."`
	QueueBytes         int           `key:"queue_bytes" kind:"size" doc:"Most bytes (estimated as encoded) waiting to be sent to one client session. A client that does not read fast enough to stay below it has its stream ended with policy-violation; the messages it had not received wait in offline storage."`
	MaxConnections     int           `key:"max_connections" doc:"Most client connections open at once, both listeners together. Further connections are closed at once and counted in a warning in the log (at most one every 10 s, without addresses)."`
	FastTokenTTL       time.Duration `key:"fast_token_ttl" doc:"Lifetime of a FAST login token (XEP-0484) that a client gets after a password login over SASL2; a token used after half of it is replaced by a new one. Tokens are stored hashed, per device, and revoked by a password change."`
	FastMaxTokens      int           `key:"fast_max_tokens" doc:"Most devices of one account that hold FAST login tokens; a new device's token replaces the oldest."`
	ResumeTimeout      time.Duration `key:"resume_timeout" doc:"How long a session with stream management (XEP-0198) survives a lost connection: a client that reconnects within this time resumes it and gets every message it missed, in order; after it, the messages wait in offline storage. Meanwhile the session stays online to its contacts."`
	ResumeLocation     string        `key:"resume_location" doc:"Optional host:port that clients should reconnect to when they resume a session (the location attribute of XEP-0198's enabled element), for a server reachable under several addresses. Empty: clients reconnect as usual."`
	MaxUnauthenticated int           `key:"max_unauthenticated" doc:"Most client connections open at once that have not authenticated yet (TLS, SASL or in-band registration in progress), part of max_connections. A connection leaves this count when it authenticates or closes."`
}

// S2S configures server-to-server XMPP (federation, RFC 6120): TLS-only
// in both directions, peers authenticated by certificate.
type S2S struct {
	Enabled          bool          `key:"enabled" doc:"Talk to other XMPP servers (federation). Off: addresses on other domains get remote-server-not-found and the s2s ports stay closed."`
	Listen           string        `key:"listen" check:"addr" doc:"Listen address for other servers with STARTTLS (RFC 6120 §5). TLS is required before anything else."`
	ListenTLS        string        `key:"listen_tls" check:"addr" doc:"Listen address for other servers with direct TLS (XEP-0368, SRV _xmpps-server._tcp). The peer must offer the xmpp-server ALPN protocol."`
	SecureAuth       bool          `key:"secure_auth" doc:"Require a valid certificate from every peer (SASL EXTERNAL, XEP-0178, names checked per RFC 6125). Off also allows server dialback (XEP-0220), over TLS only, as a fallback for peers with invalid certificates."`
	CARoots          string        `key:"ca_roots" doc:"PEM file of further trust roots for peers' certificates, beside the system's (private deployments). Empty: system roots only."`
	Hosts            []string      `key:"hosts" doc:"Fixed addresses for domains, overriding DNS, as domain=host:port (tls:host:port for direct TLS): several servers on one machine, tests, private deployments."`
	IdleTimeout      time.Duration `key:"idle_timeout" doc:"A link to another server without traffic for this long is closed; it is opened again when needed."`
	ConnectTimeout   time.Duration `key:"connect_timeout" doc:"How long stanzas wait for a link to another server; after it they are bounced to their sender with remote-server-timeout."`
	QueueBytes       int           `key:"queue_bytes" kind:"size" doc:"Most bytes (estimated as encoded) waiting for one remote domain; a stanza beyond it is bounced with resource-constraint."`
	MaxConnections   int           `key:"max_connections" doc:"Most inbound connections from other servers open at once."`
	StanzasPerSecond int           `key:"stanzas_per_second" doc:"Inbound stanzas per second from one remote domain, kept in memory only; a faster peer is slowed down (its stream is read later)."`
	StanzaBurst      int           `key:"stanza_burst" doc:"Burst of inbound stanzas from one remote domain before stanzas_per_second applies."`
	ConnPerMinute    int           `key:"conn_per_minute" doc:"New inbound streams per minute from one remote domain; further ones are refused with policy-violation."`
	BlockDomains     []string      `key:"block_domains" check:"domain" doc:"Domains (with their subdomains) refused in both directions; their subscription requests never reach users."`
	BlockDomainsFile string        `key:"block_domains_file" doc:"File with further blocked domains, one per line (# starts a comment), read again on SIGHUP."`
}

// Web configures the HTTPS website and account pages.
type Web struct {
	ListenHTTPS string   `key:"listen_https" check:"addr" doc:"Listen address for HTTPS (website, account pages, uploads, TLS-ALPN-01 challenges)."`
	ListenHTTP  string   `key:"listen_http" check:"addr" doc:"Listen address for plain HTTP. It only answers ACME HTTP-01 challenges and redirects everything else to HTTPS."`
	Hosts       []string `key:"hosts" check:"domain" def:"[domain]" doc:"Host names the website answers to. Each gets a certificate."`
	ContentDir  string   `key:"content_dir" doc:"Optional directory with Markdown files that override the built-in pages (for example imprint.md). Empty: built-in pages only."`
	WebSocket   bool     `key:"websocket" doc:"Serve XMPP over WebSocket (RFC 7395) at wss://<first web host>/xmpp-websocket, announced in /.well-known/host-meta (XEP-0156) for browser clients."`
	WSOrigins   []string `key:"websocket_origins" def:"[*]" doc:"Origins (host patterns such as chat.example.org or *.example.org) whose pages may open the WebSocket. * allows any: XMPP authenticates itself and the site sets no cookies."`

	HeaderTimeout    time.Duration `key:"header_timeout" doc:"Time a web client has for the TLS handshake and the request header."`
	BodyTimeout      time.Duration `key:"body_timeout" doc:"Time a request body (a form) has to arrive in full, however steadily it trickles. Uploads are exempt: they run as long as bytes keep arriving (upload.idle_timeout)."`
	WriteTimeout     time.Duration `key:"write_timeout" doc:"A response the client stops reading for this long is ended. A download or export that keeps going out may take as long as it needs."`
	MaxConnections   int           `key:"max_connections" doc:"Most web connections open at once, both listeners together. Further connections are closed as soon as they are accepted."`
	PerIPConnections int           `key:"max_connections_per_ip" doc:"Most web connections open at once from one client address (held in memory only while they are open, never logged)."`
}

// Contact holds the operator's public contact addresses (XEP-0157).
type Contact struct {
	Admin []string `key:"admin" check:"uri" doc:"Addresses of the operator, as URIs (mailto:admin@example.org, xmpp:admin@example.org). Shown on the website and announced through XEP-0157."`
	Abuse []string `key:"abuse" check:"uri" doc:"Addresses for abuse reports, as URIs. Shown on the website and announced through XEP-0157."`
}

// TLS selects where certificates come from.
type TLS struct {
	CertFile      string   `key:"cert_file" doc:"PEM certificate chain provided by the operator. Setting tls.cert_file and tls.key_file switches ACME off."`
	KeyFile       string   `key:"key_file" doc:"PEM private key for tls.cert_file."`
	ACME          bool     `key:"acme" def:"true (false with --dev or tls.cert_file)" doc:"Obtain and renew certificates automatically with ACME for the domain and every web host."`
	ACMEDirectory string   `key:"acme_directory" check:"url" doc:"ACME directory URL of the certificate authority."`
	ACMEEmail     string   `key:"acme_email" doc:"Contact email given to the certificate authority. Optional."`
	ACMECARoots   string   `key:"acme_ca_roots" doc:"PEM file of roots trusted for the ACME server's own HTTPS (a private CA or tests). Empty: the system roots."`
	ACMEChallenge []string `key:"acme_challenges" enum:"http-01|tls-alpn-01" doc:"ACME challenge types to use. HTTP-01 is answered on web.listen_http, TLS-ALPN-01 on web.listen_https; the CA must reach the chosen one on port 80 or 443."`
}

// Upload configures HTTP File Upload (XEP-0363).
type Upload struct {
	MaxFileSize int `key:"max_file_size" kind:"size" doc:"Largest file a client may upload, in bytes (suffixes KiB, MiB, GiB accepted). Announced to clients in disco#info."`
	Quota       int `key:"quota" kind:"size" doc:"Most bytes one account may hold in uploads at a time; uploads are deleted after retention.uploads."`

	MaxPerDay   int           `key:"max_per_day" check:"nonneg" doc:"Most upload slots one account may request per UTC day, empty files included. Further requests get resource-constraint with the time to retry (XEP-0363). 0 switches the cap off."`
	IdleTimeout time.Duration `key:"idle_timeout" doc:"An upload whose data stops arriving for this long is cut off. An upload that keeps making progress may take as long as it needs."`
}

// Retention holds the deletion periods promised by the privacy policy.
type Retention struct {
	Uploads        time.Duration `key:"uploads" doc:"Uploaded files (XEP-0363) are deleted this long after upload."`
	WebErrors      time.Duration `key:"web_errors" doc:"Web error log files are deleted this long after their last line."`
	ConnectionLogs time.Duration `key:"connection_logs" doc:"Connection log files (login, logout, failed login with anonymised IP) are deleted this long after their last line."`
	Offline        time.Duration `key:"offline" doc:"Offline messages not picked up within this period are deleted (the sender gets an error where possible)."`
	MaintenanceMax time.Duration `key:"maintenance_max" doc:"Longest window of 'chatbx maintenance on', during which connection logs carry full IP addresses."`
	Backups        time.Duration `key:"backups" check:"nonneg" def:"0 (no backups named)" doc:"How long the operator keeps backups ('chatbx backup'), named on the privacy page: deleted data stays in a backup until it expires, and comes back with a restore. 0 means the page names no backups."`
	Sweep          time.Duration `key:"sweep" doc:"How often expired invites and leftovers of interrupted account deletions are swept, and how often the database's free pages are overwritten so that deleted data is unreadable in the file."`
}

// Push configures push notifications to phones (XEP-0357).
type Push struct {
	IncludeSender    bool          `key:"include_sender" doc:"Put the sender's address (last-message-sender) into push notifications. Off: the app's push service (usually run by the app's vendor, and relayed through Google or Apple) learns only that messages wait, not from whom. The privacy page says which is on."`
	IncludeBody      bool          `key:"include_body" doc:"Put the text of the newest message (last-message-body) into push notifications. Off: the app's push service never sees message text. The privacy page says which is on."`
	MaxRegistrations int           `key:"max_registrations" check:"nonneg" doc:"Most push registrations (devices times app servers) one account may keep; a further one is refused with policy-violation. 0 switches the cap off."`
	MaxErrors        int           `key:"max_errors" doc:"A registration whose app server answers this many notifications in a row with an error or not at all (push.timeout) is removed."`
	MinInterval      time.Duration `key:"min_interval" doc:"Least time between two notifications for one registration; messages arriving in between are counted in one notification at its end."`
	Timeout          time.Duration `key:"timeout" doc:"Time an app server has to answer a notification before it counts as an error."`
}

// ExtDisco lists STUN and TURN servers for calls (XEP-0215).
type ExtDisco struct {
	Services []string      `key:"services" check:"extdisco" doc:"STUN and TURN servers announced to clients for audio and video calls, as URIs: stun:host[:port], stuns:..., turn:host[:port]?transport=udp|tcp, turns:.... Empty: the service is not offered."`
	Secret   string        `key:"turn_secret" secret:"true" doc:"Shared secret of the TURN server's REST API (coturn: static-auth-secret). With it, every request gets fresh credentials for the turn: and turns: entries, valid for extdisco.credential_ttl; nothing is stored. Empty: TURN entries are listed without credentials."`
	TTL      time.Duration `key:"credential_ttl" doc:"How long generated TURN credentials stay valid. A call that lasts longer may lose its relay when the credentials expire."`
}

// Log configures logging.
type Log struct {
	Stderr bool   `key:"stderr" def:"false (true with --dev)" doc:"Also write log lines to standard error. Retention cannot delete lines that a journal or container runtime keeps, so 'chatbx check' warns when this is on outside --dev."`
	Level  string `key:"level" enum:"debug|info|warn|error" doc:"Least severe level written: debug, info, warn or error. No level ever logs message bodies, contacts, resources or full IP addresses."`
}

// Archive configures the message archive (XEP-0313).
type Archive struct {
	Default  string        `key:"default" enum:"never|roster|always" doc:"Archive preference of new accounts: never, roster or always. The privacy policy promises never: users switch it on themselves."`
	MaxAge   time.Duration `key:"max_age" check:"nonneg" doc:"Archived messages older than this are deleted. 0 keeps them until the user purges the archive."`
	MaxBytes int           `key:"max_bytes" kind:"size" check:"nonneg" doc:"Most bytes one account's message archive may take. When a new message does not fit, the oldest messages are deleted to make room: the archive keeps the newest history. 0 switches the cap off."`
}

// Metrics configures the Prometheus metrics listener (internal/metrics).
type Metrics struct {
	Listen string `key:"listen" check:"optaddr" doc:"Listen address of the metrics endpoint (Prometheus text format at /metrics: sessions by transport, logins, routed stanzas, queue drops, offline queue size, upload bytes, retention runs, certificate expiry, Go runtime). Empty switches it off. No metric carries a user, an address or a domain of a user, but the numbers show how busy the server is: keep it on a loopback address (chatbx check warns otherwise) or behind a firewall."`
}

// Accounts configures how accounts are created.
type Accounts struct {
	Registration    string        `key:"registration" enum:"closed|invite|open" doc:"Who may create accounts: closed (only 'chatbx user add' and the web page of an invite from 'chatbx invite create'), invite (also in-band registration with an invite token, XEP-0401), open (in-band registration for anyone, throttled per IP)."`
	LoginFailures   int           `key:"login_failures" doc:"Failed password checks for one account from one anonymised network (IPv4 /24, IPv6 /48) before each further attempt must wait (2 s, doubling up to accounts.login_max_backoff) and is answered with temporary-auth-failure (HTTP 429 on the account pages) without the password being checked. Shared by XMPP login and the account pages, kept in memory only under a keyed hash (no usernames, no addresses); unknown usernames are treated alike."`
	LoginMaxBackoff time.Duration `key:"login_max_backoff" doc:"Longest wait imposed between password attempts for one account. Failures are forgotten over time and the owner's right password succeeds once a wait is over: no account is ever locked."`
	UserInvites     int           `key:"user_invites" check:"nonneg" doc:"Invitations each user may create per week on the account pages (/account/invites), each good for one registration within 7 days, with the same invite page and QR code as 'chatbx invite create'; 0 switches user invites off. The quota is counted in the store transaction that creates the invite; a user's invites are exported with the account and deleted with it."`
}

// MUC configures group chat (XEP-0045, package server/muc).
type MUC struct {
	Enabled         bool          `key:"enabled" doc:"Serve group chats (XEP-0045) at muc.domain. The domain needs a DNS record pointing at this server and is added to the certificate."`
	Domain          string        `key:"domain" check:"domain" def:"conference.<domain>" doc:"Domain of the group chat service; rooms are room@<this domain>. Listed in the server's disco#items."`
	Create          string        `key:"create" enum:"users|admins" doc:"Who may create rooms: users (every account of this server) or admins (only the addresses in muc.admins)."`
	Admins          []string      `key:"admins" doc:"Bare JIDs (alice@example.org) that may create rooms when muc.create = admins and that are owners of every room."`
	MaxRoomsPerUser int           `key:"max_rooms_per_user" doc:"Most rooms one account may own. Creating one more is refused with resource-constraint."`
	MaxOccupants    int           `key:"max_occupants" doc:"Most occupants of one room (an owner may set a lower maximum). A join beyond it is refused with service-unavailable."`
	HistoryMax      int           `key:"history_max" doc:"Most messages one room keeps for the join history. The history is held in memory only and lost on restart; an owner may set fewer."`
	HistoryDefault  int           `key:"history_default" check:"nonneg" doc:"Messages in the join history of a new room (at most muc.history_max). 0: new rooms keep no history."`
	MessageRate     int           `key:"message_rate" doc:"Messages per second one occupant may send on average (groupchat, private messages, invitations); faster ones are refused with resource-constraint."`
	MessageBurst    int           `key:"message_burst" doc:"Messages one occupant may send at once before muc.message_rate applies."`
	ArchiveMaxAge   time.Duration `key:"archive_max_age" doc:"Messages of rooms whose owner switched on archiving (muc#roomconfig_enablearchiving, off by default) are deleted after this long. Rooms without archiving keep no message on disk."`
	ArchiveBytes    int           `key:"archive_bytes" kind:"size" doc:"Most bytes one room's archive may take; the oldest messages are deleted to make room."`
	StateBytes      int           `key:"state_bytes" kind:"size" doc:"Most bytes of stored state (configuration, affiliations, registered nicks, subject) of one persistent room; a change beyond it is refused with resource-constraint."`
	MaxAffiliations int           `key:"max_affiliations" doc:"Most affiliations (owners, admins, members, banned addresses) of one room."`
}

// StoreLimits maps the per-user storage caps to the store's Limits; a 0
// in the configuration switches a cap off.
func (c *Config) StoreLimits() store.Limits {
	off := func(v int) int64 {
		if v == 0 {
			return -1
		}
		return int64(v)
	}
	return store.Limits{
		OfflineBytes:         off(c.C2S.OfflineBytes),
		OfflineSenderPercent: int(off(c.C2S.OfflineSenderShare)),
		ArchiveBytes:         off(c.Archive.MaxBytes),
		RosterItems:          int(off(c.C2S.RosterMax)),
		PrivateBytes:         off(c.C2S.PrivateBytes),
	}
}

// Defaults that belong to no part: the data directory and the --dev values.
const (
	defaultDataDir = "/var/lib/chatbx"
	devDataDir     = "./chatbx-data"
	devDomain      = "localhost"
	day            = 24 * time.Hour
)

// DefaultConfig returns the production defaults.
// Domain is empty and must be set; derived values (web.hosts, service_name)
// are filled in by Load.
//
// A key that configures a part takes its default from that part's
// DefaultConfig (or store.DefaultLimits), so every default is written once;
// only what belongs to no part (the data directory, the web listeners, the
// log level) is written here.
func DefaultConfig() Config {
	c2sDef := c2s.DefaultConfig()
	wsDef := ws.DefaultConfig()
	webDef := web.DefaultConfig()
	tlsDef := certs.DefaultConfig()
	uploadDef := upload.DefaultConfig("")
	retDef := retention.DefaultConfig()
	mamDef := mam.DefaultConfig()
	regDef := register.DefaultConfig("")
	guardDef := guard.DefaultConfig()
	pushDef := push.DefaultConfig()
	limits := store.DefaultLimits()
	mucDef := muc.DefaultConfig()
	s2sDef := s2s.DefaultConfig()
	return Config{
		MUC: MUC{
			Enabled:         true,
			Create:          mucDef.Create,
			MaxRoomsPerUser: mucDef.MaxRoomsPerUser,
			MaxOccupants:    mucDef.MaxOccupants,
			HistoryMax:      mucDef.MaxHistory,
			HistoryDefault:  mucDef.HistoryDefault,
			MessageRate:     int(mucDef.MessageRate),
			MessageBurst:    mucDef.MessageBurst,
			ArchiveMaxAge:   mucDef.ArchiveMaxAge,
			ArchiveBytes:    int(mucDef.ArchiveBytes),
			StateBytes:      mucDef.StateBytes,
			MaxAffiliations: mucDef.MaxAffiliations,
		},
		S2S: S2S{
			Enabled:          true,
			Listen:           s2sDef.Listen,
			ListenTLS:        s2sDef.ListenTLS,
			SecureAuth:       s2sDef.SecureAuth,
			IdleTimeout:      s2sDef.IdleTimeout,
			ConnectTimeout:   s2sDef.ConnectTimeout,
			QueueBytes:       s2sDef.QueueBytes,
			MaxConnections:   s2sDef.MaxConnections,
			StanzasPerSecond: int(s2sDef.StanzasPerSecond),
			StanzaBurst:      s2sDef.StanzaBurst,
			ConnPerMinute:    s2sDef.ConnPerMinute,
		},
		DataDir: defaultDataDir,
		C2S: C2S{
			Listen:             c2sDef.Listen,
			ListenTLS:          c2sDef.ListenTLS,
			MaxStanzaBytes:     c2sDef.MaxStanzaBytes,
			OfflineMax:         c2sDef.OfflineMax,
			OfflineBytes:       int(limits.OfflineBytes),
			OfflineSenderShare: limits.OfflineSenderPercent,
			RosterMax:          limits.RosterItems,
			PrivateBytes:       int(limits.PrivateBytes),
			VCardBytes:         vcard.DefaultConfig().MaxBytes,
			PEPItems:           pep.DefaultConfig().MaxItems,
			PEPBytes:           int(pep.DefaultConfig().MaxBytes),
			PEPItemBytes:       pep.DefaultConfig().MaxItemBytes,
			IdleTimeout:        c2sDef.IdleTimeout,
			NegotiationTimeout: c2sDef.NegotiationTimeout,
			ConnPerSecond:      int(c2sDef.ConnPerSecond),
			ConnBurst:          c2sDef.ConnBurst,
			AuthBurst:          c2sDef.AuthFailBurst,
			QueueBytes:         c2sDef.QueueBytes,
			MaxConnections:     c2sDef.MaxConnections,
			MaxUnauthenticated: c2sDef.MaxUnauthenticated,
			FastTokenTTL:       c2sDef.FastTokenTTL,
			FastMaxTokens:      c2sDef.FastMaxTokens,
			ResumeTimeout:      c2sDef.ResumeTimeout,
		},
		Web: Web{
			ListenHTTPS:      ":443",
			ListenHTTP:       ":80",
			WebSocket:        true,
			WSOrigins:        wsOrigins(wsDef.Origins),
			HeaderTimeout:    webDef.HeaderTimeout,
			BodyTimeout:      webDef.BodyTimeout,
			WriteTimeout:     webDef.WriteTimeout,
			MaxConnections:   webDef.MaxConnections,
			PerIPConnections: webDef.PerIPConnections,
		},
		TLS: TLS{
			ACME:          tlsDef.ACME,
			ACMEDirectory: tlsDef.Directory,
			ACMEChallenge: tlsDef.Challenges,
		},
		Upload: Upload{
			MaxFileSize: int(uploadDef.MaxFileSize),
			Quota:       int(uploadDef.Quota),
			MaxPerDay:   uploadDef.MaxPerDay,
			IdleTimeout: time.Minute, // web/upload's default for a zero IdleTimeout
		},
		Retention: Retention{
			Uploads:        retDef.Uploads,
			WebErrors:      retDef.WebErrors,
			ConnectionLogs: retDef.ConnectionLogs,
			Offline:        retDef.Offline,
			MaintenanceMax: retDef.MaintenanceMax,
			Sweep:          retDef.Sweep,
		},
		Log:     Log{Level: "info"},
		Archive: Archive{Default: mamDef.Default, MaxBytes: int(limits.ArchiveBytes)},
		Accounts: Accounts{
			Registration:    regDef.Registration,
			LoginFailures:   guardDef.NetworkFree,
			LoginMaxBackoff: guardDef.MaxBackoff,
			UserInvites:     accounts.DefaultConfig("").UserInvites,
		},
		Metrics: Metrics{Listen: metrics.DefaultConfig().Listen},
		Push: Push{
			MaxRegistrations: pushDef.MaxRegistrations,
			MaxErrors:        pushDef.MaxErrors,
			MinInterval:      pushDef.MinInterval,
			Timeout:          pushDef.Timeout,
		},
		ExtDisco: ExtDisco{TTL: extdisco.DefaultConfig().TTL},
	}
}

// wsOrigins is web.websocket_origins for the WebSocket package's Origins:
// empty there means any origin, which the key spells "*".
func wsOrigins(o []string) []string {
	if len(o) == 0 {
		return []string{"*"}
	}
	return o
}

// DevConfig returns the defaults of `chatbx serve --dev`: domain localhost,
// ./chatbx-data, loopback listeners on unprivileged ports, no ACME
// (a self-signed certificate instead) and logs on standard error.
func DevConfig() Config {
	c := DefaultConfig()
	c.dev = true
	c.Domain = devDomain
	c.DataDir = devDataDir
	c.C2S.Listen = "127.0.0.1:5222"
	c.C2S.ListenTLS = "127.0.0.1:5223"
	c.S2S.Listen = "127.0.0.1:5269"
	c.S2S.ListenTLS = "127.0.0.1:5270"
	c.Web.ListenHTTPS = "127.0.0.1:8443"
	c.Web.ListenHTTP = "127.0.0.1:8080"
	c.TLS.ACME = false
	c.Log.Stderr = true
	return c
}

// Kind is the value type of a configuration key.
type Kind int

const (
	KindString Kind = iota
	KindList
	KindInt
	KindSize
	KindBool
	KindDuration
)

func (k Kind) String() string {
	return [...]string{"string", "list of strings", "integer", "size", "bool", "duration"}[k]
}

// Key describes one configuration key.
type Key struct {
	Name       string // TOML name with section: "c2s.listen_tls"
	Kind       Kind
	Doc        string
	DefaultDoc string   // shown instead of the default value when it is derived
	Enum       []string // allowed values (each element for lists)
	Check      string   // extra check: addr, domain, uri, url, nonempty, nonneg
	Secret     bool     // Format shows whether it is set, never the value
	index      []int    // field index path in Config
}

// Flag returns the flag name without dashes: "c2s-listen-tls".
func (k Key) Flag() string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(k.Name)
}

// Env returns the environment variable: "CHATBX_C2S_LISTEN_TLS".
func (k Key) Env() string {
	return "CHATBX_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(k.Name))
}

func (k Key) field(c *Config) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(k.index)
}

// configKeys is the key table, in declaration order.
// It is computed once from the struct tags of Config and never modified.
var configKeys = mustConfigKeys()

// envConfigFile names the TOML file when --config is not given.
// It is not a key (the file cannot name itself).
const envConfigFile = "CHATBX_CONFIG"

// envNotKeys are CHATBX_* variables that are not configuration keys and
// therefore not errors: the config file, and the password `chatbx bench` reads.
var envNotKeys = []string{envConfigFile, "CHATBX_BENCH_PASSWORD"}

var (
	durationType = reflect.TypeFor[time.Duration]()
	stringsType  = reflect.TypeFor[[]string]()
)

// Keys returns the key table, in declaration order.
func Keys() []Key { return slices.Clone(configKeys) }

func mustConfigKeys() []Key {
	var keys []Key
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, ok := f.Tag.Lookup("key")
			if !ok {
				continue
			}
			idx := append(slices.Clone(index), i)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, prefix+name+".", idx)
				continue
			}
			k := Key{
				Name:       prefix + name,
				Doc:        f.Tag.Get("doc"),
				DefaultDoc: f.Tag.Get("def"),
				Check:      f.Tag.Get("check"),
				Secret:     f.Tag.Get("secret") == "true",
				index:      idx,
			}
			if e := f.Tag.Get("enum"); e != "" {
				k.Enum = strings.Split(e, "|")
			}
			switch {
			case f.Type == durationType:
				k.Kind = KindDuration
			case f.Type == stringsType:
				k.Kind = KindList
			case f.Type.Kind() == reflect.String:
				k.Kind = KindString
			case f.Type.Kind() == reflect.Bool:
				k.Kind = KindBool
			case f.Type.Kind() == reflect.Int && f.Tag.Get("kind") == "size":
				k.Kind = KindSize
			case f.Type.Kind() == reflect.Int:
				k.Kind = KindInt
			default:
				panic("config: unsupported type for key " + k.Name)
			}
			if k.Doc == "" {
				panic("config: key without doc: " + k.Name)
			}
			keys = append(keys, k)
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return keys
}

func lookupKey(name string) (Key, bool) {
	for _, k := range configKeys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

func LookupFlag(flag string) (Key, bool) {
	for _, k := range configKeys {
		if k.Flag() == flag {
			return k, true
		}
	}
	return Key{}, false
}

func lookupEnv(env string) (Key, bool) {
	for _, k := range configKeys {
		if k.Env() == env {
			return k, true
		}
	}
	return Key{}, false
}

// isSection reports whether name is a section such as "c2s".
func isSection(name string) bool {
	for _, k := range configKeys {
		if strings.HasPrefix(k.Name, name+".") {
			return true
		}
	}
	return false
}

// parseString converts the text form used by flags and environment variables
// (lists are comma separated) into the key's Go value, and checks it.
func (k Key) parseString(s string) (any, error) {
	var v any
	switch k.Kind {
	case KindString:
		v = strings.TrimSpace(s)
	case KindList:
		v = splitList(s)
	case KindInt:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("invalid integer %q", s)
		}
		v = n
	case KindSize:
		n, err := parseSize(s)
		if err != nil {
			return nil, err
		}
		v = n
	case KindBool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("invalid boolean %q (want true or false)", s)
		}
		v = b
	case KindDuration:
		d, err := ParseDuration(s)
		if err != nil {
			return nil, err
		}
		v = d
	}
	return v, k.check(v)
}

// parseTOML converts a value decoded from TOML into the key's Go value, and checks it.
func (k Key) parseTOML(raw any) (any, error) {
	var v any
	switch k.Kind {
	case KindString:
		s, ok := raw.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %s", tomlType(raw))
		}
		v = s
	case KindList:
		switch x := raw.(type) {
		case string:
			v = splitList(x)
		case []any:
			l := make([]string, 0, len(x))
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("want an array of strings, found %s", tomlType(e))
				}
				l = append(l, strings.TrimSpace(s))
			}
			v = l
		default:
			return nil, fmt.Errorf("want an array of strings, got %s", tomlType(raw))
		}
	case KindInt, KindSize:
		switch x := raw.(type) {
		case int64:
			if x < math.MinInt || x > math.MaxInt {
				return nil, fmt.Errorf("integer %d out of range", x)
			}
			v = int(x)
		case string:
			if k.Kind != KindSize {
				return nil, fmt.Errorf("want an integer, got string %q", x)
			}
			n, err := parseSize(x)
			if err != nil {
				return nil, err
			}
			v = n
		default:
			return nil, fmt.Errorf("want an integer, got %s", tomlType(raw))
		}
	case KindBool:
		b, ok := raw.(bool)
		if !ok {
			return nil, fmt.Errorf("want true or false, got %s", tomlType(raw))
		}
		v = b
	case KindDuration:
		s, ok := raw.(string)
		if !ok {
			return nil, fmt.Errorf("want a duration string such as \"30d\" or \"5m\", got %s", tomlType(raw))
		}
		d, err := ParseDuration(s)
		if err != nil {
			return nil, err
		}
		v = d
	}
	return v, k.check(v)
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case []any, []map[string]any:
		return "array"
	case map[string]any:
		return "table"
	default:
		return fmt.Sprintf("%T", v)
	}
}

func splitList(s string) []string {
	var l []string
	for e := range strings.SplitSeq(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			l = append(l, e)
		}
	}
	return l
}

// check validates a parsed value against the key's rules.
func (k Key) check(v any) error {
	if len(k.Enum) > 0 {
		for _, s := range asStrings(v) {
			if !slices.Contains(k.Enum, s) {
				return fmt.Errorf("invalid value %q (want one of %s)", s, strings.Join(k.Enum, ", "))
			}
		}
	}
	switch x := v.(type) {
	case int:
		if x < 0 && k.Check == "nonneg" {
			return fmt.Errorf("must not be negative, got %d", x)
		}
		if x < 0 || (x == 0 && k.Check != "nonneg") {
			return fmt.Errorf("must be greater than 0, got %d", x)
		}
	case time.Duration:
		if x < 0 || (x == 0 && k.Check != "nonneg") {
			return fmt.Errorf("must be greater than 0, got %s", FormatDuration(x))
		}
	}
	for _, s := range asStrings(v) {
		var err error
		switch k.Check {
		case "addr":
			err = checkListenAddr(s)
		case "domain":
			err = checkDomain(s)
		case "uri":
			err = checkURI(s)
		case "extdisco":
			_, err = extdisco.ParseService(s)
		case "url":
			err = checkURL(s)
		case "optaddr":
			if s != "" {
				err = checkListenAddr(s)
			}
		case "nonempty":
			if s == "" {
				err = errors.New("must not be empty")
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func asStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []string:
		return x
	}
	return nil
}

func checkListenAddr(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("invalid listen address %q (want host:port or :port)", s)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("invalid port in listen address %q", s)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("invalid host in listen address %q", s)
	}
	return nil
}

// checkDomain accepts an empty string (requiredness is checked elsewhere) or
// a lower-case DNS name of letters, digits, hyphens and dots.
func checkDomain(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > 253 {
		return fmt.Errorf("domain %q is too long", s)
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("invalid domain %q", s)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("invalid domain %q (lower-case letters, digits, '-' and '.' only; use the xn-- form for international names)", s)
			}
		}
	}
	return nil
}

func checkURI(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || (u.Opaque == "" && u.Host == "") {
		return fmt.Errorf("invalid contact URI %q (want e.g. mailto:admin@example.org or xmpp:admin@example.org)", s)
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("invalid URL %q (want https://…)", s)
	}
	return nil
}

func (k Key) set(c *Config, v any) {
	k.field(c).Set(reflect.ValueOf(v))
}

// Error names the key, the source and the problem.
type Error struct {
	Key    string // "c2s.idle_timeout"
	Source string // "flag --c2s-idle-timeout", "CHATBX_C2S_IDLE_TIMEOUT", "chatbx.toml"
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("config: %s: %v (from %s)", e.Key, e.Err, e.Source)
}

func (e *Error) Unwrap() error { return e.Err }

// Sources is what Load reads besides the defaults.
type Sources struct {
	Dev     bool              // --dev
	File    string            // --config; empty: CHATBX_CONFIG from Environ, else no file
	Environ []string          // os.Environ()
	Flags   map[string]string // key name → raw flag value
}

// Load builds the configuration: defaults (production or --dev), then the
// TOML file, then CHATBX_* variables, then flags. It fills in derived values
// (web.hosts, service_name, tls.acme with a certificate file) and checks
// every value; it does not check what only serve needs (see Config.Validate).
func Load(src Sources) (Config, error) {
	c := DefaultConfig()
	if src.Dev {
		c = DevConfig()
	}
	c.source = make(map[string]string, len(configKeys))
	for _, k := range configKeys {
		c.source[k.Name] = "default"
	}
	env := make(map[string]string)
	for _, kv := range src.Environ {
		name, value, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(name, "CHATBX_") {
			env[name] = value
		}
	}
	file := src.File
	if file == "" {
		file = env[envConfigFile]
	}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		if err := c.decodeTOML(data, file); err != nil {
			return Config{}, err
		}
		c.file = file
	}
	// Environment: sorted for a deterministic first error.
	names := make([]string, 0, len(env))
	for name := range env {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if slices.Contains(envNotKeys, name) {
			continue
		}
		k, ok := lookupEnv(name)
		if !ok {
			return Config{}, fmt.Errorf("config: unknown environment variable %s (no such key)", name)
		}
		v, err := k.parseString(env[name])
		if err != nil {
			return Config{}, &Error{Key: k.Name, Source: "environment variable " + name, Err: err}
		}
		k.set(&c, v)
		c.source[k.Name] = "env"
	}
	for _, k := range configKeys {
		raw, ok := src.Flags[k.Name]
		if !ok {
			continue
		}
		v, err := k.parseString(raw)
		if err != nil {
			return Config{}, &Error{Key: k.Name, Source: "flag --" + k.Flag(), Err: err}
		}
		k.set(&c, v)
		c.source[k.Name] = "flag"
	}
	if err := c.derive(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// decodeTOML applies a TOML document. Unknown keys and values of the wrong
// type are errors that name the key.
func (c *Config) decodeTOML(data []byte, name string) error {
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return fmt.Errorf("config: %s: %w", name, err)
	}
	return c.applyTable(doc, "", name)
}

func (c *Config) applyTable(table map[string]any, prefix, file string) error {
	names := make([]string, 0, len(table))
	for n := range table {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		full := prefix + n
		raw := table[n]
		if k, ok := lookupKey(full); ok {
			v, err := k.parseTOML(raw)
			if err != nil {
				return &Error{Key: full, Source: file, Err: err}
			}
			k.set(c, v)
			c.source[full] = "file"
			continue
		}
		if sub, ok := raw.(map[string]any); ok && isSection(full) {
			if err := c.applyTable(sub, full+".", file); err != nil {
				return err
			}
			continue
		}
		if isSection(full) {
			return &Error{Key: full, Source: file, Err: errors.New("is a section: write [" + full + "]")}
		}
		return &Error{Key: displayKey(full), Source: file, Err: errors.New("unknown key")}
	}
	return nil
}

// displayKey quotes a key name from a file that is empty or holds
// characters no key has, so the error message shows it unambiguously.
func displayKey(name string) string {
	if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789_.-") != "" {
		return strconv.Quote(name)
	}
	return name
}

// derive fills in values that default to other values.
func (c *Config) derive() error {
	c.Domain = strings.TrimSuffix(c.Domain, ".")
	if len(c.Web.Hosts) == 0 && c.Domain != "" {
		c.Web.Hosts = []string{c.Domain}
	}
	if c.ServiceName == "" {
		c.ServiceName = c.Domain
	}
	if c.MUC.Domain == "" && c.Domain != "" {
		c.MUC.Domain = muc.DefaultDomain(c.Domain)
	}
	if c.TLS.CertFile != "" || c.TLS.KeyFile != "" {
		if c.TLS.CertFile == "" || c.TLS.KeyFile == "" {
			return &Error{Key: "tls.cert_file", Source: c.source["tls.cert_file"] + " value",
				Err: errors.New("tls.cert_file and tls.key_file must be set together")}
		}
		if c.TLS.ACME && c.source["tls.acme"] != "default" {
			return &Error{Key: "tls.acme", Source: c.source["tls.acme"] + " value",
				Err: errors.New("tls.acme = true and tls.cert_file exclude each other")}
		}
		// An operator-provided certificate switches ACME off.
		c.TLS.ACME = false
	}
	return nil
}

// Validate checks what serve and check need beyond single values.
func (c *Config) Validate() error {
	if c.Domain == "" {
		return &Error{Key: "domain", Source: "configuration",
			Err: errors.New("required (or run with --dev)")}
	}
	if !c.dev && !c.TLS.ACME && c.TLS.CertFile == "" {
		return &Error{Key: "tls.acme", Source: "configuration",
			Err: errors.New("no certificate source: set tls.acme = true or tls.cert_file and tls.key_file")}
	}
	if c.TLS.ACME && len(c.TLS.ACMEChallenge) == 0 {
		return &Error{Key: "tls.acme_challenges", Source: "configuration",
			Err: errors.New("needs at least one challenge type while tls.acme is on")}
	}
	addrs := map[string]string{}
	for _, name := range []string{"c2s.listen", "c2s.listen_tls", "web.listen_https", "web.listen_http", "s2s.listen", "s2s.listen_tls"} {
		k, _ := lookupKey(name)
		a := k.field(c).String()
		if a == "" || strings.HasPrefix(name, "s2s.") && !c.S2S.Enabled {
			continue
		}
		if other, dup := addrs[a]; dup && !strings.HasSuffix(a, ":0") {
			return &Error{Key: name, Source: "configuration",
				Err: fmt.Errorf("listen address %q is also used by %s", a, other)}
		}
		addrs[a] = name
	}
	return nil
}

// Source reports where a key's value came from: default, file, env or flag.
func (c *Config) Source(key string) string { return c.source[key] }

// Dev reports whether the configuration was loaded with --dev.
func (c *Config) Dev() bool { return c.dev }

// File is the TOML file that was read, or "" when there was none.
func (c *Config) File() string { return c.file }

// Format renders a key's value in TOML syntax.
func (k Key) Format(c *Config) string {
	v := k.field(c).Interface()
	switch x := v.(type) {
	case string:
		if k.Secret && x != "" {
			return "(set, not shown)"
		}
		return strconv.Quote(x)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case time.Duration:
		return strconv.Quote(FormatDuration(x))
	case int:
		if k.Kind == KindSize {
			return formatSize(x)
		}
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}

// ParseDuration parses Go duration syntax ("1h30m", "20s", "500ms") extended
// with days ("30d", "1d12h", "1.5d"). Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("invalid duration %q", orig)
	}
	if s == "0" {
		return 0, nil
	}
	var total time.Duration
	for s != "" {
		// A number: digits with at most one dot.
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration %q", orig)
		}
		num := s[:i]
		s = s[i:]
		j := 0
		for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		unit := s[:j]
		s = s[j:]
		var part time.Duration
		switch unit {
		case "d":
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || strings.Count(num, ".") > 1 || num == "." {
				return 0, fmt.Errorf("invalid duration %q", orig)
			}
			h := f * float64(day)
			if h >= math.MaxInt64 {
				return 0, fmt.Errorf("duration %q is too long", orig)
			}
			part = time.Duration(h)
		case "ns", "us", "µs", "μs", "ms", "s", "m", "h":
			d, err := time.ParseDuration(num + unit)
			if err != nil {
				return 0, fmt.Errorf("invalid duration %q", orig)
			}
			part = d
		case "":
			return 0, fmt.Errorf("invalid duration %q (missing unit: d, h, m, s or ms)", orig)
		default:
			return 0, fmt.Errorf("invalid duration %q (unknown unit %q)", orig, unit)
		}
		if total > math.MaxInt64-part {
			return 0, fmt.Errorf("duration %q is too long", orig)
		}
		total += part
	}
	return total, nil
}

// FormatDuration is the inverse of ParseDuration: "30d", "24h", "5m", "1h30m", "1.5s".
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	var b strings.Builder
	if d < 0 {
		// Not produced by ParseDuration; shown for error messages only.
		return d.String()
	}
	if d >= 2*day && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	if days := d / day; days > 0 && d%time.Hour != 0 {
		fmt.Fprintf(&b, "%dd", days)
		d -= days * day
	}
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
		d -= m * time.Minute
	}
	if d > 0 {
		b.WriteString(d.String())
	}
	return b.String()
}

// parseSize parses a byte count: "262144", "256KiB", "1MiB", "64kB".
func parseSize(s string) (int, error) {
	orig := s
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid size %q", orig)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q", orig)
	}
	mult := map[string]int64{
		"": 1, "B": 1,
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
		"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9,
	}[strings.TrimSpace(s[i:])]
	if mult == 0 {
		return 0, fmt.Errorf("invalid size %q (units: B, KiB, MiB, GiB, kB, MB, GB)", orig)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", orig)
	}
	return int(n * mult), nil
}

// formatSize renders a size in its shortest exact binary unit.
func formatSize(n int) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.Quote(strconv.Itoa(n>>30) + "GiB")
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Quote(strconv.Itoa(n>>20) + "MiB")
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Quote(strconv.Itoa(n>>10) + "KiB")
	}
	return strconv.Itoa(n)
}

// PushConfig maps the push section; a 0 for max_registrations switches
// the cap off (push.Config takes a negative value for that).
func (c *Config) PushConfig() push.Config {
	n := c.Push.MaxRegistrations
	if n == 0 {
		n = -1
	}
	return push.Config{IncludeSender: c.Push.IncludeSender, IncludeBody: c.Push.IncludeBody,
		MaxRegistrations: n, MaxErrors: c.Push.MaxErrors, MinInterval: c.Push.MinInterval, Timeout: c.Push.Timeout}
}

// ExtDiscoConfig maps the extdisco section.
func (c *Config) ExtDiscoConfig() extdisco.Config {
	return extdisco.Config{Services: c.ExtDisco.Services, Secret: c.ExtDisco.Secret, TTL: c.ExtDisco.TTL}
}

// PEPConfig maps the PEP caps; a 0 in the configuration switches a cap
// off (pep.Config takes a negative value for that).
func (c *Config) PEPConfig() pep.Config {
	off := func(v int) int {
		if v == 0 {
			return -1
		}
		return v
	}
	return pep.Config{MaxItems: off(c.C2S.PEPItems), MaxBytes: int64(off(c.C2S.PEPBytes)), MaxItemBytes: c.C2S.PEPItemBytes}
}

// S2SConfig maps the s2s section onto server/s2s's Config, or nil when
// federation is off. s2s.hosts entries are "domain=address".
func (c *Config) S2SConfig() (*s2s.Config, error) {
	if !c.S2S.Enabled {
		return nil, nil
	}
	sc := s2s.DefaultConfig()
	sc.Listen, sc.ListenTLS = c.S2S.Listen, c.S2S.ListenTLS
	sc.SecureAuth = c.S2S.SecureAuth
	sc.CARoots = c.S2S.CARoots
	sc.IdleTimeout, sc.ConnectTimeout = c.S2S.IdleTimeout, c.S2S.ConnectTimeout
	sc.QueueBytes = c.S2S.QueueBytes
	sc.MaxStanzaBytes = c.C2S.MaxStanzaBytes
	sc.MaxConnections = c.S2S.MaxConnections
	sc.StanzasPerSecond = float64(c.S2S.StanzasPerSecond)
	sc.StanzaBurst, sc.ConnPerMinute = c.S2S.StanzaBurst, c.S2S.ConnPerMinute
	sc.BlockDomains, sc.BlockDomainsFile = c.S2S.BlockDomains, c.S2S.BlockDomainsFile
	if len(c.S2S.Hosts) > 0 {
		sc.Hosts = map[string]string{}
		for _, h := range c.S2S.Hosts {
			d, a, ok := strings.Cut(h, "=")
			if !ok || d == "" || a == "" {
				return nil, &Error{Key: "s2s.hosts", Source: "configuration",
					Err: fmt.Errorf("%q is not domain=host:port", h)}
			}
			sc.Hosts[strings.ToLower(strings.TrimSpace(d))] = strings.TrimSpace(a)
		}
	}
	return &sc, nil
}
