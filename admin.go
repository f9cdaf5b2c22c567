package main

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
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// The admin socket lets the CLI talk to a running `chatbx serve`.
// bbolt locks the database file exclusively, so while the server runs,
// `chatbx user add` and friends cannot open it; they send their request here.
//
// Protocol: the client writes one JSON object per line (adminRequest) and
// reads one JSON object per line back (adminResponse). A connection may carry
// several requests; the client normally sends one and hangs up.
//
// Security: the socket lives in the data directory (mode 0700) and is itself
// mode 0600, so only the server's user (and root) can connect.
// Privacy: requests may carry passwords in Secret; they are never logged.

// adminSocketName is the socket's file name inside the data directory.
const adminSocketName = "admin.sock"

// adminRequest is one command sent to the running server.
type adminRequest struct {
	Cmd  string   `json:"cmd"`            // "user add", "user list", ...
	Args []string `json:"args,omitempty"` // positional arguments
	// Flags holds command options such as "for" of maintenance on.
	Flags map[string]string `json:"flags,omitempty"`
	// Secret holds values that must never be logged, such as "password".
	Secret map[string]string `json:"secret,omitempty"`
}

// adminResponse is the server's answer.
type adminResponse struct {
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	Output string `json:"output,omitempty"` // text for the user's terminal
	Data   []byte `json:"data,omitempty"`   // binary output (exports, backups), written after Output
}

// adminHandler runs one command. The returned output is shown to the user;
// an error becomes the response's Error. Handlers must not log Secret.
type adminHandler func(ctx context.Context, req adminRequest) (adminResponse, error)

// maxAdminRequest bounds one request line.
const maxAdminRequest = 1 << 20

// errAdminUnavailable means no server listens on the admin socket: the
// socket file is missing or nobody accepts on it (a stale file).
var errAdminUnavailable = errors.New("admin: no server listens on the admin socket")

// adminServer serves the admin socket. Create it with listenAdmin, then call Run.
type adminServer struct {
	path     string
	ln       *net.UnixListener
	handlers map[string]adminHandler
	log      zerolog.Logger
	wg       sync.WaitGroup
}

// listenAdmin creates the socket at path with mode 0600.
// A stale socket file left by a crashed server is removed; a socket that
// still answers means another server runs, which is an error.
// The handler map is not modified afterwards and may be shared.
func listenAdmin(path string, handlers map[string]adminHandler, log zerolog.Logger) (*adminServer, error) {
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
	return &adminServer{path: path, ln: ln, handlers: handlers, log: log}, nil
}

// Run accepts connections until ctx ends, then closes the socket (removing
// the file) and waits for running commands to finish.
func (s *adminServer) Run(ctx context.Context) error {
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
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, c)
		}()
	}
}

// Close stops accepting; Run returns after the running commands.
func (s *adminServer) Close() error { return s.ln.Close() }

func (s *adminServer) serveConn(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	r := bufio.NewReader(c)
	enc := json.NewEncoder(c)
	for {
		line, err := readLimitedLine(r, maxAdminRequest)
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				s.log.Warn().Err(err).Msg("admin request unreadable")
			}
			return
		}
		var req adminRequest
		var resp adminResponse
		if err := json.Unmarshal(line, &req); err != nil {
			resp.Error = "malformed request"
		} else {
			resp = s.handle(ctx, req)
		}
		if err := enc.Encode(resp); err != nil {
			return
		}
	}
}

func (s *adminServer) handle(ctx context.Context, req adminRequest) (resp adminResponse) {
	h, ok := s.handlers[req.Cmd]
	if !ok {
		return adminResponse{Error: fmt.Sprintf("unknown command %q", req.Cmd)}
	}
	start := time.Now()
	defer func() {
		// A handler panic ends this command only.
		if p := recover(); p != nil {
			s.log.Error().Str("cmd", req.Cmd).Msg("admin command panicked")
			resp = adminResponse{Error: "internal error"}
		}
	}()
	resp, err := h(ctx, req)
	if err != nil {
		resp = adminResponse{Error: err.Error()}
	} else {
		resp.OK = true
	}
	// Privacy: only the command name is logged, never arguments or secrets.
	s.log.Info().Str("cmd", req.Cmd).Bool("ok", resp.OK).Dur("took", time.Since(start)).Msg("admin command")
	return resp
}

// readLimitedLine reads one '\n'-terminated line of at most max bytes.
func readLimitedLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max {
			return nil, errors.New("admin: request too long")
		}
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				return line, nil
			}
			return nil, err
		}
	}
}

// adminCall sends one request over the socket at path and returns the answer.
// It returns errAdminUnavailable when no server listens there, so the caller
// can fall back to opening the database itself. A response with OK false is
// returned as an error carrying the server's message.
func adminCall(ctx context.Context, path string, req adminRequest) (adminResponse, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return adminResponse{}, errAdminUnavailable
		}
		return adminResponse{}, fmt.Errorf("admin: connect %s: %w", path, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return adminResponse{}, fmt.Errorf("admin: send: %w", err)
	}
	var resp adminResponse
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		if ctx.Err() != nil {
			return adminResponse{}, ctx.Err()
		}
		return adminResponse{}, fmt.Errorf("admin: no answer from the server: %w", err)
	}
	if !resp.OK {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}

// adminSocketPath returns <data_dir>/admin.sock.
func adminSocketPath(dataDir string) string {
	return filepath.Join(dataDir, adminSocketName)
}
