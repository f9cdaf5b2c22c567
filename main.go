// Command chatbx is a self-hosted, privacy-first XMPP server in one binary.
//
// main.go holds the wiring of `chatbx serve`: configuration → logs → store →
// certificates → server, web, retention → signals → shutdown in reverse
// order, store last. The command line lives in cli.go, the configuration in
// config.go, the admin socket in admin.go.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"chatbx/retention/logs"
	"chatbx/store"
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
	db    *store.DB
	admin *adminServer
	parts []part
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
func startApp(ctx context.Context, cfg Config, stderr io.Writer) (a *app, err error) {
	a = &app{cfg: cfg}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	a.openLogs(stderr)
	path := filepath.Join(cfg.DataDir, dbFileName)
	a.db, err = store.Open(path, store.Options{})
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
	handlers := userHandlers(storeAccounts{a.db}, w.kickUser)
	for name, h := range w.admin {
		handlers[name] = h
	}
	a.admin, err = listenAdmin(adminSocketPath(cfg.DataDir), handlers, component(a.log, "admin"))
	if err != nil {
		return nil, err
	}
	return a, nil
}

// run serves until ctx ends or a part fails, then shuts down: every part
// returns (admin socket, server, web, retention), the store closes last.
func (a *app) run(ctx context.Context, stdout io.Writer) error {
	defer a.close()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.admin.Run(gctx) })
	for _, p := range a.parts {
		g.Go(func() error {
			if err := p.run(gctx); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		for _, p := range a.parts {
			if p.ready == nil {
				continue
			}
			select {
			case <-p.ready:
			case <-gctx.Done():
				return nil
			}
		}
		a.log.Info().Str("domain", a.cfg.Domain).Msg("serving")
		if a.cfg.dev {
			writeDevInstructions(stdout, &a.cfg)
		}
		return nil
	})
	err := g.Wait()
	if err != nil {
		a.log.Error().Err(err).Msg("stopped with error")
	} else {
		a.log.Info().Msg("stopped")
	}
	return err
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
	level, err := zerolog.ParseLevel(a.cfg.Log.Level)
	if err != nil {
		level = zerolog.InfoLevel // checked by config already
	}
	to := func(w io.Writer) zerolog.Logger {
		if a.cfg.Log.Stderr {
			w = zerolog.MultiLevelWriter(w, zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.TimeOnly})
		}
		return zerolog.New(w).Level(level).With().Timestamp().Logger()
	}
	a.log = to(server)
	a.logs = appLogs{base: a.log, conn: to(conn), web: to(web)}
}

// component returns log with the component field set.
func component(log zerolog.Logger, name string) zerolog.Logger {
	return log.With().Str("component", name).Logger()
}

// storeAccounts adapts store.DB to the accounts interface of the user commands.
type storeAccounts struct{ db *store.DB }

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
	return nil
}

func (s storeAccounts) DeleteUser(ctx context.Context, user string) error {
	if err := s.db.DeleteUser(ctx, user); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errNoSuchUser
		}
		return err
	}
	return nil
}

func (s storeAccounts) Users(ctx context.Context) ([]string, error) { return s.db.Users(ctx) }

// passwordError hides the store's wording (it may quote PRECIS details).
func passwordError(err error) error {
	if errors.Is(err, store.ErrInvalid) {
		return errors.New("invalid password: use printable characters")
	}
	return err
}

// openStoreAccounts opens the database for a user command while no server
// runs. Only `user add` (create) makes a new data directory and database;
// the other commands refuse a missing database, which usually means a
// wrong --data-dir.
func openStoreAccounts(_ context.Context, cfg Config, create bool) (accounts, func() error, error) {
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
	return storeAccounts{db}, db.Close, nil
}

// wired is what wireParts builds besides the store.
type wired struct {
	parts    []part
	kickUser func(user string)       // closes a user's sessions; nil until the server is wired
	admin    map[string]adminHandler // commands the parts add to the admin socket
}

// wireParts builds the certificate source, the XMPP server, the website and
// the retention runner, in that order, and binds their listeners.
//
// TODO(#2): the server/, web/, retention/ packages and tls.go are being
// written in parallel; they are wired here as they land.
func (a *app) wireParts(ctx context.Context) (wired, error) {
	a.log.Warn().Msg("xmpp server, website and retention are not wired yet")
	return wired{}, nil
}
