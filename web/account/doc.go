// Package account implements the self-service account pages under
// /account/ and the account operations behind them, which in-band
// registration (XEP-0077, package server/register) and the admin CLI share.
//
// # Operations
//
// Manager carries out the operations: Verify (constant answer for unknown
// users and wrong passwords), SetPassword, Export (a zip holding a
// XEP-0227 document, the archive as JSON and the upload list) and Delete.
// Delete removes the account from other local rosters, deletes every byte
// of the account in one store transaction (store.DB.DeleteUser, which
// scrubs the freed database pages so deleted data is not readable in the
// file), unlinks its uploads, closes its sessions, tells its contacts and
// rewrites the connection logs without its lines. DeleteNotify lets
// XEP-0077 queue its answer between the store transaction and the closing
// of the sessions; a Sessions value that also implements SessionWaiter
// lets the log rewrite follow the sessions' last log lines.
//
// # Pages
//
// Pages serves plain HTML forms (no script, no cookie, no session):
// /account/ (index), /account/delete, /account/export, /account/password
// and /account/archive. Each POST must
//
//   - not come from another site: Sec-Fetch-Site must be same-origin or
//     none (or absent), and an Origin header must name this site or be
//     "null" (Chromium sends "null" with Referrer-Policy no-referrer);
//   - carry the hidden token the page was rendered with: an HMAC-SHA256
//     over the form's name and an expiry, keyed with 32 random bytes kept
//     in the store setting "web.form_key";
//   - name the account and its password. Failed checks are throttled per
//     client address (IPv6 per /64) and per account, in memory only.
//
// With Deps.Invites set, /invite/{token} shows an invitation: its
// XEP-0401 xmpp: URI (InviteURI), a QR code of it drawn on the server,
// and a registration form for clients without invite support, under the
// same token, origin and throttling rules. Manager.Create applies the
// username rules (PRECIS, at most MaxUsername bytes, reserved names).
//
// Answers never echo a password, say the same for an unknown user and a
// wrong password, and carry Cache-Control: no-store. The pages are meant
// to be mounted with web.Web.Mount("/account/", h) and, with invites,
// web.Web.Mount("/invite/", h) for h := pages.Handler(), so that they get
// the site's security headers and error-only logging.
package account
