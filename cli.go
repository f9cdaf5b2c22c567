package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"chatbx/internal/accounts"
	"chatbx/internal/admin"
	"chatbx/internal/config"
	"chatbx/retention"
)

// Exit codes of the chatbx command.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Config is the whole configuration (package internal/config), as the
// commands and the wiring in main.go receive it.
type Config = config.Config

// day is the unit of the command-line durations (invites, certificate expiry).
const day = 24 * time.Hour

// usageError is a mistake on the command line; it exits with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// cmdEnv is what a command runs against; tests build their own.
type cmdEnv struct {
	ctx            context.Context
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        []string
	// openDirect opens the database for the admin commands while no
	// server runs, and returns their handlers and a close function
	// (openDirectHandlers in main.go).
	openDirect func(ctx context.Context, cfg Config, create bool) (*admin.Handlers, func() error, error)
	// serve runs the server until ctx ends (runServer in main.go).
	serve func(ctx context.Context, cfg Config, stdout, stderr io.Writer) error
}

// run executes one chatbx command line (without the program name) and
// returns the exit status: 0 ok, 1 error, 2 usage.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &cmdEnv{
		ctx:        ctx,
		stdin:      stdin,
		stdout:     stdout,
		stderr:     stderr,
		environ:    os.Environ(),
		openDirect: openDirectHandlers,
		serve:      runServer,
	}
	return e.run(args)
}

const usageText = `chatbx: a privacy-first XMPP server

Usage:
  chatbx serve [--dev] [--config FILE] [--KEY VALUE ...]
  chatbx check [--dev] [--config FILE] [--dns] [--KEY VALUE ...]
  chatbx user add NAME [--allow-reserved]   password: first line of stdin, or prompt
  chatbx user passwd NAME                   password: first line of stdin, or prompt
  chatbx user delete NAME                   the account and everything stored about it
  chatbx user list
  chatbx user export NAME > NAME.zip        everything stored about the account
  chatbx user export --all FILE             every account as one XEP-0227 file (with password verifiers)
  chatbx import [--dry-run] PATH...         accounts from XEP-0227 files or directories (Prosody, ejabberd)
  chatbx user lock|unlock NAME              restriction (GDPR Art. 18): no logins or deliveries, data kept
  chatbx invite create [--uses N] [--expires 7d]  registration link (default 1 use, 7d; at most 30d)
  chatbx invite list                        invites by ID (tokens are not kept)
  chatbx invite delete TOKEN|ID
  chatbx maintenance on --for 2h|off|status full IP addresses in connection logs
  chatbx backup [--uploads] FILE            consistent copy of the database (--uploads: tar with uploads/)
  chatbx restore [--force] BACKUP           put a backup in place (server stopped)
  chatbx status                             certificates, sessions, maintenance, retention runs (running server)
  chatbx bench SCENARIO [flags]             load test a running server (bench --help)
  chatbx version

Every configuration key is also a flag (c2s.listen_tls: --c2s-listen-tls) and an
environment variable (CHATBX_C2S_LISTEN_TLS); flag > environment > file > default.
The user, invite, maintenance and backup commands take --config, --data-dir and --dev like serve:
they talk to the running server through <data_dir>/admin.sock, or open the
database themselves when no server runs. See docs/configuration.md for every key.
`

func (e *cmdEnv) run(args []string) int {
	err := e.dispatch(args)
	var ue *usageError
	var es exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &es):
		return int(es)
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "chatbx: %v\n\n%s", err, usageText)
		return exitUsage
	default:
		fmt.Fprintf(e.stderr, "chatbx: %v\n", err)
		return exitError
	}
}

func (e *cmdEnv) dispatch(args []string) error {
	if len(args) == 0 {
		return usagef("missing command")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return e.cmdServe(rest)
	case "check":
		return e.cmdCheck(rest)
	case "user", "maintenance":
		if cmd == "user" && isExportAll(rest) {
			return e.cmdExportAll(rest[1:])
		}
		return e.cmdAdmin(cmd, rest)
	case "import":
		return e.cmdImport(rest)
	case "restore":
		return e.cmdRestore(rest)
	case "backup":
		return e.runAdmin(adminCommands["backup"], rest)
	case "status":
		return e.runAdmin(adminCommands["status"], rest)
	case "invite":
		return e.cmdInvite(rest)
	case "bench":
		if code := runBench(e.ctx, rest, e.stdout, e.stderr); code != exitOK {
			return exitStatus(code)
		}
		return nil
	case "version", "--version", "-version":
		if len(rest) > 0 {
			return usagef("version takes no arguments")
		}
		fmt.Fprintln(e.stdout, versionString())
		return nil
	case "config":
		// Hidden: `chatbx config docs` prints docs/configuration.md.
		if len(rest) == 1 && rest[0] == "docs" {
			_, err := io.WriteString(e.stdout, config.Docs())
			return err
		}
		return usagef("usage: chatbx config docs")
	case "help", "-h", "--help", "-help":
		fmt.Fprint(e.stdout, usageText)
		return nil
	}
	return usagef("unknown command %q", cmd)
}

// exitStatus is an error that already printed its message: run only
// returns its code.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// parsedArgs is a command line split into configuration flags, the
// command's own options and positional arguments.
type parsedArgs struct {
	keys    map[string]string // configuration key → raw value
	opts    map[string]string // --config, --dev and command options
	pos     []string
	dev     bool
	config  string
	helpReq bool
}

// parseArgs accepts flags anywhere among the positional arguments, as
// --name=value, --name value, or -name; boolean flags take no separate
// value. "--" ends the flags. options maps the command's own option names
// to whether they are boolean; every configuration key is a flag too.
func parseArgs(args []string, options map[string]bool) (parsedArgs, error) {
	p := parsedArgs{keys: map[string]string{}, opts: map[string]string{}}
	common := map[string]bool{"config": false, "dev": true, "help": true, "h": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			p.pos = append(p.pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			p.pos = append(p.pos, a)
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, value, hasValue := strings.Cut(name, "=")
		isBool, isOpt := options[name]
		if !isOpt {
			isBool, isOpt = common[name]
		}
		k, isKey := config.LookupFlag(name)
		if !isOpt && !isKey {
			return p, usagef("unknown flag --%s", name)
		}
		if isKey {
			isBool = k.Kind == config.KindBool
		}
		if !hasValue {
			if isBool {
				value = "true"
			} else {
				if i+1 >= len(args) {
					return p, usagef("flag --%s needs a value", name)
				}
				i++
				value = args[i]
			}
		}
		if isKey {
			p.keys[k.Name] = value
		} else {
			p.opts[name] = value
		}
	}
	var err error
	if v, ok := p.opts["dev"]; ok {
		if p.dev, err = parseBoolOption("dev", v); err != nil {
			return p, err
		}
	}
	for _, h := range []string{"help", "h"} {
		if _, ok := p.opts[h]; ok {
			p.helpReq = true
		}
	}
	p.config = p.opts["config"]
	return p, nil
}

func parseBoolOption(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, usagef("flag --%s: invalid boolean %q", name, v)
}

// loadConfig reads the configuration for a parsed command line.
func (e *cmdEnv) loadConfig(p parsedArgs) (Config, error) {
	return config.Load(config.Sources{Dev: p.dev, File: p.config, Environ: e.environ, Flags: p.keys})
}

func (e *cmdEnv) cmdServe(args []string) error {
	p, err := parseArgs(args, nil)
	if err != nil {
		return err
	}
	if p.helpReq {
		fmt.Fprint(e.stdout, usageText)
		return nil
	}
	if len(p.pos) > 0 {
		return usagef("serve takes no arguments, got %q", p.pos[0])
	}
	cfg, err := e.loadConfig(p)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return e.serve(ctx, cfg, e.stdout, e.stderr)
}

func (e *cmdEnv) cmdCheck(args []string) error {
	p, err := parseArgs(args, map[string]bool{"dns": true})
	if err != nil {
		return err
	}
	if len(p.pos) > 0 {
		return usagef("check takes no arguments, got %q", p.pos[0])
	}
	cfg, err := e.loadConfig(p)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	// The maintenance state comes from the server or the database, when
	// either is there; check works without both.
	var maintUntil time.Time
	if resp, err := e.callOrDirect(cfg, admin.Request{Cmd: "maintenance status"}, false); err == nil {
		if s, ok := strings.CutPrefix(resp.Output, maintenanceOnPrefix); ok {
			s, _, _ = strings.Cut(s, ": ")
			maintUntil, _ = time.Parse(time.RFC3339, s)
		}
	}
	writeCheck(e.stdout, &cfg, maintUntil)
	if err := writeCertCheck(e.stdout, &cfg, time.Now()); err != nil {
		return err
	}
	writeOpsCheck(e.stdout, &cfg)
	// Spam reports live in the running server's memory only.
	if resp, err := admin.Call(e.ctx, admin.SocketPath(cfg.DataDir), admin.Request{Cmd: "spam-reports"}); err == nil && resp.OK {
		fmt.Fprint(e.stdout, resp.Output)
	}
	if v, ok := p.opts["dns"]; ok {
		on, err := parseBoolOption("dns", v)
		if err != nil {
			return err
		}
		if on {
			writeDNSCheck(e.ctx, e.stdout, &cfg, net.DefaultResolver)
			var d net.Dialer
			writeS2SReach(e.ctx, e.stdout, &cfg, net.DefaultResolver, d.DialContext)
		}
	}
	return nil
}

// writeCertCheck reports on the operator's certificate files: the names
// they cover and their expiry. ACME certificates are checked by the server.
func writeCertCheck(w io.Writer, c *Config, now time.Time) error {
	if c.TLS.CertFile == "" {
		return nil
	}
	fmt.Fprintln(w, "\ncertificate")
	pair, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
	if err != nil {
		return fmt.Errorf("tls.cert_file: %w", err)
	}
	leaf := pair.Leaf
	fmt.Fprintf(w, "  %s: %s, valid until %s\n", c.TLS.CertFile, strings.Join(leaf.DNSNames, ", "), leaf.NotAfter.UTC().Format(time.RFC3339))
	for _, name := range certNames(*c) {
		if err := leaf.VerifyHostname(name); err != nil {
			fmt.Fprintf(w, "  - warning: the certificate does not cover %s\n", name)
		}
	}
	if left := leaf.NotAfter.Sub(now); left < 14*day {
		fmt.Fprintf(w, "  - warning: the certificate expires in %s\n", config.FormatDuration(left.Truncate(time.Minute)))
	}
	return nil
}

// resolver is the part of net.Resolver the DNS check uses.
type resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// writeDNSCheck looks up the records README.md asks for: the SRV records
// of the domain and an address for the domain (or SRV target) and every
// web host. It runs only with `check --dns`, as it asks the network.
func writeDNSCheck(ctx context.Context, w io.Writer, c *Config, r resolver) {
	fmt.Fprintln(w, "\nDNS")
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	targets := map[string]bool{}
	services := []struct{ service, port string }{{"xmpp-client", listenPortString(c.C2S.Listen)}, {"xmpps-client", listenPortString(c.C2S.ListenTLS)}}
	if c.S2S.Enabled {
		// Federation (RFC 6120 §3.2, XEP-0368): how other servers find us.
		services = append(services, struct{ service, port string }{"xmpp-server", listenPortString(c.S2S.Listen)},
			struct{ service, port string }{"xmpps-server", listenPortString(c.S2S.ListenTLS)})
	} else {
		fmt.Fprintf(w, "  federation is off (s2s.enabled = false): no _xmpp-server records needed\n")
	}
	for _, s := range services {
		_, srvs, err := r.LookupSRV(ctx, s.service, "tcp", c.Domain)
		if err != nil || len(srvs) == 0 {
			fmt.Fprintf(w, "  _%s._tcp.%s: no SRV record (clients fall back to %s:%s)\n", s.service, c.Domain, c.Domain, defaultPort(s.service))
			continue
		}
		for _, srv := range srvs {
			target := strings.TrimSuffix(srv.Target, ".")
			fmt.Fprintf(w, "  _%s._tcp.%s: %s port %d\n", s.service, c.Domain, target, srv.Port)
			if p := strconv.Itoa(int(srv.Port)); s.port != "" && p != s.port {
				fmt.Fprintf(w, "  - warning: SRV port %s differs from the listener's port %s (fine behind a port forward)\n", p, s.port)
			}
			targets[target] = true
		}
	}
	targets[c.Domain] = true
	for _, h := range c.Web.Hosts {
		targets[h] = true
	}
	if c.MUC.Enabled && c.MUC.Domain != "" {
		targets[c.MUC.Domain] = true // group chats (README: DNS)
	}
	for _, name := range slices.Sorted(maps.Keys(targets)) {
		addrs, err := r.LookupHost(ctx, name)
		if err != nil || len(addrs) == 0 {
			fmt.Fprintf(w, "  - warning: %s has no address record\n", name)
			continue
		}
		fmt.Fprintf(w, "  %s: %s\n", name, strings.Join(addrs, ", "))
	}
}

func listenPortString(addr string) string {
	if p := listenPort(addr); p > 0 {
		return strconv.Itoa(p)
	}
	return ""
}

func defaultPort(service string) string {
	switch service {
	case "xmpp-client":
		return "5222"
	case "xmpps-client":
		return "5223"
	case "xmpps-server":
		return "5270"
	}
	return "5269"
}

// writeS2SReach reports whether this host reaches its own federation
// port the way another server would (the domain's _xmpp-server SRV
// target, else the domain, on 5269): a TCP connection within 5 s.
func writeS2SReach(ctx context.Context, w io.Writer, c *Config, r resolver,
	dial func(ctx context.Context, network, addr string) (net.Conn, error)) {
	if !c.S2S.Enabled {
		return
	}
	host, port := c.Domain, "5269"
	if _, srvs, err := r.LookupSRV(ctx, "xmpp-server", "tcp", c.Domain); err == nil && len(srvs) > 0 {
		host, port = strings.TrimSuffix(srvs[0].Target, "."), strconv.Itoa(int(srvs[0].Port))
	}
	addrs, err := r.LookupHost(ctx, host)
	if err != nil || len(addrs) == 0 {
		fmt.Fprintf(w, "  - warning: federation: %s has no address record\n", host)
		return
	}
	for _, a := range addrs {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := dial(dctx, "tcp", net.JoinHostPort(a, port))
		cancel()
		if err != nil {
			fmt.Fprintf(w, "  - warning: federation port %s not reachable from this host: %v\n", net.JoinHostPort(a, port), err)
			continue
		}
		conn.Close()
		fmt.Fprintf(w, "  federation port %s reachable from this host\n", net.JoinHostPort(a, port))
	}
}

// writeCheck prints the effective configuration with the source of every
// value, the retention periods and log destinations (retention.Check),
// and warnings where the configuration contradicts the privacy policy.
// maintUntil is the end of an open maintenance window, zero when off.
func writeCheck(w io.Writer, c *Config, maintUntil time.Time) {
	fmt.Fprintf(w, "configuration")
	if c.File() != "" {
		fmt.Fprintf(w, " (file %s)", c.File())
	}
	if c.Dev() {
		fmt.Fprintf(w, " (--dev)")
	}
	fmt.Fprintln(w)
	for _, k := range config.Keys() {
		fmt.Fprintf(w, "  %-28s = %-40s # %s\n", k.Name, k.Format(c), c.Source(k.Name))
	}
	fmt.Fprintln(w, "\nretention and logging")
	var warns []string
	for _, l := range retention.Check(retentionConfig(c), retention.CheckInput{
		LogDir:           filepath.Join(c.DataDir, logsDir),
		Stderr:           c.Log.Stderr,
		Dev:              c.Dev(),
		MaintenanceOn:    !maintUntil.IsZero(),
		MaintenanceUntil: maintUntil,
	}) {
		if l.Warn {
			warns = append(warns, l.Text)
			continue
		}
		fmt.Fprintf(w, "  %s\n", l.Text)
	}
	warns = append(warns, checkWarnings(c)...)
	if len(warns) > 0 {
		fmt.Fprintln(w, "\nwarnings")
		for _, s := range warns {
			fmt.Fprintf(w, "  - %s\n", s)
		}
	}
}

// checkWarnings lists settings beyond retention that contradict the
// published privacy promises or leave the site incomplete.
func checkWarnings(c *Config) []string {
	var warns []string
	if c.Archive.Default != "never" {
		warns = append(warns, "archive.default is not never: the privacy policy promises that messages are archived only when the user switches it on")
	}
	if len(c.Contact.Admin) == 0 {
		warns = append(warns, "contact.admin is empty: the website and XEP-0157 name no contact")
	}
	warns = append(warns, metricsWarnings(c)...)
	if c.Accounts.Registration == "open" {
		warns = append(warns, "accounts.registration is open: anyone can create accounts (throttled per IP)")
	}
	if c.Push.IncludeSender || c.Push.IncludeBody {
		warns = append(warns, "push.include_sender or push.include_body is on: push notifications carry who wrote or what to the apps' push services (and on to Google or Apple); the privacy page says so")
	}
	if c.TLS.ACME && c.TLS.ACMEEmail == "" && !c.Dev() {
		warns = append(warns, "tls.acme_email is empty: the certificate authority cannot warn you about expiring certificates")
	}
	return warns
}

// userStore is what the user commands need of the accounts.
// main.go's serviceAccounts provides it over the account service
// (internal/accounts), the same code path as the web account pages.
type userStore interface {
	AddUser(ctx context.Context, user, password string) error     // errUserExists
	SetPassword(ctx context.Context, user, password string) error // errNoSuchUser
	// DeleteUser deletes the account and everything stored about it and
	// returns a one-line summary of what was deleted.
	DeleteUser(ctx context.Context, user string) (string, error) // errNoSuchUser
	Users(ctx context.Context) ([]string, error)
	// Export writes the account's data as a zip.
	Export(ctx context.Context, user string, w io.Writer) error // errNoSuchUser
}

// maintenanceSwitch is the maintenance switch (*retention.Maintenance).
type maintenanceSwitch interface {
	On(ctx context.Context, d time.Duration) (time.Time, error)
	Off(ctx context.Context) error
	Status(ctx context.Context) (on bool, until time.Time, err error)
}

var (
	errUserExists = errors.New("user already exists")
	errNoSuchUser = errors.New("no such user")
)

// errLocked is the error when the server neither answers nor lets go of the database.
var errLocked = errors.New("database is locked by another process and no admin socket answers")

// adminCommand describes a command that runs on the admin socket.
type adminCommand struct {
	name     string          // "user add"
	args     int             // positional arguments wanted
	argName  string          // for usage errors: "NAME"
	opts     map[string]bool // own options (name → boolean)
	password bool            // reads a password
	create   bool            // may create the data directory and database
}

var adminCommands = map[string]adminCommand{
	"user add":           {name: "user add", args: 1, argName: "NAME", opts: map[string]bool{"allow-reserved": true}, password: true, create: true},
	"user passwd":        {name: "user passwd", args: 1, argName: "NAME", password: true},
	"user delete":        {name: "user delete", args: 1, argName: "NAME"},
	"user list":          {name: "user list"},
	"user export":        {name: "user export", args: 1, argName: "NAME"},
	"user lock":          {name: "user lock", args: 1, argName: "NAME"},
	"user unlock":        {name: "user unlock", args: 1, argName: "NAME"},
	"maintenance on":     {name: "maintenance on", opts: map[string]bool{"for": false}},
	"maintenance off":    {name: "maintenance off"},
	"maintenance status": {name: "maintenance status"},
	"backup":             {name: "backup", args: 1, argName: "FILE", opts: map[string]bool{"uploads": true}},
	"status":             {name: "status"},
}

// cmdAdmin runs `chatbx GROUP SUB ...` (user, maintenance): through the
// running server's admin socket, or on the database directly when no
// server runs.
func (e *cmdEnv) cmdAdmin(group string, args []string) error {
	if len(args) == 0 {
		return usagef("%s: missing subcommand", group)
	}
	c, ok := adminCommands[group+" "+args[0]]
	if !ok {
		return usagef("%s: unknown subcommand %q", group, args[0])
	}
	return e.runAdmin(c, args[1:])
}

// runAdmin parses the arguments of an admin command and runs it.
func (e *cmdEnv) runAdmin(c adminCommand, args []string) error {
	p, err := parseArgs(args, c.opts)
	if err != nil {
		return err
	}
	if p.helpReq {
		fmt.Fprint(e.stdout, usageText)
		return nil
	}
	if len(p.pos) != c.args {
		if c.args == 0 {
			return usagef("%s takes no arguments", c.name)
		}
		return usagef("%s: want exactly one %s", c.name, c.argName)
	}
	cfg, err := e.loadConfig(p)
	if err != nil {
		return err
	}
	req := admin.Request{Cmd: c.name, Args: p.pos}
	if len(p.opts) > 0 {
		req.Flags = map[string]string{}
		for name := range c.opts {
			if v, ok := p.opts[name]; ok {
				req.Flags[name] = v
			}
		}
	}
	if c.name == "backup" {
		// The server writes the file: give it an absolute path.
		abs, err := filepath.Abs(p.pos[0])
		if err != nil {
			return err
		}
		req.Args = []string{abs}
	} else if c.args == 1 {
		// Refuse a bad name before asking for a password.
		if _, err := checkUsername(p.pos[0], cfg.Domain, c.name == "user add", req.Flags["allow-reserved"]); err != nil {
			return err
		}
	}
	if c.password {
		pw, err := readPassword(e.stdin, e.stderr)
		if err != nil {
			return err
		}
		req.Secret = map[string]string{"password": pw}
	}
	resp, err := e.callOrDirect(cfg, req, c.create)
	if err != nil {
		return err
	}
	if resp.Output != "" {
		io.WriteString(e.stdout, resp.Output)
	}
	if len(resp.Data) > 0 {
		if _, err := e.stdout.Write(resp.Data); err != nil {
			return err
		}
	}
	return nil
}

// callOrDirect sends req to the running server's admin socket. When no
// server listens, it opens the database itself and runs the same handler.
func (e *cmdEnv) callOrDirect(cfg Config, req admin.Request, create bool) (admin.Response, error) {
	resp, err := admin.Call(e.ctx, admin.SocketPath(cfg.DataDir), req)
	if !errors.Is(err, admin.ErrUnavailable) {
		return resp, err
	}
	handlers, closeFn, err := e.openDirect(e.ctx, cfg, create)
	if err != nil {
		return admin.Response{}, err
	}
	if _, ok := handlers.Lookup(req.Cmd); !ok {
		closeFn()
		return admin.Response{}, fmt.Errorf("%s needs a running server", req.Cmd)
	}
	// The same dispatch as the server's (admin.Server).
	resp, err = handlers.Run(e.ctx, req)
	if cerr := closeFn(); err == nil && cerr != nil {
		err = cerr
	}
	return resp, err
}

// adminHandlers returns the admin socket commands for accounts and the
// maintenance switch (either may be nil). domain is the server's domain,
// for names given as user@domain.
func adminHandlers(domain string, acc userStore, maint maintenanceSwitch) map[string]admin.Handler {
	h := map[string]admin.Handler{}
	if acc != nil {
		for name, f := range userHandlers(domain, acc) {
			h[name] = f
		}
	}
	if maint != nil {
		for name, f := range maintenanceHandlers(maint) {
			h[name] = f
		}
	}
	return h
}

func userHandlers(domain string, acc userStore) map[string]admin.Handler {
	name := func(req admin.Request) (string, error) {
		if len(req.Args) != 1 {
			return "", errors.New("want exactly one user name")
		}
		return checkUsername(req.Args[0], domain, req.Cmd == "user add", req.Flags["allow-reserved"])
	}
	// withPassword is a handler for a command that takes a user name and
	// a password (user add, user passwd).
	withPassword := func(op func(ctx context.Context, user, password string) error, done string) admin.Handler {
		return func(ctx context.Context, req admin.Request) (admin.Response, error) {
			u, err := name(req)
			if err != nil {
				return admin.Response{}, err
			}
			pw := req.Secret["password"]
			if err := checkPassword(pw); err != nil {
				return admin.Response{}, err
			}
			if err := op(ctx, u, pw); err != nil {
				return admin.Response{}, userError(u, err)
			}
			return admin.Response{Output: fmt.Sprintf(done, u)}, nil
		}
	}
	return map[string]admin.Handler{
		"user add":    withPassword(acc.AddUser, "user %s added\n"),
		"user passwd": withPassword(acc.SetPassword, "password of %s changed\n"),
		"user delete": func(ctx context.Context, req admin.Request) (admin.Response, error) {
			u, err := name(req)
			if err != nil {
				return admin.Response{}, err
			}
			summary, err := acc.DeleteUser(ctx, u)
			if err != nil {
				return admin.Response{}, userError(u, err)
			}
			return admin.Response{Output: fmt.Sprintf("user %s deleted%s\n", u, summary)}, nil
		},
		"user list": func(ctx context.Context, req admin.Request) (admin.Response, error) {
			users, err := acc.Users(ctx)
			if err != nil {
				return admin.Response{}, err
			}
			slices.Sort(users)
			var b strings.Builder
			for _, u := range users {
				b.WriteString(u)
				b.WriteByte('\n')
			}
			return admin.Response{Output: b.String()}, nil
		},
		"user export": func(ctx context.Context, req admin.Request) (admin.Response, error) {
			u, err := name(req)
			if err != nil {
				return admin.Response{}, err
			}
			var b bytes.Buffer
			if err := acc.Export(ctx, u, &b); err != nil {
				return admin.Response{}, userError(u, err)
			}
			return admin.Response{Data: b.Bytes()}, nil
		},
	}
}

// maintenanceOnPrefix starts the answer of maintenance on and status while on.
const maintenanceOnPrefix = "maintenance on until "

func maintenanceHandlers(m maintenanceSwitch) map[string]admin.Handler {
	return map[string]admin.Handler{
		"maintenance on": func(ctx context.Context, req admin.Request) (admin.Response, error) {
			s, ok := req.Flags["for"]
			if !ok {
				return admin.Response{}, errors.New("maintenance on: --for DURATION is required (e.g. --for 2h)")
			}
			d, err := config.ParseDuration(s)
			if err != nil {
				return admin.Response{}, fmt.Errorf("maintenance on: --for: %w", err)
			}
			until, err := m.On(ctx, d)
			if err != nil {
				return admin.Response{}, err
			}
			return admin.Response{Output: fmt.Sprintf("%s%s: connection logs carry full IP addresses\n", maintenanceOnPrefix, until.UTC().Format(time.RFC3339))}, nil
		},
		"maintenance off": func(ctx context.Context, req admin.Request) (admin.Response, error) {
			if err := m.Off(ctx); err != nil {
				return admin.Response{}, err
			}
			return admin.Response{Output: "maintenance off: IP addresses are anonymised\n"}, nil
		},
		"maintenance status": func(ctx context.Context, req admin.Request) (admin.Response, error) {
			on, until, err := m.Status(ctx)
			if err != nil {
				return admin.Response{}, err
			}
			if !on {
				return admin.Response{Output: "maintenance off: IP addresses are anonymised\n"}, nil
			}
			return admin.Response{Output: fmt.Sprintf("%s%s: connection logs carry full IP addresses\n", maintenanceOnPrefix, until.UTC().Format(time.RFC3339))}, nil
		},
	}
}

// backupHandler writes a consistent copy of the database to the absolute
// path in Args[0] (mode 0600; an existing file is not replaced). The copy
// is refused inside the data directory, which holds nothing else.
func backupHandler(dataDir string, backup func(ctx context.Context, w io.Writer) (int64, error)) admin.Handler {
	return func(ctx context.Context, req admin.Request) (admin.Response, error) {
		if len(req.Args) != 1 || !filepath.IsAbs(req.Args[0]) {
			return admin.Response{}, errors.New("backup: want one absolute file name")
		}
		path := filepath.Clean(req.Args[0])
		if d, err := filepath.Abs(dataDir); err == nil {
			if rel, err := filepath.Rel(d, path); err == nil && !strings.HasPrefix(rel, "..") {
				return admin.Response{}, errors.New("backup: write the copy outside the data directory")
			}
		}
		if _, err := os.Lstat(path); err == nil {
			return admin.Response{}, fmt.Errorf("backup: %s exists", path)
		}
		f, err := os.CreateTemp(filepath.Dir(path), ".chatbx-backup-*")
		if err != nil {
			return admin.Response{}, fmt.Errorf("backup: %w", err)
		}
		tmp := f.Name()
		n, err := backup(ctx, f)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, path)
		}
		if err != nil {
			os.Remove(tmp)
			return admin.Response{}, fmt.Errorf("backup: %w", err)
		}
		return admin.Response{Output: fmt.Sprintf("wrote %s (%d bytes); copy uploads/ separately or use backup --uploads\n", path, n)}, nil
	}
}

func userError(user string, err error) error {
	switch {
	case errors.Is(err, errUserExists):
		return fmt.Errorf("user %s already exists", user)
	case errors.Is(err, errNoSuchUser):
		return fmt.Errorf("no such user: %s", user)
	}
	return err
}

// checkUsername normalises a username as typed (PRECIS UsernameCaseMapped,
// RFC 8265 §3.3; "name@domain" is accepted for the server's domain) with
// the same rules as the account pages and in-band registration
// (internal/accounts). For a new account (add) the name must also not be
// reserved, unless allowReserved is "true": the operator may create
// role accounts such as admin.
func checkUsername(s, domain string, add bool, allowReserved string) (string, error) {
	u, err := accounts.NormaliseUser(s, domain)
	if err != nil {
		return "", fmt.Errorf("invalid username %q: letters, digits and simple punctuation only, no \" & ' / : < > @ or spaces", s)
	}
	if len(u) > accounts.MaxUsername {
		return "", fmt.Errorf("invalid username %q: longer than %d bytes", s, accounts.MaxUsername)
	}
	if add && allowReserved != "true" {
		if accounts.Reserved(u) {
			return "", fmt.Errorf("%q is a reserved name (pass --allow-reserved to create it anyway)", u)
		}
	}
	return u, nil
}

// maxPasswordBytes bounds a password (PBKDF2 cost grows with it).
const maxPasswordBytes = 1024

func checkPassword(pw string) error {
	switch {
	case pw == "":
		return errors.New("empty password")
	case len(pw) > maxPasswordBytes:
		return fmt.Errorf("password longer than %d bytes", maxPasswordBytes)
	case !utf8.ValidString(pw):
		return errors.New("password is not valid UTF-8")
	}
	return nil
}

// readPassword reads the password: from a terminal it prompts twice without
// echo; otherwise it takes the first line of stdin (without its line end).
// Passwords are never taken from the command line, where ps(1) and shell
// history would see them.
func readPassword(stdin io.Reader, prompt io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		fmt.Fprint(prompt, "Password: ")
		p1, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(prompt, "Repeat password: ")
		p2, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(p1) != string(p2) {
			return "", errors.New("passwords do not match")
		}
		if err := checkPassword(string(p1)); err != nil {
			return "", err
		}
		return string(p1), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, maxPasswordBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	if errors.Is(err, io.EOF) && len(line) > maxPasswordBytes {
		return "", fmt.Errorf("password longer than %d bytes", maxPasswordBytes)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if pw == "" {
		return "", errors.New("no password on standard input (give it on the first line)")
	}
	if err := checkPassword(pw); err != nil {
		return "", err
	}
	return pw, nil
}

// versionString reports the module version and VCS revision when known.
func versionString() string {
	v, rev := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return "chatbx " + v + rev
}
