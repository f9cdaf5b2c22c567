package main

import (
	"fmt"
	"io"
	"net"
)

// writeDevInstructions tells a developer how to use a `serve --dev` server:
// how to add a user and how to point a client at it.
func writeDevInstructions(w io.Writer, c *Config) {
	c2sHost, c2sPort := splitAddr(c.C2S.Listen)
	_, tlsPort := splitAddr(c.C2S.ListenTLS)
	webHost, webPort := splitAddr(c.Web.ListenHTTPS)
	dataFlag := ""
	if c.Source("data_dir") != "default" {
		dataFlag = " --data-dir " + c.DataDir
	}
	fmt.Fprintf(w, `
chatbx is running in development mode (--dev).

  domain     %[1]s
  data       %[2]s
  XMPP       %[3]s:%[4]s (STARTTLS), %[3]s:%[5]s (direct TLS)
  website    https://%[1]s:%[7]s/  (listening on %[6]s)

Add a user (the password is read from the terminal, or from the first line of stdin):

  go run . user add --dev%[8]s alice

Connect a client as alice@%[1]s with host %[3]s and port %[4]s. The certificate is
self-signed: accept it when the client asks (Gajim and Dino show its fingerprint,
Profanity: /tls trust, Conversations: "Trust certificate" in the account menu).
Examples:

  gajim:       Add account > Advanced > Hostname %[3]s, Port %[4]s
  profanity:   /connect alice@%[1]s server %[3]s port %[4]s
  go-sendxmpp: echo hello | go-sendxmpp -n -u alice@%[1]s -p PASSWORD -j %[3]s:%[4]s bob@%[1]s

Stop with Ctrl-C.
`, c.Domain, c.DataDir, c2sHost, c2sPort, tlsPort, net.JoinHostPort(webHost, webPort), webPort, dataFlag)
}

// splitAddr splits a listen address; an empty host becomes 127.0.0.1 (what a
// local client dials).
func splitAddr(addr string) (host, port string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return host, port
}
