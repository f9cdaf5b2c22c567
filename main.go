// main.go holds the wiring of `chatbx serve`: configuration → logs → store →
// certificates → server, web, retention → signals → shutdown in reverse
// order, store last.

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"chatbx/internal/accounts"
	"chatbx/internal/admin"
	"chatbx/internal/certs"
	"chatbx/internal/config"
	"chatbx/internal/guard"
	"chatbx/internal/metrics"
	"chatbx/internal/migrate"
	"chatbx/retention"
	"chatbx/retention/logs"
	"chatbx/server"
	"chatbx/server/disco"
	"chatbx/server/mam"
	"chatbx/server/register"
	"chatbx/server/router"
	"chatbx/server/s2s"
	"chatbx/server/upload"
	"chatbx/server/ws"
	"chatbx/store"
	"chatbx/web"
	"chatbx/web/account"
	webupload "chatbx/web/upload"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Files and directories in the data directory. Nothing else lives there.
const (
	dbFileName  = "chatbx.db"
	uploadsDir  = "uploads"
	logsDir     = "logs"
	dirMode     = 0o700
	flushWindow = 10 * time.Second // final flushes after the signal
)

// scramIterations is the PBKDF2 iteration count of new SCRAM verifiers
// (RFC 7677 §4: at least 4096). The client pays it on every SCRAM login;
// the server pays it only for PLAIN and when a password is set.
const scramIterations = store.MinIterations

// runServer runs `chatbx serve` until ctx ends.
func runServer(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	a, err := startApp(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	return a.run(ctx, stdout)
}

// app is a started server: every listener is bound, nothing is served yet.
type app struct {
	cfg   Config
	log   zerolog.Logger
	logs  appLogs
	sinks []*logs.Sink
	// connSink is the connection log, rewritten when an account is deleted.
	connSink *logs.Sink
	db       *store.DB
	admin    *admin.Server
	parts    []part
	addrs    appAddrs
	// reload re-reads what an operator may change while the server runs
	// (the certificate files); run calls it on SIGHUP.
	reload func() error
	// stderr gets the start banner and the errors an operator must act
	// on (operatorErrors), never lines about users.
	stderr io.Writer
	// served is closed once every part serves and the banner is out.
	served chan struct{}
}

// appAddrs are the bound listener addresses (tests dial them).
type appAddrs struct {
	https, http net.Addr
	// xmpp returns the c2s addresses (STARTTLS, direct TLS) once the
	// server is ready.
	xmpp func() []net.Addr
	// metrics is the metrics listener's address (nil: off).
	metrics net.Addr
	// s2s returns the federation listeners (STARTTLS, direct TLS) once
	// they listen; nil without federation. groupChat is the group chat
	// service's domain ("" without one).
	s2s       func() []net.Addr
	groupChat string
}

// part is one long-lived component run in the errgroup.
// run returns after ctx ends and its goroutines have exited.
type part struct {
	name string
	run  func(ctx context.Context) error
	// ready, if not nil, is closed when the part serves.
	ready <-chan struct{}
}

// startApp prepares the data directory, opens the logs and the store and
// builds every part. On error everything opened so far is closed again.
func startApp(ctx context.Context, cfg Config, stderr io.Writer) (_ *app, err error) {
	a := &app{cfg: cfg, stderr: stderr, served: make(chan struct{})}
	defer func() {
		if err != nil {
			a.log.Error().Err(err).Msg("start failed")
			a.close()
		}
	}()
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	a.openLogs(stderr)
	path := filepath.Join(cfg.DataDir, dbFileName)
	a.db, err = store.Open(path, store.Options{Limits: cfg.StoreLimits()})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%s is locked: is another chatbx serve running?", path)
	}
	if err != nil {
		return nil, err
	}
	w, err := a.wireParts(ctx)
	if err != nil {
		return nil, err
	}
	a.parts = w.parts
	a.addrs = w.addrs
	a.reload = w.reload
	a.admin, err = admin.Listen(admin.SocketPath(cfg.DataDir), w.admin, component(a.log, "admin"))
	if err != nil {
		return nil, err
	}
	return a, nil
}

// shutdownOrder is the order in which run stops the parts (STYLE.md): no
// new admin commands, then the XMPP server (stop accepting, close streams
// with <system-shutdown/>, queued stanzas to offline storage), the web
// site (http.Server.Shutdown), retention, and the certificate source.
// The store closes after all of them.
var shutdownOrder = []string{"admin", "xmpp", "web", "retention", "tls"}

// run serves until ctx ends or a part fails, then stops the parts one by
// one in shutdownOrder and closes the store last. It returns the first
// part's error, or nil after a shutdown by ctx.
func (a *app) run(ctx context.Context, stdout io.Writer) error {
	defer a.close()
	type running struct {
		name   string
		cancel context.CancelFunc
		done   chan error
	}
	failed := make(chan error, len(a.parts)+1)
	start := func(name string, run func(context.Context) error) *running {
		// Each part has its own context, so shutdown can stop them in order.
		pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r := &running{name: name, cancel: cancel, done: make(chan error, 1)}
		go func() {
			err := run(pctx)
			if err != nil {
				err = fmt.Errorf("%s: %w", name, err)
				if pctx.Err() == nil {
					failed <- err // a part failed on its own: stop everything
				}
			}
			r.done <- err
		}()
		return r
	}
	parts := map[string]*running{"admin": start("admin", a.admin.Run)}
	for _, p := range a.parts {
		parts[p.name] = start(p.name, p.run)
	}

	// live ends when shutdown begins; the helpers below stop with it.
	live, stopLive := context.WithCancel(ctx)
	defer stopLive()
	var helpers sync.WaitGroup
	helpers.Go(func() {
		for _, p := range a.parts {
			if p.ready == nil {
				continue
			}
			select {
			case <-p.ready:
			case <-live.Done():
				return
			}
		}
		a.log.Info().Str("domain", a.cfg.Domain).Msg("serving")
		writeBanner(a.stderr, &a.cfg, a.addrs)
		close(a.served)
		if a.cfg.Dev() {
			writeDevInstructions(stdout, &a.cfg)
		}
	})
	if a.reload != nil {
		// SIGHUP reloads the operator's certificate files at once (they
		// are also polled every minute).
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		helpers.Go(func() {
			for {
				select {
				case <-live.Done():
					return
				case <-hup:
					if err := a.reload(); err != nil {
						a.log.Error().Err(err).Msg("reload failed")
					} else {
						a.log.Info().Msg("reloaded")
					}
				}
			}
		})
	}

	var first error
	select {
	case <-ctx.Done():
		a.log.Info().Msg("shutting down")
	case first = <-failed:
		a.log.Error().Err(first).Msg("shutting down after a failure")
	}
	stopLive()
	helpers.Wait()
	stop := func(r *running) {
		r.cancel()
		if err := <-r.done; err != nil && first == nil {
			first = err
		}
	}
	for _, name := range shutdownOrder {
		if r, ok := parts[name]; ok {
			stop(r)
			delete(parts, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(parts)) {
		stop(parts[name])
	}
	if first != nil {
		a.log.Error().Err(first).Msg("stopped with error")
	} else {
		a.log.Info().Msg("stopped")
	}
	return first
}

// close releases what startApp opened, in reverse order: store, then logs.
// It is safe to call on a partly started app.
func (a *app) close() {
	if a.admin != nil {
		a.admin.Close()
	}
	if a.db != nil {
		if err := a.db.Close(); err != nil {
			a.log.Error().Err(err).Msg("store close failed")
		}
		a.db = nil
	}
	for _, s := range a.sinks {
		s.Sync()
		s.Close()
	}
	a.sinks = nil
}

// prepareDataDir creates the data directory and its subdirectories with
// mode 0700 and tightens an existing data directory to 0700.
func prepareDataDir(dir string) error {
	for _, d := range []string{dir, filepath.Join(dir, uploadsDir), filepath.Join(dir, logsDir)} {
		if err := os.MkdirAll(d, dirMode); err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
	}
	// Privacy: the data directory holds the database and logs; only the
	// server's user may read it.
	if err := os.Chmod(dir, dirMode); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
}

// Loggers built by openLogs.
type appLogs struct {
	base, conn, web zerolog.Logger
}

// openLogs builds the loggers. Every line goes to time-bucketed files under
// <data_dir>/logs, which retention deletes after their period: the server
// and connection logs per retention.connection_logs, web errors per
// retention.web_errors. Standard error only with log.stderr.
func (a *app) openLogs(stderr io.Writer) {
	dir := filepath.Join(a.cfg.DataDir, logsDir)
	hourly := logs.BucketFor(a.cfg.Retention.ConnectionLogs)
	daily := logs.BucketFor(a.cfg.Retention.WebErrors)
	server := logs.NewSink(dir, logs.PrefixServer, hourly, nil)
	conn := logs.NewSink(dir, logs.PrefixConn, hourly, nil)
	web := logs.NewSink(dir, logs.PrefixWebErrors, daily, nil)
	a.sinks = []*logs.Sink{server, conn, web}
	a.connSink = conn
	level, err := zerolog.ParseLevel(a.cfg.Log.Level)
	if err != nil {
		level = zerolog.InfoLevel // checked by config already
	}
	tee := func(w io.Writer) io.Writer {
		if a.cfg.Log.Stderr {
			return zerolog.MultiLevelWriter(w, zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.TimeOnly})
		}
		return w
	}
	serverOut := tee(server)
	if !a.cfg.Log.Stderr {
		// Errors an operator must act on (certificates, listeners,
		// storage) also reach standard error, so `chatbx serve` is not a
		// silent terminal while ACME fails; lines about users stay in the
		// retention-managed files only.
		serverOut = zerolog.MultiLevelWriter(server, operatorErrors{zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.TimeOnly}})
	}
	a.log = zerolog.New(serverOut).Level(level).With().Timestamp().Logger()
	a.logs = appLogs{
		base: a.log,
		// Privacy: a connection log line is exactly time, event, user and
		// anonymised IP, so the level field is cut from the file.
		conn: zerolog.New(tee(dropLevel{conn})).With().Timestamp().Logger(),
		// web writes its fields (time, ip, status, path) itself.
		web: zerolog.New(tee(web)),
	}
}

// operatorErrors passes on error-level lines of the server log that name
// no user and no address (Privacy: standard error may end up in a journal
// that retention cannot delete). Other lines are dropped.
type operatorErrors struct{ w io.Writer }

func (o operatorErrors) Write(p []byte) (int, error) { return len(p), nil }

func (o operatorErrors) WriteLevel(l zerolog.Level, p []byte) (int, error) {
	if l < zerolog.ErrorLevel || l == zerolog.NoLevel {
		return len(p), nil
	}
	for _, k := range []string{`"user":`, `"ip_anon":`, `"ip":`, `"jid":`} {
		if bytes.Contains(p, []byte(k)) {
			return len(p), nil
		}
	}
	if _, err := o.w.Write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeBanner prints what is running where, once every part serves: the
// domain, the listeners, the data and log directories. It names no user.
func writeBanner(w io.Writer, c *Config, addrs appAddrs) {
	if w == nil {
		return
	}
	var xmpp []string
	if addrs.xmpp != nil {
		for i, a := range addrs.xmpp() {
			kind := "STARTTLS"
			if i == 1 {
				kind = "direct TLS"
			}
			xmpp = append(xmpp, a.String()+" ("+kind+")")
		}
	}
	fmt.Fprintf(w, "chatbx %s serving %s\n", moduleVersion(), c.Domain)
	fmt.Fprintf(w, "  XMPP clients: %s\n", strings.Join(xmpp, ", "))
	if addrs.s2s != nil {
		var fed []string
		for i, a := range addrs.s2s() {
			kind := "STARTTLS"
			if i == 1 {
				kind = "direct TLS"
			}
			fed = append(fed, a.String()+" ("+kind+")")
		}
		fmt.Fprintf(w, "  XMPP servers: %s (federation)\n", strings.Join(fed, ", "))
	}
	if addrs.groupChat != "" {
		fmt.Fprintf(w, "  group chat:   %s\n", addrs.groupChat)
	}
	if addrs.https != nil {
		ws := ""
		if c.Web.WebSocket {
			ws = ", WebSocket /xmpp-websocket"
		}
		fmt.Fprintf(w, "  HTTPS:        %s (site, account pages, uploads%s)\n", addrs.https, ws)
	}
	if addrs.http != nil {
		fmt.Fprintf(w, "  HTTP:         %s (ACME challenges, redirect to HTTPS)\n", addrs.http)
	}
	fmt.Fprintf(w, "  data:         %s\n", c.DataDir)
	fmt.Fprintf(w, "  logs:         %s (connection logs deleted after %s, web errors after %s)\n",
		filepath.Join(c.DataDir, logsDir), config.FormatDuration(c.Retention.ConnectionLogs), config.FormatDuration(c.Retention.WebErrors))
	fmt.Fprintf(w, "  errors an operator must act on are printed here too; everything else is in the log files\n")
}

// dropLevel removes zerolog's leading "level" field from each line.
type dropLevel struct{ w io.Writer }

func (d dropLevel) Write(p []byte) (int, error) {
	const prefix = `{"level":"`
	if bytes.HasPrefix(p, []byte(prefix)) {
		if i := bytes.Index(p[len(prefix):], []byte(`",`)); i >= 0 {
			q := append([]byte{'{'}, p[len(prefix)+i+2:]...)
			if _, err := d.w.Write(q); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return d.w.Write(p)
}

// component returns log with the component field set.
func component(log zerolog.Logger, name string) zerolog.Logger {
	return log.With().Str("component", name).Logger()
}

// domainSetting is the store setting where serve records the domain, so
// that user commands run without a configuration still know it.
const domainSetting = "chatbx.domain"

// serviceAccounts gives the admin user commands the account service, the
// same code path as the web pages and in-band registration, and maps its
// errors to the CLI's messages.
type serviceAccounts struct{ acc *accounts.Service }

func (s serviceAccounts) AddUser(ctx context.Context, user, password string) error {
	// The operator's rules: the name was checked (reserved names need
	// --allow-reserved) and the password may be short.
	_, err := s.acc.CreateByOperator(ctx, user, password)
	return cliError(err)
}

// SetPassword sets the password without the web page's length rules (the
// operator decides); the service's hooks close the user's sessions.
func (s serviceAccounts) SetPassword(ctx context.Context, user, password string) error {
	return cliError(s.acc.ResetPassword(ctx, user, password))
}

func (s serviceAccounts) DeleteUser(ctx context.Context, user string) (string, error) {
	d, err := s.acc.Delete(ctx, user)
	if err != nil && !errors.Is(err, accounts.ErrIncomplete) {
		return "", cliError(err)
	}
	summary := fmt.Sprintf(" (%d roster items, %d offline messages, %d private items, %d blocked addresses, %d uploads; removed from %d rosters)",
		d.RosterItems, d.OfflineMessages, d.PrivateItems, d.BlockedJIDs, d.Uploads, d.ContactRosters)
	if err != nil {
		return "", fmt.Errorf("user deleted%s, but clean-up is incomplete (retention finishes it): %w", summary, err)
	}
	return summary, nil
}

func (s serviceAccounts) Users(ctx context.Context) ([]string, error) { return s.acc.Users(ctx) }

func (s serviceAccounts) Export(ctx context.Context, user string, w io.Writer) error {
	return cliError(s.acc.Export(ctx, user, w))
}

// cliError maps the account service's errors to the CLI's (userError
// adds the name); the service's wording is never shown as such.
func cliError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, accounts.ErrExists):
		return errUserExists
	case errors.Is(err, accounts.ErrNotFound):
		return errNoSuchUser
	case errors.Is(err, accounts.ErrPolicy):
		return errors.New("invalid password: use printable characters")
	case errors.Is(err, accounts.ErrUsername):
		return errors.New("invalid username")
	case errors.Is(err, accounts.ErrNoDomain):
		return errors.New("this command needs the domain: pass --domain or --config (or run it while the server runs)")
	}
	return err
}

// adminParts are what the admin socket's commands work on. serve and
// direct mode (no server runs) build them from the same parts, and
// newAdminHandlers makes the same handlers of them.
type adminParts struct {
	domain  string
	acc     *accounts.Service
	maint   maintenanceSwitch
	db      *store.DB
	links   inviteLinks
	dataDir string
	// limits are the caps imported accounts meet (importLimits).
	limits migrate.Options
	// status and spamReports are the running server's (nil in direct
	// mode, where the commands then need a running server).
	status      *statusSources
	spamReports func() []s2s.DomainCount
}

// newAdminHandlers returns every admin socket command over p. Without a
// domain, invite create cannot print a link and is refused (user delete
// and export answer the same through accounts.ErrNoDomain).
func newAdminHandlers(p adminParts) *admin.Handlers {
	h := admin.NewHandlers()
	h.AddAll(adminHandlers(p.domain, serviceAccounts{p.acc}, p.maint))
	invites := inviteHandlers(p.links, p.db, nil)
	if p.domain == "" {
		invites["invite create"] = func(context.Context, admin.Request) (admin.Response, error) {
			return admin.Response{}, errors.New("invite create needs the domain: pass --domain or --config (or run it while the server runs)")
		}
	}
	h.AddAll(invites)
	h.Add("backup", backupWithUploads(backupHandler(p.dataDir, p.db.Backup), p.dataDir, p.db.Backup))
	h.AddAll(importHandlers(importParts{domain: p.domain, db: p.db, acc: p.acc, dataDir: p.dataDir, limits: p.limits}))
	h.AddAll(lockHandlers(p.domain, p.acc))
	if p.status != nil {
		h.Add("status", statusHandler(*p.status))
	}
	if p.spamReports != nil {
		h.Add("spam-reports", spamReportsHandler(p.spamReports))
	}
	return h
}

// newAccounts returns the account service over db; archive and uploads
// may be nil.
func newAccounts(domain string, db *store.DB, archive accounts.Archive, uploads accounts.Uploads, g accounts.Guard, log zerolog.Logger, exporters ...accounts.Exporter) (*accounts.Service, error) {
	return accounts.New(accounts.Config{Domain: domain, Iterations: scramIterations}, accounts.Deps{
		Store:     db,
		Archive:   archive,
		Uploads:   uploads,
		Guard:     g,
		Log:       log,
		Exporters: exporters,
	})
}

// rewriteLogsHook removes a deleted account's lines from the connection
// logs (rewrite is logs.Sink.Rewrite or logs.Rewrite on the directory).
func rewriteLogsHook(rewrite func(drop func(line []byte) bool) error) accounts.Hooks {
	return accounts.Hooks{
		AfterDelete: func(_ context.Context, d accounts.Deleted, _ string) error {
			if err := rewrite(logs.DropUser(d.User)); err != nil {
				return fmt.Errorf("rewrite connection logs: %w", err)
			}
			return nil
		},
		Effects: accounts.RewritesLogs,
	}
}

// sessionHooks are the XMPP server's part of the account operations:
// after a deletion, close the account's sessions and wait (at most
// 10 s) for them to end, so that the log rewrite after it also removes
// their logout lines, then tell its local contacts; after a password
// change, close the user's sessions but the one that changed it.
func sessionHooks(srv *server.Server) accounts.Hooks {
	return accounts.Hooks{
		AfterDelete: func(ctx context.Context, d accounts.Deleted, self string) error {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := srv.KickUserWait(wctx, d.User, self, "not-authorized")
			cancel()
			srv.AccountDeleted(ctx, d.User, d.Roster)
			if err != nil {
				return fmt.Errorf("close sessions: %w", err)
			}
			return nil
		},
		Effects: accounts.TellsContacts,
		PasswordChanged: func(user, keep string) {
			if keep == "" {
				srv.KickUser(user, "reset")
			} else {
				srv.KickOthers(user, keep, "reset")
			}
		},
		Locked: func(_ context.Context, user string) {
			// The lock is in force before this runs: the sessions
			// cannot log in again.
			srv.KickUser(user, "not-authorized")
		},
	}
}

// openDirectHandlers opens the database for an admin command while no
// server runs and returns the same handlers the admin socket serves
// (newAdminHandlers). Only `user add` (create) makes a new data directory
// and database; the other commands refuse a missing database, which
// usually means a wrong --data-dir.
func openDirectHandlers(ctx context.Context, cfg Config, create bool) (*admin.Handlers, func() error, error) {
	path := filepath.Join(cfg.DataDir, dbFileName)
	if create {
		if err := prepareDataDir(cfg.DataDir); err != nil {
			return nil, nil, err
		}
	} else if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("no database at %s (wrong --data-dir or --config?)", path)
	}
	db, err := store.Open(path, store.Options{})
	if errors.Is(err, store.ErrLocked) {
		return nil, nil, errLocked
	}
	if err != nil {
		return nil, nil, err
	}
	domain := cfg.Domain
	if cfg.Source("domain") == "default" {
		// The server records its domain; it wins over a default.
		if d, err := db.Setting(ctx, domainSetting); err == nil && len(d) > 0 {
			domain = string(d)
		}
	}
	log := zerolog.Nop()
	var (
		archive accounts.Archive
		uploads accounts.Uploads
	)
	if domain != "" {
		// The files of a deleted account are unlinked here too; the URL
		// base only appears in exports.
		files, err := webupload.New(webupload.Config{
			Dir:     filepath.Join(cfg.DataDir, uploadsDir),
			BaseURL: siteURL(domain, 0) + "/upload/",
			Log:     log,
		}, db)
		if err != nil {
			db.Close()
			return nil, nil, err
		}
		archive = mam.New(db, domain, mam.Config{Default: cfg.Archive.Default, Log: log})
		uploads = files.Account()
	}
	// Group chats: a deletion in direct mode leaves rooms too.
	rooms, err := newMUC(ctx, cfg, domain, db, log)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	var exporters []accounts.Exporter
	if rooms != nil {
		exporters = append(exporters, rooms)
	}
	acc, err := newAccounts(domain, db, archive, uploads, nil, log, exporters...)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	if rooms != nil {
		acc.AddHooks(mucHook(rooms, domain, nil))
	}
	logDir := filepath.Join(cfg.DataDir, logsDir)
	acc.AddHooks(rewriteLogsHook(func(f func(line []byte) bool) error {
		_, err := logs.Rewrite(logDir, logs.PrefixConn, f)
		return err
	}))
	host := domain
	if len(cfg.Web.Hosts) > 0 && cfg.Source("domain") != "default" {
		host = cfg.Web.Hosts[0]
	}
	handlers := newAdminHandlers(adminParts{
		domain:  domain,
		acc:     acc,
		maint:   retention.NewMaintenance(db, nil, cfg.Retention.MaintenanceMax, log, nil),
		db:      db,
		links:   inviteLinks{Domain: domain, Site: siteURL(host, listenPort(cfg.Web.ListenHTTPS))},
		dataDir: cfg.DataDir,

		limits: importLimits(&cfg),
	})
	return handlers, db.Close, nil
}

// retentionConfig maps the retention.* keys onto retention.Config.
func retentionConfig(c *Config) retention.Config {
	return retention.Config{
		Uploads:        c.Retention.Uploads,
		WebErrors:      c.Retention.WebErrors,
		ConnectionLogs: c.Retention.ConnectionLogs,
		Offline:        c.Retention.Offline,
		MaintenanceMax: c.Retention.MaintenanceMax,
		Sweep:          c.Retention.Sweep,
	}
}

// wired is what wireParts builds besides the store.
type wired struct {
	parts  []part
	addrs  appAddrs
	reload func() error
	// reloaders is the SIGHUP list; parts add to it while wiring.
	reloaders *reloaders
	admin     *admin.Handlers // the admin socket's commands
}

// wireParts builds the certificate source, the message archive, the XMPP
// server, the website with the account pages and the retention runner,
// and binds the web listeners (the certificate source needs them bound
// before it runs, to answer ACME challenges on them).
// On error, whatever it built is closed again.
func (a *app) wireParts(ctx context.Context) (w wired, err error) {
	cfg := &a.cfg
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	if err := a.db.SetSetting(ctx, domainSetting, []byte(cfg.Domain)); err != nil {
		return w, err
	}

	// Web listeners first.
	httpsLn, err := net.Listen("tcp", cfg.Web.ListenHTTPS)
	if err != nil {
		return w, fmt.Errorf("web.listen_https: %w", err)
	}
	undo = append(undo, func() { httpsLn.Close() })
	httpLn, err := net.Listen("tcp", cfg.Web.ListenHTTP)
	if err != nil {
		return w, fmt.Errorf("web.listen_http: %w", err)
	}
	undo = append(undo, func() { httpLn.Close() })

	// Certificates for the domain and every web host.
	httpHost, _ := splitAddr(cfg.Web.ListenHTTP)
	if h, _, _ := net.SplitHostPort(cfg.Web.ListenHTTP); h == "" {
		httpHost = "" // all interfaces
	}
	certs, err := certs.New(certs.Config{
		ACME:        cfg.TLS.ACME,
		Directory:   cfg.TLS.ACMEDirectory,
		Email:       cfg.TLS.ACMEEmail,
		CARootsFile: cfg.TLS.ACMECARoots,
		Challenges:  cfg.TLS.ACMEChallenge,
		CertFile:    cfg.TLS.CertFile,
		KeyFile:     cfg.TLS.KeyFile,
		Names:       certNames(*cfg),
		Dev:         cfg.Dev(),
		DataDir:     cfg.DataDir,
		ListenHost:  httpHost,
		HTTPPort:    tcpPort(httpLn.Addr()),
		TLSPort:     tcpPort(httpsLn.Addr()),
	}, a.db.CertStorage(), a.log)
	if err != nil {
		return w, err
	}
	undo = append(undo, certs.Close)

	// Counters without personal data (internal/metrics), always kept
	// (chatbx status reads them), served only on metrics.listen.
	var runner *retention.Runner
	met := metrics.New(metrics.Sources{
		Offline:    a.db.OfflineTotal,
		CertExpiry: certs.Expiries,
		Retention:  func() []metrics.PolicyRun { return retentionRuns(runner) },
	})

	// IP anonymisation and the maintenance switch (a window survives restarts).
	anon := logs.NewAnonymizer(nil)
	maint := retention.NewMaintenance(a.db, anon, cfg.Retention.MaintenanceMax, a.log, nil)
	if err := maint.Load(ctx); err != nil {
		return w, err
	}

	// The message archive: off for every account until its user turns it on.
	archive := mam.New(a.db, cfg.Domain, mam.Config{
		Default: cfg.Archive.Default,
		MaxAge:  cfg.Archive.MaxAge,
		Log:     component(a.log, "mam"),
	})

	// Group chat (XEP-0045): a local service on its own domain.
	rooms, err := newMUC(ctx, *cfg, cfg.Domain, a.db, component(a.log, "muc"))
	if err != nil {
		return w, err
	}
	domains := router.NewDomains(cfg.Domain)
	var discoItems []disco.Item
	var exporters []accounts.Exporter
	if rooms != nil {
		if err := domains.AddService(rooms.Domain(), rooms); err != nil {
			return w, fmt.Errorf("muc.domain: %w", err)
		}
		discoItems = append(discoItems, disco.Item{JID: rooms.Domain(), Name: "Group chats"})
		exporters = append(exporters, rooms)
	}

	httpsPort := tcpPort(httpsLn.Addr())

	// HTTP File Upload (XEP-0363): slots from the XMPP side, files on the web side.
	uploadBase := siteURL(cfg.Web.Hosts[0], httpsPort) + "/upload/"
	slotCfg := upload.Config{
		BaseURL:     uploadBase,
		MaxFileSize: int64(cfg.Upload.MaxFileSize),
		Quota:       int64(cfg.Upload.Quota),
		MaxPerDay:   cfg.Upload.MaxPerDay,
		Retention:   cfg.Retention.Uploads,
	}
	if cfg.Upload.MaxPerDay == 0 {
		slotCfg.MaxPerDay = -1 // upload.max_per_day = 0 switches the cap off
	}
	if err := slotCfg.Validate(); err != nil {
		return w, err
	}
	slots := upload.New(slotCfg, a.db)
	files, err := webupload.New(webupload.Config{
		Dir:         filepath.Join(cfg.DataDir, uploadsDir),
		BaseURL:     uploadBase,
		IdleTimeout: cfg.Upload.IdleTimeout,
		Quota:       int64(cfg.Upload.Quota),
		Log:         a.log,
		Metrics:     met,
	}, a.db)
	if err != nil {
		return w, err
	}
	c2sPort, c2sTLSPort := listenPort(cfg.C2S.Listen), listenPort(cfg.C2S.ListenTLS)
	site, err := web.New(web.Config{
		ServiceName:     cfg.ServiceName,
		Domain:          cfg.Domain,
		Hosts:           cfg.Web.Hosts,
		HTTPSPort:       httpsPort,
		ContentDir:      cfg.Web.ContentDir,
		ContactAdmin:    cfg.Contact.Admin,
		ContactAbuse:    cfg.Contact.Abuse,
		ArchiveDefault:  cfg.Archive.Default,
		GroupChat:       mucDomainOf(rooms),
		Retention:       web.Retention{Uploads: cfg.Retention.Uploads, WebErrors: cfg.Retention.WebErrors, ConnectionLogs: cfg.Retention.ConnectionLogs, Offline: cfg.Retention.Offline, Backups: cfg.Retention.Backups, GroupArchive: cfg.MUC.ArchiveMaxAge, LoginTokens: cfg.C2S.FastTokenTTL},
		IPAnonymisation: fmt.Sprintf("IPv4 /%d, IPv6 /%d", logs.KeepBitsV4, logs.KeepBitsV6),
		PortC2S:         c2sPort,
		PortC2STLS:      c2sTLSPort,
		PushSender:      cfg.Push.IncludeSender,
		PushBody:        cfg.Push.IncludeBody,

		HeaderTimeout:    cfg.Web.HeaderTimeout,
		BodyTimeout:      cfg.Web.BodyTimeout,
		WriteTimeout:     cfg.Web.WriteTimeout,
		MaxConnections:   cfg.Web.MaxConnections,
		PerIPConnections: cfg.Web.PerIPConnections,
	}, web.Deps{ErrorLog: a.logs.web, Log: a.log, AnonIP: anon.IPString})
	if err != nil {
		return w, err
	}
	undo = append(undo, func() { site.Close() })

	// The account service, shared by the account pages, in-band
	// registration (XEP-0077) and the admin socket. The XMPP server's
	// hooks (close sessions, tell contacts) are registered once the
	// server exists, before anything runs; the log rewrite comes last,
	// after the closing sessions' logout lines.
	invites := storeInvites{db: a.db}
	// One password guessing limit for XMPP login and the account pages.
	loginGuard := guard.New(guard.Config{
		NetworkFree: cfg.Accounts.LoginFailures,
		MaxBackoff:  cfg.Accounts.LoginMaxBackoff,
	}, nil)
	acc, err := accounts.New(accounts.Config{Domain: cfg.Domain, Iterations: scramIterations, UserInvites: cfg.Accounts.UserInvites},
		accounts.Deps{Store: a.db, Archive: archive, Uploads: files.Account(), Guard: loginGuard, Log: a.log, Exporters: exporters})
	if err != nil {
		return w, err
	}
	pages, err := account.New(account.Config{ServiceName: cfg.ServiceName}, account.Deps{
		Accounts: acc,
		Settings: a.db,
		Prefs:    a.db,
		Archive:  archive,
		Invites:  invites,
		Uploads:  files,
		Fast:     a.db,
		Log:      a.log,
	})
	if err != nil {
		return w, err
	}
	reg, err := register.New(register.Config{Domain: cfg.Domain, Registration: cfg.Accounts.Registration}, register.Deps{
		Accounts: acc,
		Invites:  invites,
		Log:      a.log,
	})
	if err != nil {
		return w, fmt.Errorf("accounts.registration: %w", err)
	}

	s2sCfg, err := cfg.S2SConfig()
	if err != nil {
		return w, err
	}
	srv, err := server.New(server.Config{
		S2S:                s2sCfg,
		Domain:             cfg.Domain,
		C2SListen:          cfg.C2S.Listen,
		C2SListenTLS:       cfg.C2S.ListenTLS,
		MaxStanzaBytes:     cfg.C2S.MaxStanzaBytes,
		NegotiationTimeout: cfg.C2S.NegotiationTimeout,
		IdleTimeout:        cfg.C2S.IdleTimeout,
		OfflineMax:         cfg.C2S.OfflineMax,
		VCardMaxBytes:      cfg.C2S.VCardBytes,
		PEP:                cfg.PEPConfig(),
		Push:               cfg.PushConfig(),
		ExtDisco:           cfg.ExtDiscoConfig(),
		ConnPerSecond:      float64(cfg.C2S.ConnPerSecond),
		ConnBurst:          cfg.C2S.ConnBurst,
		AuthFailBurst:      cfg.C2S.AuthBurst,
		FastTokenTTL:       cfg.C2S.FastTokenTTL,
		FastMaxTokens:      cfg.C2S.FastMaxTokens,
		QueueBytes:         cfg.C2S.QueueBytes,
		MaxConnections:     cfg.C2S.MaxConnections,
		MaxUnauthenticated: cfg.C2S.MaxUnauthenticated,
		ResumeTimeout:      cfg.C2S.ResumeTimeout,
		ResumeLocation:     cfg.C2S.ResumeLocation,
		SASLPlus:           cfg.C2S.SASLPlus,
		ContactAdmin:       cfg.Contact.Admin,
		ContactAbuse:       cfg.Contact.Abuse,
		Version:            moduleVersion(),
		DataPolicy: &disco.DataPolicy{
			Retention: map[string]time.Duration{
				"uploads":          cfg.Retention.Uploads,
				"connection-logs":  cfg.Retention.ConnectionLogs,
				"web-error-logs":   cfg.Retention.WebErrors,
				"offline-messages": cfg.Retention.Offline,
			},
			ArchiveDefault: cfg.Archive.Default,
			IPv4Prefix:     logs.KeepBitsV4,
			IPv6Prefix:     logs.KeepBitsV6,
			MaintenanceMax: cfg.Retention.MaintenanceMax,
			PolicyURL:      siteURL(cfg.Web.Hosts[0], httpsPort) + "/privacy",
			Extra:          mucPolicy(*cfg, rooms),
		},
		DiscoItems: discoItems,
		Extra:      []server.Service{archive, slots, reg},
	}, server.Deps{
		DB:        a.db,
		Log:       a.log,
		ConnLog:   a.logs.conn,
		Anon:      anon,
		StartTLS:  certs.StartTLSConfig,
		DirectTLS: certs.DirectTLSConfig(),
		Archive:   archive.Archive,
		Register:  reg,
		Guard:     loginGuard,
		Locked:    acc.IsLocked,
		Metrics:   met,
		Domains:   domains,
	})
	if err != nil {
		return w, err
	}
	acc.AddHooks(sessionHooks(srv))
	if rooms != nil {
		acc.AddHooks(mucHook(rooms, cfg.Domain, srv.Deliver))
	}
	acc.AddHooks(rewriteLogsHook(func(drop func(line []byte) bool) error {
		_, err := a.connSink.Rewrite(drop)
		return err
	}))

	if cfg.Web.WebSocket {
		// XMPP over WebSocket (RFC 7395) on the HTTPS listener, with the
		// same negotiation, handlers and limits as TCP; host-meta
		// (XEP-0156) tells browser clients where it is.
		site.Mount("/xmpp-websocket", ws.New(ctx, ws.Config{
			Domain:             cfg.Domain,
			MaxStanzaBytes:     cfg.C2S.MaxStanzaBytes,
			NegotiationTimeout: cfg.C2S.NegotiationTimeout,
			IdleTimeout:        cfg.C2S.IdleTimeout,
			Origins:            cfg.Web.WSOrigins,
		}, srv))
		hm := web.HostMeta(wsURL(cfg.Web.Hosts[0], httpsPort))
		site.Mount("/.well-known/host-meta", hm)
		site.Mount("/.well-known/host-meta.json", hm)
	}
	site.Mount("/account/", pages.Handler())
	site.Mount("/invite/", hideInviteToken(pages.Handler()))
	site.Mount(files.Pattern(), files)

	runner = retention.New(retentionConfig(cfg), retention.Deps{
		Log:     a.log,
		LogDir:  filepath.Join(cfg.DataDir, logsDir),
		Offline: a.db,
		// An expired offline message is bounced to its sender (issue 4).
		OnOfflineExpired: srv.OfflineExpired,
		Maintenance:      maint,
		Uploads:          files,
		Invites:          invites,
		Deletions:        retention.SweeperFunc(files.SweepDeleted),
		Scrub:            a.db,
	})
	if cfg.Archive.MaxAge > 0 {
		runner.Add(retention.Policy{Name: "archive", Period: cfg.Archive.MaxAge, Personal: true, Run: archive.Sweep})
	}
	if rooms != nil {
		// Archives of rooms whose owner switched archiving on.
		runner.Add(retention.Policy{Name: "muc-archive", Period: rooms.Config().ArchiveMaxAge, Personal: true, Run: rooms.Sweep})
	}
	// FAST login tokens (XEP-0484) go at their expiry: the cutoff is one
	// tick ahead, so no token record outlives it.
	fastTTL := cfg.C2S.FastTokenTTL
	if fastTTL <= 0 {
		fastTTL = server.DefaultConfig().FastTokenTTL // as c2s applies it
	}
	fastTick := retention.TickFor(fastTTL)
	runner.Add(retention.Policy{Name: "fast-tokens", Period: fastTTL, Tick: fastTick, Personal: true,
		Run: func(ctx context.Context, now time.Time) (int, error) { return a.db.ExpireFast(ctx, now.Add(fastTick)) }})

	w.addrs = appAddrs{https: httpsLn.Addr(), http: httpLn.Addr(), xmpp: srv.Addrs, groupChat: mucDomainOf(rooms)}
	if fed := srv.S2S(); fed != nil {
		w.addrs.s2s = fed.Addrs
	}
	// SIGHUP: the certificate files, the site's content directory, and
	// what other parts add to w.reloaders.
	w.reloaders = &reloaders{}
	w.reloaders.Add("certificates", certs.Reload)
	w.reloaders.Add("site content", site.Reload)
	w.reload = w.reloaders.Reload
	if fed := srv.S2S(); fed != nil {
		w.reloaders.Add("s2s block list", fed.ReloadBlocklist)
	}
	httpsSrv := site.Server(site.Handler())
	httpSrv := site.Server(site.RedirectHandler(certs.HTTPChallengeHandler))
	w.parts = []part{
		{name: "tls", run: certs.Run, ready: certs.Ready()},
		{name: "xmpp", run: xmppRun(srv, rooms), ready: srv.Ready()},
		{name: "web", run: func(ctx context.Context) error {
			defer site.Close()
			return serveHTTP(ctx, []*http.Server{httpsSrv, httpSrv},
				[]net.Listener{tls.NewListener(site.Listener(httpsLn), certs.HTTPSConfig()), site.Listener(httpLn)})
		}},
		{name: "retention", run: runner.Run},
	}
	if cfg.Metrics.Listen != "" {
		mp, addr, err := metricsPart(cfg.Metrics.Listen, met)
		if err != nil {
			return w, err
		}
		w.parts = append(w.parts, mp)
		w.addrs.metrics = addr
	}
	ap := adminParts{
		domain:  cfg.Domain,
		acc:     acc,
		maint:   maint,
		db:      a.db,
		links:   inviteLinks{Domain: cfg.Domain, Site: siteURL(cfg.Web.Hosts[0], httpsPort)},
		dataDir: cfg.DataDir,

		limits: importLimits(cfg),
		status: &statusSources{
			domain:    cfg.Domain,
			started:   time.Now(),
			certs:     certs.Status,
			sessions:  met.Sessions,
			s2s:       met.S2SLinks().Value,
			maint:     maint,
			retention: runner.Status,
			locked:    acc.LockedUsers,
		},
	}
	// An import through the admin socket drops the archive's cached
	// preferences of each account it writes.
	ap.limits.Imported = archive.Forget
	if fed := srv.S2S(); fed != nil {
		ap.spamReports = fed.SpamReports
	}
	w.admin = newAdminHandlers(ap)
	return w, nil
}

// serveHTTP serves each server on its listener until ctx ends or one fails,
// then shuts all down, giving open requests flushWindow to finish.
func serveHTTP(ctx context.Context, servers []*http.Server, lns []net.Listener) error {
	errc := make(chan error, len(servers))
	for i, s := range servers {
		go func() { errc <- s.Serve(lns[i]) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushWindow)
	defer cancel()
	for _, s := range servers {
		s.Shutdown(sctx)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// tcpPort returns the port of a TCP listener address.
func tcpPort(a net.Addr) int {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.Port
	}
	return 0
}

// listenPort returns the port of a listen address ("" → 0).
func listenPort(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// wsURL is the XMPP over WebSocket endpoint on host.
func wsURL(host string, port int) string {
	return "wss" + strings.TrimPrefix(siteURL(host, port), "https") + "/xmpp-websocket"
}

// siteURL is the HTTPS base URL of host.
func siteURL(host string, port int) string {
	if port == 443 || port == 0 {
		return "https://" + host
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// moduleVersion is the module version for XEP-0092 (never the OS).
func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
