// Command chatbx is a self-hosted, privacy-first XMPP server in one binary.
//
// main.go holds the wiring of `chatbx serve`: configuration → logs → store →
// certificates → server, web, retention → signals → shutdown in reverse
// order, store last. The command line lives in cli.go, the configuration in
// config.go, the admin socket in admin.go.
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

	"chatbx/internal/guard"
	"chatbx/retention"
	"chatbx/retention/logs"
	"chatbx/server"
	"chatbx/server/disco"
	"chatbx/server/mam"
	"chatbx/server/register"
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
	admin    *adminServer
	parts    []part
	addrs    appAddrs
	// reload re-reads what an operator may change while the server runs
	// (the certificate files); run calls it on SIGHUP.
	reload func() error
}

// appAddrs are the bound listener addresses (tests dial them).
type appAddrs struct {
	https, http net.Addr
	// xmpp returns the c2s addresses (STARTTLS, direct TLS) once the
	// server is ready.
	xmpp func() []net.Addr
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
	a := &app{cfg: cfg}
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
	a.db, err = store.Open(path, store.Options{Limits: storeLimits(&cfg)})
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
	a.admin, err = listenAdmin(adminSocketPath(cfg.DataDir), w.admin, component(a.log, "admin"))
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
		if a.cfg.dev {
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
	a.log = zerolog.New(tee(server)).Level(level).With().Timestamp().Logger()
	a.logs = appLogs{
		base: a.log,
		// Privacy: a connection log line is exactly time, event, user and
		// anonymised IP, so the level field is cut from the file.
		conn: zerolog.New(tee(dropLevel{conn})).With().Timestamp().Logger(),
		// web writes its fields (time, ip, status, path) itself.
		web: zerolog.New(tee(web)),
	}
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

// storeAccounts implements the admin user commands over the store and the
// account operations of web/account, the same code path as the web pages.
type storeAccounts struct {
	db  *store.DB
	mgr *account.Manager
	// sessions closes sessions after a password change; nil without a server.
	sessions account.Sessions
}

func (s storeAccounts) AddUser(ctx context.Context, user, password string) error {
	c, err := store.DeriveCredentials(password, scramIterations)
	if err != nil {
		return passwordError(err)
	}
	if err := s.db.CreateUser(ctx, user, c); err != nil {
		if errors.Is(err, store.ErrExists) {
			return errUserExists
		}
		return err
	}
	return nil
}

// SetPassword sets the password without the web page's length rules (the
// operator decides) and closes the user's sessions, as the web page does.
func (s storeAccounts) SetPassword(ctx context.Context, user, password string) error {
	c, err := store.DeriveCredentials(password, scramIterations)
	if err != nil {
		return passwordError(err)
	}
	if err := s.db.SetCredentials(ctx, user, c); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNoSuchUser
		}
		return err
	}
	if s.sessions != nil {
		s.sessions.KickUser(user, "reset")
	}
	return nil
}

func (s storeAccounts) DeleteUser(ctx context.Context, user string) (string, error) {
	d, err := s.mgr.Delete(ctx, user)
	if errors.Is(err, account.ErrAuth) {
		return "", errNoSuchUser
	}
	summary := fmt.Sprintf(" (%d roster items, %d offline messages, %d private items, %d blocked addresses, %d uploads; removed from %d rosters)",
		d.RosterItems, d.OfflineMessages, d.PrivateItems, d.BlockedJIDs, d.Uploads, d.ContactRosters)
	if errors.Is(err, account.ErrIncomplete) {
		return "", fmt.Errorf("user deleted%s, but clean-up is incomplete (retention finishes it): %w", summary, err)
	}
	return summary, err
}

func (s storeAccounts) Users(ctx context.Context) ([]string, error) { return s.db.Users(ctx) }

func (s storeAccounts) Export(ctx context.Context, user string, w io.Writer) error {
	err := s.mgr.Export(ctx, user, w)
	if errors.Is(err, account.ErrAuth) {
		return errNoSuchUser
	}
	return err
}

// passwordError hides the store's wording (it may quote PRECIS details).
func passwordError(err error) error {
	if errors.Is(err, store.ErrInvalid) {
		return errors.New("invalid password: use printable characters")
	}
	return err
}

// noSessions stands in for the server while none runs.
type noSessions struct{}

func (noSessions) KickUser(string, string) {}

// openDirectHandlers opens the database for an admin command while no
// server runs and returns the same handlers the admin socket serves.
// Only `user add` (create) makes a new data directory and database;
// the other commands refuse a missing database, which usually means a
// wrong --data-dir.
func openDirectHandlers(ctx context.Context, cfg Config, create bool) (map[string]adminHandler, func() error, error) {
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
	if cfg.source["domain"] == "default" {
		// The server records its domain; it wins over a default.
		if d, err := db.Setting(ctx, domainSetting); err == nil && len(d) > 0 {
			domain = string(d)
		}
	}
	log := zerolog.Nop()
	logDir := filepath.Join(cfg.DataDir, logsDir)
	handlers := map[string]adminHandler{}
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
		mgr, err := account.NewManager(account.Config{Domain: domain, ServiceName: cfg.ServiceName}, account.Deps{
			Store:    db,
			Sessions: noSessions{},
			Archive:  mam.New(db, domain, mam.Config{Default: cfg.Archive.Default, Log: log}),
			Uploads:  files.Account(),
			Log:      log,
			ConnLogRewriter: func(user string) error {
				_, err := logs.Rewrite(logDir, logs.PrefixConn, logs.DropUser(user))
				return err
			},
		})
		if err != nil {
			db.Close()
			return nil, nil, err
		}
		handlers = adminHandlers(domain, storeAccounts{db: db, mgr: mgr}, nil)
	} else {
		// Without a domain, deletion cannot find the account in local
		// contacts' rosters: only the commands that need none are offered.
		for name, h := range userHandlers("", storeAccounts{db: db}) {
			if name == "user delete" || name == "user export" {
				h = func(context.Context, adminRequest) (adminResponse, error) {
					return adminResponse{}, errors.New("this command needs the domain: pass --domain or --config (or run it while the server runs)")
				}
			}
			handlers[name] = h
		}
	}
	for name, h := range maintenanceHandlers(retention.NewMaintenance(db, nil, cfg.Retention.MaintenanceMax, log, nil)) {
		handlers[name] = h
	}
	for name, h := range directInviteHandlers(&cfg, domain, db) {
		handlers[name] = h
	}
	handlers["backup"] = backupHandler(cfg.DataDir, db.Backup)
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
	admin  map[string]adminHandler // the admin socket's commands
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
	certs, err := newCertSource(tlsConfig{
		ACME:        cfg.TLS.ACME,
		Directory:   cfg.TLS.ACMEDirectory,
		Email:       cfg.TLS.ACMEEmail,
		CARootsFile: cfg.TLS.ACMECARoots,
		Challenges:  cfg.TLS.ACMEChallenge,
		CertFile:    cfg.TLS.CertFile,
		KeyFile:     cfg.TLS.KeyFile,
		Names:       append([]string{cfg.Domain}, cfg.Web.Hosts...),
		Dev:         cfg.dev,
		DataDir:     cfg.DataDir,
		ListenHost:  httpHost,
		HTTPPort:    tcpPort(httpLn.Addr()),
		TLSPort:     tcpPort(httpsLn.Addr()),
	}, a.db.CertStorage(), a.log)
	if err != nil {
		return w, err
	}
	undo = append(undo, certs.Close)

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
		Retention:       web.Retention{Uploads: cfg.Retention.Uploads, WebErrors: cfg.Retention.WebErrors, ConnectionLogs: cfg.Retention.ConnectionLogs, Offline: cfg.Retention.Offline},
		IPAnonymisation: fmt.Sprintf("IPv4 /%d, IPv6 /%d", logs.KeepBitsV4, logs.KeepBitsV6),
		PortC2S:         c2sPort,
		PortC2STLS:      c2sTLSPort,

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

	// Account operations, shared by the account pages, in-band
	// registration (XEP-0077) and `chatbx user delete/export`. They close
	// sessions and tell contacts through the server, which needs in-band
	// registration in turn: sess is bound to the server right after New.
	sess := &sessions{}
	connLogRewriter := func(user string) error {
		_, err := a.connSink.Rewrite(logs.DropUser(user))
		return err
	}
	invites := storeInvites{db: a.db}
	// One password guessing limit for XMPP login and the account pages.
	loginGuard := guard.New(guard.Config{
		NetworkFree: cfg.Accounts.LoginFailures,
		MaxBackoff:  cfg.Accounts.LoginMaxBackoff,
	}, nil)
	pages, err := account.New(account.Config{Domain: cfg.Domain, ServiceName: cfg.ServiceName}, account.Deps{
		Store:           a.db,
		Sessions:        sess,
		Contacts:        sess,
		Archive:         archive,
		Uploads:         files.Account(),
		Invites:         invites,
		Log:             a.log,
		ConnLogRewriter: connLogRewriter,
		Guard:           loginGuard,
	})
	if err != nil {
		return w, err
	}
	reg, err := register.New(register.Config{Domain: cfg.Domain, Registration: cfg.Accounts.Registration}, register.Deps{
		Accounts: pages.Manager(),
		Sessions: sess,
		Invites:  invites,
		Log:      a.log,
	})
	if err != nil {
		return w, fmt.Errorf("accounts.registration: %w", err)
	}

	srv, err := server.New(server.Config{
		Domain:             cfg.Domain,
		C2SListen:          cfg.C2S.Listen,
		C2SListenTLS:       cfg.C2S.ListenTLS,
		MaxStanzaBytes:     cfg.C2S.MaxStanzaBytes,
		NegotiationTimeout: cfg.C2S.NegotiationTimeout,
		IdleTimeout:        cfg.C2S.IdleTimeout,
		OfflineMax:         cfg.C2S.OfflineMax,
		VCardMaxBytes:      cfg.C2S.VCardBytes,
		PEP:                pepConfig(cfg),
		ConnPerSecond:      float64(cfg.C2S.ConnPerSecond),
		ConnBurst:          cfg.C2S.ConnBurst,
		AuthFailBurst:      cfg.C2S.AuthBurst,
		QueueBytes:         cfg.C2S.QueueBytes,
		MaxConnections:     cfg.C2S.MaxConnections,
		MaxUnauthenticated: cfg.C2S.MaxUnauthenticated,
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
		},
		Extra: []server.Service{archive, slots, reg},
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
	})
	if err != nil {
		return w, err
	}
	sess.srv = srv

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

	runner := retention.New(retentionConfig(cfg), retention.Deps{
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

	w.addrs = appAddrs{https: httpsLn.Addr(), http: httpLn.Addr(), xmpp: srv.Addrs}
	w.reload = certs.Reload
	httpsSrv := site.Server(site.Handler())
	httpSrv := site.Server(site.RedirectHandler(certs.HTTPChallengeHandler))
	w.parts = []part{
		{name: "tls", run: certs.Run, ready: certs.Ready()},
		{name: "xmpp", run: srv.Run, ready: srv.Ready()},
		{name: "web", run: func(ctx context.Context) error {
			defer site.Close()
			return serveHTTP(ctx, []*http.Server{httpsSrv, httpSrv},
				[]net.Listener{tls.NewListener(site.Listener(httpsLn), certs.HTTPSConfig()), site.Listener(httpLn)})
		}},
		{name: "retention", run: runner.Run},
	}
	w.admin = adminHandlers(cfg.Domain, storeAccounts{db: a.db, mgr: pages.Manager(), sessions: srv}, maint)
	w.admin["backup"] = backupHandler(cfg.DataDir, a.db.Backup)
	for name, h := range inviteHandlers(inviteLinks{Domain: cfg.Domain, Site: siteURL(cfg.Web.Hosts[0], httpsPort)}, a.db, nil) {
		w.admin[name] = h
	}
	return w, nil
}

// sessions hands the account operations and in-band registration the XMPP
// server's session control. Its srv is set once, after server.New and
// before anything runs.
type sessions struct{ srv *server.Server }

var (
	_ account.SessionWaiter = (*sessions)(nil)
	_ account.Contacts      = (*sessions)(nil)
	_ register.Sessions     = (*sessions)(nil)
)

func (s *sessions) KickUser(user, condition string) { s.srv.KickUser(user, condition) }

func (s *sessions) KickUserWait(ctx context.Context, user, self, condition string) error {
	return s.srv.KickUserWait(ctx, user, self, condition)
}

func (s *sessions) KickOthers(user, keep, condition string) { s.srv.KickOthers(user, keep, condition) }

func (s *sessions) AccountDeleted(ctx context.Context, user string, roster []store.RosterItem) {
	s.srv.AccountDeleted(ctx, user, roster)
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
