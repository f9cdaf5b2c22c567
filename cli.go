package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
	"golang.org/x/text/secure/precis"
)

// Exit codes of the chatbx command.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

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
	// openAccounts opens the account store directly (no server running).
	openAccounts func(ctx context.Context, cfg Config, create bool) (accounts, func() error, error)
	// serve runs the server until ctx ends (runServer in main.go).
	serve func(ctx context.Context, cfg Config, stdout, stderr io.Writer) error
}

// run executes one chatbx command line (without the program name) and
// returns the exit status: 0 ok, 1 error, 2 usage.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &cmdEnv{
		ctx:          ctx,
		stdin:        stdin,
		stdout:       stdout,
		stderr:       stderr,
		environ:      os.Environ(),
		openAccounts: openStoreAccounts,
		serve:        runServer,
	}
	return e.run(args)
}

const usageText = `chatbx: a privacy-first XMPP server

Usage:
  chatbx serve [--dev] [--config FILE] [--KEY VALUE ...]
  chatbx check [--dev] [--config FILE] [--KEY VALUE ...]
  chatbx user add NAME [--allow-reserved]   password from stdin or prompt
  chatbx user passwd NAME                   password from stdin or prompt
  chatbx user delete NAME
  chatbx user list
  chatbx version

Every configuration key is also a flag (c2s.listen_tls: --c2s-listen-tls) and an
environment variable (CHATBX_C2S_LISTEN_TLS); flag > environment > file > default.
The user commands take --config, --data-dir and --dev the same way as serve.
See docs/configuration.md for every key.
`

func (e *cmdEnv) run(args []string) int {
	err := e.dispatch(args)
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
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
	case "user":
		return e.cmdUser(rest)
	case "version", "--version", "-version":
		if len(rest) > 0 {
			return usagef("version takes no arguments")
		}
		fmt.Fprintln(e.stdout, versionString())
		return nil
	case "config":
		// Hidden: `chatbx config docs` prints docs/configuration.md.
		if len(rest) == 1 && rest[0] == "docs" {
			_, err := io.WriteString(e.stdout, configDocs())
			return err
		}
		return usagef("usage: chatbx config docs")
	case "help", "-h", "--help", "-help":
		fmt.Fprint(e.stdout, usageText)
		return nil
	}
	return usagef("unknown command %q", cmd)
}

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
		k, isKey := lookupFlag(name)
		if !isOpt && !isKey {
			return p, usagef("unknown flag --%s", name)
		}
		if isKey {
			isBool = k.Kind == kindBool
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
	return loadConfig(configSources{Dev: p.dev, File: p.config, Environ: e.environ, Flags: p.keys})
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
	if err := cfg.validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return e.serve(ctx, cfg, e.stdout, e.stderr)
}

func (e *cmdEnv) cmdCheck(args []string) error {
	p, err := parseArgs(args, nil)
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
	if err := cfg.validate(); err != nil {
		return err
	}
	writeCheck(e.stdout, &cfg)
	return nil
}

// writeCheck prints the effective configuration with the source of every
// value, then warnings where the configuration contradicts the privacy policy.
func writeCheck(w io.Writer, c *Config) {
	fmt.Fprintf(w, "configuration")
	if c.file != "" {
		fmt.Fprintf(w, " (file %s)", c.file)
	}
	if c.dev {
		fmt.Fprintf(w, " (--dev)")
	}
	fmt.Fprintln(w)
	for _, k := range configKeys {
		fmt.Fprintf(w, "  %-28s = %-40s # %s\n", k.Name, k.formatValue(c), c.Source(k.Name))
	}
	fmt.Fprintln(w, "\nlogging")
	fmt.Fprintf(w, "  files under %s (connection logs hourly, kept %s; web errors daily, kept %s)\n",
		filepath.Join(c.DataDir, "logs"), formatDuration(c.Retention.ConnectionLogs), formatDuration(c.Retention.WebErrors))
	if c.Log.Stderr {
		fmt.Fprintln(w, "  also standard error")
	}
	warns := checkWarnings(c)
	if len(warns) > 0 {
		fmt.Fprintln(w, "\nwarnings")
		for _, s := range warns {
			fmt.Fprintf(w, "  - %s\n", s)
		}
	}
}

// checkWarnings lists settings that contradict the published privacy promises.
func checkWarnings(c *Config) []string {
	var warns []string
	if c.Log.Stderr && !c.dev {
		warns = append(warns, "log.stderr is on: lines on standard error are kept by whoever collects them (journal, container runtime); retention cannot delete them")
	}
	limits := []struct {
		key    string
		got    time.Duration
		policy string
		max    time.Duration
	}{
		{"retention.uploads", c.Retention.Uploads, "30 days", 30 * day},
		{"retention.web_errors", c.Retention.WebErrors, "30 days", 30 * day},
		{"retention.connection_logs", c.Retention.ConnectionLogs, "24 hours", 24 * time.Hour},
	}
	for _, l := range limits {
		if l.got > l.max {
			warns = append(warns, fmt.Sprintf("%s is longer than the privacy policy's %s: change the policy text too", l.key, l.policy))
		}
	}
	if c.Archive.Default != "never" {
		warns = append(warns, "archive.default is not never: the privacy policy promises that messages are archived only when the user switches it on")
	}
	if len(c.Contact.Admin) == 0 {
		warns = append(warns, "contact.admin is empty: the website and XEP-0157 name no contact")
	}
	if c.Accounts.Registration == "open" {
		warns = append(warns, "accounts.registration is open: anyone can create accounts (throttled per IP)")
	}
	return warns
}

// accounts is what the user commands need from the account store.
// The store adapter (main.go) and the running server both provide it.
type accounts interface {
	AddUser(ctx context.Context, user, password string) error     // errUserExists
	SetPassword(ctx context.Context, user, password string) error // errNoSuchUser
	DeleteUser(ctx context.Context, user string) error            // errNoSuchUser
	Users(ctx context.Context) ([]string, error)
}

var (
	errUserExists = errors.New("user already exists")
	errNoSuchUser = errors.New("no such user")
)

// errLocked is the error when the server neither answers nor lets go of the database.
var errLocked = errors.New("database is locked by another process and no admin socket answers")

func (e *cmdEnv) cmdUser(args []string) error {
	if len(args) == 0 {
		return usagef("user: missing subcommand (add, passwd, delete, list)")
	}
	sub := args[0]
	var opts map[string]bool
	wantName := true
	switch sub {
	case "add":
		opts = map[string]bool{"allow-reserved": true}
	case "passwd", "delete":
	case "list":
		wantName = false
	default:
		return usagef("user: unknown subcommand %q", sub)
	}
	p, err := parseArgs(args[1:], opts)
	if err != nil {
		return err
	}
	if p.helpReq {
		fmt.Fprint(e.stdout, usageText)
		return nil
	}
	req := adminRequest{Cmd: "user " + sub}
	switch {
	case wantName && len(p.pos) != 1:
		return usagef("user %s: want exactly one NAME", sub)
	case !wantName && len(p.pos) != 0:
		return usagef("user %s takes no arguments", sub)
	}
	cfg, err := e.loadConfig(p)
	if err != nil {
		return err
	}
	if wantName {
		name, err := normalizeUsername(p.pos[0])
		if err != nil {
			return err
		}
		if sub == "add" {
			allow, err := parseBoolOption("allow-reserved", valueOr(p.opts, "allow-reserved", "false"))
			if err != nil {
				return err
			}
			if isReservedUsername(name) && !allow {
				return fmt.Errorf("user add: %q is a reserved name (pass --allow-reserved to create it anyway)", name)
			}
			req.Flags = map[string]string{"allow-reserved": "true"} // checked here already
		}
		req.Args = []string{name}
	}
	if sub == "add" || sub == "passwd" {
		pw, err := readPassword(e.stdin, e.stderr)
		if err != nil {
			return err
		}
		req.Secret = map[string]string{"password": pw}
	}
	resp, err := e.callOrDirect(cfg, req, sub == "add")
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
// server listens, it opens the store itself and runs the same handler.
func (e *cmdEnv) callOrDirect(cfg Config, req adminRequest, create bool) (adminResponse, error) {
	resp, err := adminCall(e.ctx, adminSocketPath(cfg.DataDir), req)
	if !errors.Is(err, errAdminUnavailable) {
		return resp, err
	}
	acc, closeFn, err := e.openAccounts(e.ctx, cfg, create)
	if err != nil {
		return adminResponse{}, err
	}
	h, ok := userHandlers(acc, nil)[req.Cmd]
	if !ok {
		closeFn()
		return adminResponse{}, fmt.Errorf("%s needs a running server", req.Cmd)
	}
	resp, err = h(e.ctx, req)
	if cerr := closeFn(); err == nil && cerr != nil {
		err = cerr
	}
	return resp, err
}

func valueOr(m map[string]string, k, def string) string {
	if v, ok := m[k]; ok {
		return v
	}
	return def
}

// userHandlers returns the admin commands for accounts. kick, when not nil,
// closes the sessions of a user whose password changed or who was deleted.
func userHandlers(acc accounts, kick func(user string)) map[string]adminHandler {
	name := func(req adminRequest) (string, error) {
		if len(req.Args) != 1 {
			return "", errors.New("want exactly one user name")
		}
		return normalizeUsername(req.Args[0])
	}
	password := func(req adminRequest) (string, error) {
		pw := req.Secret["password"]
		return pw, checkPassword(pw)
	}
	return map[string]adminHandler{
		"user add": func(ctx context.Context, req adminRequest) (adminResponse, error) {
			u, err := name(req)
			if err != nil {
				return adminResponse{}, err
			}
			if isReservedUsername(u) && req.Flags["allow-reserved"] != "true" {
				return adminResponse{}, fmt.Errorf("%q is a reserved name", u)
			}
			pw, err := password(req)
			if err != nil {
				return adminResponse{}, err
			}
			if err := acc.AddUser(ctx, u, pw); err != nil {
				return adminResponse{}, userError(u, err)
			}
			return adminResponse{Output: fmt.Sprintf("user %s added\n", u)}, nil
		},
		"user passwd": func(ctx context.Context, req adminRequest) (adminResponse, error) {
			u, err := name(req)
			if err != nil {
				return adminResponse{}, err
			}
			pw, err := password(req)
			if err != nil {
				return adminResponse{}, err
			}
			if err := acc.SetPassword(ctx, u, pw); err != nil {
				return adminResponse{}, userError(u, err)
			}
			if kick != nil {
				kick(u)
			}
			return adminResponse{Output: fmt.Sprintf("password of %s changed\n", u)}, nil
		},
		"user delete": func(ctx context.Context, req adminRequest) (adminResponse, error) {
			u, err := name(req)
			if err != nil {
				return adminResponse{}, err
			}
			if kick != nil {
				kick(u)
			}
			if err := acc.DeleteUser(ctx, u); err != nil {
				return adminResponse{}, userError(u, err)
			}
			return adminResponse{Output: fmt.Sprintf("user %s deleted\n", u)}, nil
		},
		"user list": func(ctx context.Context, req adminRequest) (adminResponse, error) {
			users, err := acc.Users(ctx)
			if err != nil {
				return adminResponse{}, err
			}
			slices.Sort(users)
			var b strings.Builder
			for _, u := range users {
				b.WriteString(u)
				b.WriteByte('\n')
			}
			return adminResponse{Output: b.String()}, nil
		},
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

// reservedUsernames cannot be registered (they would impersonate the
// operator, RFC 2142 role addresses and common service names).
var reservedUsernames = []string{
	"abuse", "admin", "administrator", "hostmaster", "info", "noreply", "no-reply",
	"postmaster", "root", "security", "support", "webmaster", "www", "xmpp",
}

func isReservedUsername(u string) bool { return slices.Contains(reservedUsernames, u) }

// maxUsernameBytes bounds a username; XMPP allows 1023 bytes, people need far fewer.
const maxUsernameBytes = 64

// normalizeUsername applies PRECIS UsernameCaseMapped (RFC 8265 §3.3) and
// the localpart rules of RFC 7622 §3.3.1, and bounds the length.
func normalizeUsername(s string) (string, error) {
	u, err := precis.UsernameCaseMapped.String(s)
	if err != nil || u == "" {
		return "", fmt.Errorf("invalid username %q: letters, digits and simple punctuation only", s)
	}
	if len(u) > maxUsernameBytes {
		return "", fmt.Errorf("invalid username %q: longer than %d bytes", s, maxUsernameBytes)
	}
	if strings.ContainsAny(u, "\"&'/:<>@") {
		return "", fmt.Errorf("invalid username %q: must not contain \" & ' / : < > @", s)
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
