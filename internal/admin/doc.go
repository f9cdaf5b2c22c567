// Package admin is the admin socket protocol: how the chatbx command line
// talks to a running `chatbx serve`, and how it runs the same commands
// itself when no server runs.
//
// bbolt locks the database file exclusively, so while the server runs,
// `chatbx user add` and friends cannot open it; they send their request to
// the socket <data_dir>/admin.sock (SocketPath) instead. When nobody
// listens there (Call returns ErrUnavailable), the command line opens the
// database itself and dispatches the request through the same Handlers,
// which package main builds with one constructor for both modes.
//
// # Protocol
//
// The client writes one JSON object per line (Request) and reads one JSON
// object per line back (Response). A connection may carry several
// requests; the client normally sends one and hangs up. A line that is not
// a JSON object is answered with "malformed request" and the connection
// stays open.
//
// # Limits
//
// The socket is local and mode 0600, but its peer is still treated as
// untrusted input: a request line longer than MaxRequest bytes is refused
// with a clear error (ErrTooLarge) and the connection is closed, without
// buffering more than MaxRequest bytes; a connection that sends no
// complete request for IdleTimeout is closed; and at most MaxConns
// connections are served at once (more are answered ErrBusy and closed),
// so memory stays bounded by MaxConns × MaxRequest.
//
// # Security and privacy
//
// The socket lives in the data directory (mode 0700) and is itself mode
// 0600, so only the server's user (and root) can connect. Requests may
// carry passwords in Request.Secret; they are never logged: the server
// logs the command name, its outcome and its duration only.
package admin
