// Package web serves chatbx's HTTPS site and the plain-HTTP redirect.
//
// Web.Handler is the handler for the HTTPS listener: the pages of package
// site (home, privacy policy, imprint; under /, /de/… and /en/…), the
// style sheet, and whatever other parts mount with Web.Mount (the account
// pages, uploads). Web.RedirectHandler is the handler for port 80: it
// answers ACME HTTP-01 challenges (through the function main passes in)
// and sends everything else to HTTPS.
//
// Every response from either handler carries the same security headers
// (HSTS, a strict Content-Security-Policy, nosniff, no referrer, a minimal
// Permissions-Policy) and never a Set-Cookie header, even if a mounted
// handler tries to set one.
//
// Privacy: successful requests are not logged at all. A response with a
// status of 400 or more is logged as exactly one line to Deps.ErrorLog with
// the time, the client IP address, the status and the path without its
// query string, which is what the privacy policy allows. The path is the
// one the client sent, cleaned and decoded, and cut after an invite
// segment (the token is a credential) or after the id of an upload
// segment (a file name may say what the file is), however it was written.
// main points that logger at the web-error log files, which retention
// deletes after the configured period.
//
// # Limits
//
// Web.Server and Web.Listener carry the connection limits: HeaderTimeout
// for the TLS handshake and request header, BodyTimeout for a request
// body (however steadily it trickles; lifted once the body is read, and
// replaced by web/upload's progress deadline for uploads), WriteTimeout
// for each write of a response (a response the client keeps reading may
// take as long as it needs), and MaxConnections in all and
// PerIPConnections per client address (IPv6: per /64), beyond which a
// connection is closed as soon as it is accepted. The addresses are
// counted in memory only while their connections are open.
package web
