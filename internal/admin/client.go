package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// ErrUnavailable means no server listens on the admin socket: the socket
// file is missing or nobody accepts on it (a stale file).
var ErrUnavailable = errors.New("admin: no server listens on the admin socket")

// Call sends one request over the socket at path and returns the answer.
// It returns ErrUnavailable when no server listens there, so the caller
// can fall back to opening the database itself. A response with OK false
// is returned with an error carrying the server's message.
// ctx bounds the whole call, the command's run time included.
func Call(ctx context.Context, path string, req Request) (Response, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return Response{}, ErrUnavailable
		}
		return Response{}, fmt.Errorf("admin: connect %s: %w", path, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	var resp Response
	if err := json.NewEncoder(c).Encode(req); err != nil {
		// The server may have refused the request before reading all of
		// it (ErrTooLarge): its answer is still there to read.
		if derr := json.NewDecoder(c).Decode(&resp); derr != nil || resp.Error == "" {
			return Response{}, fmt.Errorf("admin: send: %w", err)
		}
		return resp, errors.New(resp.Error)
	}
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		if ctx.Err() != nil {
			return Response{}, ctx.Err()
		}
		return Response{}, fmt.Errorf("admin: no answer from the server: %w", err)
	}
	if !resp.OK {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}
