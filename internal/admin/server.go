package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// MaxConns bounds the connections served at once; more are answered
// ErrBusy and closed.
const MaxConns = 16

// IdleTimeout closes a connection that sends no complete request for this
// long. Commands themselves may run longer (an import, a backup).
const IdleTimeout = time.Minute

// ErrBusy is the answer to a connection beyond MaxConns.
var ErrBusy = errors.New("admin: server busy: too many admin connections")

// Server serves the admin socket. Create it with Listen, then call Run.
type Server struct {
	path     string
	ln       *net.UnixListener
	handlers *Handlers
	log      zerolog.Logger
	wg       sync.WaitGroup
	slots    chan struct{} // one per served connection, MaxConns
	idle     time.Duration // IdleTimeout; tests shorten it
}

// Listen creates the socket at path with mode 0600.
// A stale socket file left by a crashed server is removed; a socket that
// still answers means another server runs, which is an error, and any
// other file in the way is an error too.
// handlers may be nil (no commands); it must not change afterwards.
func Listen(path string, handlers *Handlers, log zerolog.Logger) (*Server, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("admin: %s exists and is not a socket", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("admin: another server answers on %s", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("admin: remove stale socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("admin: listen: %w", err)
	}
	// The data directory is 0700, so nobody else can connect in the short
	// window before the chmod.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin: chmod socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	return &Server{path: path, ln: ln, handlers: handlers, log: log,
		slots: make(chan struct{}, MaxConns), idle: IdleTimeout}, nil
}

// Serve listens on path (as Listen) and serves handlers until ctx ends
// (as Run).
func Serve(ctx context.Context, path string, handlers *Handlers, log zerolog.Logger) error {
	s, err := Listen(path, handlers, log)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// Run accepts connections until ctx ends or Close is called, then closes
// the socket (removing the file) and waits for running commands to finish.
// It returns nil then.
func (s *Server) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.ln.Close() })
	defer stop()
	defer s.wg.Wait()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.log.Error().Err(err).Msg("admin accept failed")
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.log.Warn().Msg("admin connection refused: too many")
			s.refuse(c)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			s.serveConn(ctx, c)
		}()
	}
}

// Handlers returns the handlers s serves (nil if it was given none).
func (s *Server) Handlers() *Handlers { return s.handlers }

// Close stops accepting; Run returns after the running commands.
func (s *Server) Close() error { return s.ln.Close() }

// refuse answers ErrBusy without reading, and closes c.
func (s *Server) refuse(c *net.UnixConn) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	json.NewEncoder(c).Encode(Response{Error: ErrBusy.Error()})
	c.Close()
}

func (s *Server) serveConn(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	r := bufio.NewReader(c)
	enc := json.NewEncoder(c)
	for {
		c.SetReadDeadline(time.Now().Add(s.idle))
		if ctx.Err() != nil {
			// The AfterFunc may have run before the deadline above.
			return
		}
		req, err := ReadRequest(r)
		var resp Response
		switch {
		case errors.Is(err, ErrMalformed):
			resp.Error = err.Error()
		case errors.Is(err, ErrTooLarge):
			// The rest of the line is not read: answer and hang up.
			s.log.Warn().Err(err).Msg("admin request refused")
			enc.Encode(Response{Error: err.Error()})
			return
		case err != nil:
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				s.log.Warn().Err(err).Msg("admin request unreadable")
			}
			return
		default:
			resp = s.handle(ctx, req)
		}
		if err := enc.Encode(resp); err != nil {
			return
		}
	}
}

func (s *Server) handle(ctx context.Context, req Request) Response {
	start := time.Now()
	resp, err := s.handlers.Run(ctx, req)
	if err != nil {
		if errors.Is(err, ErrInternal) {
			s.log.Error().Str("cmd", req.Cmd).Msg("admin command panicked")
		}
		resp = Response{Error: err.Error()}
	}
	// Privacy: only the command name is logged, never arguments or secrets.
	s.log.Info().Str("cmd", req.Cmd).Bool("ok", resp.OK).Dur("took", time.Since(start)).Msg("admin command")
	return resp
}
