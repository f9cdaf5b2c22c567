package web

import (
	"io"
	"log"
	"net/http"
	"time"
)

// NewServer returns an http.Server for h with the timeouts and limits
// chatbx uses on both web listeners.
// Privacy: net/http's own error log (TLS handshake errors and the like)
// names the full client address, so it is discarded.
// Serve it on a TLS listener made from the certificate source's HTTPS
// tls.Config (tls.NewListener), or on the plain listener for the redirect.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
}
