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
// query string, which is what the privacy policy allows. main points that
// logger at the web-error log files, which retention deletes after the
// configured period.
package web
