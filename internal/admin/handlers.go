package admin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Handler runs one command. The returned Response's Output and Data are
// shown to the user; an error becomes the response's Error, and the
// Response is then dropped. Handlers must not log Request.Secret.
type Handler func(ctx context.Context, req Request) (Response, error)

var (
	// ErrUnknownCommand is returned by Handlers.Run for a command that
	// has no handler.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrInternal is returned by Handlers.Run when the handler panicked:
	// the panic ends that command only.
	ErrInternal = errors.New("internal error")
)

// Handlers maps command names ("user add") to their handlers. The server
// (Serve, Server) and the command line's direct mode dispatch through Run,
// so both behave the same.
//
// Add must not be called once the handlers are served; lookups and Run
// are then safe for concurrent use. A nil *Handlers has no commands.
type Handlers struct {
	m map[string]Handler
}

// NewHandlers returns an empty set of handlers.
func NewHandlers() *Handlers { return &Handlers{m: map[string]Handler{}} }

// Add registers h under name. It panics on an empty name, a nil handler or
// a name registered before, as http.ServeMux does: two handlers for one
// command are a wiring mistake.
func (hs *Handlers) Add(name string, h Handler) {
	if name == "" || h == nil {
		panic("admin: Add needs a name and a handler")
	}
	if _, dup := hs.m[name]; dup {
		panic(fmt.Sprintf("admin: command %q registered twice", name))
	}
	hs.m[name] = h
}

// AddAll registers every handler of m, as Add does.
func (hs *Handlers) AddAll(m map[string]Handler) {
	for _, name := range slices.Sorted(maps.Keys(m)) {
		hs.Add(name, m[name])
	}
}

// Lookup returns the handler of the command name.
func (hs *Handlers) Lookup(name string) (Handler, bool) {
	if hs == nil {
		return nil, false
	}
	h, ok := hs.m[name]
	return h, ok
}

// Names returns the registered command names, sorted.
func (hs *Handlers) Names() []string {
	if hs == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(hs.m))
}

// Run runs the handler of req.Cmd. On success the Response has OK set.
// It returns an error wrapping ErrUnknownCommand (`unknown command "x"`)
// when no handler has that name, ErrInternal when the handler panicked,
// and the handler's error otherwise.
func (hs *Handlers) Run(ctx context.Context, req Request) (resp Response, err error) {
	h, ok := hs.Lookup(req.Cmd)
	if !ok {
		return Response{}, fmt.Errorf("%w %q", ErrUnknownCommand, req.Cmd)
	}
	defer func() {
		// Privacy: the panic value may hold request data; it is dropped.
		if p := recover(); p != nil {
			resp, err = Response{}, ErrInternal
		}
	}()
	resp, err = h(ctx, req)
	if err != nil {
		return Response{}, err
	}
	resp.OK = true
	resp.Error = ""
	return resp, nil
}
