// Package account implements the self-service account pages under
// /account/ and the invitation pages under /invite/. Every account
// operation behind them (verify, change password, delete, export, create
// with an invite) is the account service's (internal/accounts), which
// in-band registration and the CLI share; this package maps its errors to
// an HTTP status and a page message.
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
// same token, origin and throttling rules; accounts.Service.CreateInvited
// applies the username rules (PRECIS, at most accounts.MaxUsername bytes,
// reserved names).
//
// Answers never echo a password, say the same for an unknown user and a
// wrong password, and carry Cache-Control: no-store. The pages are meant
// to be mounted with web.Web.Mount("/account/", h) and, with invites,
// web.Web.Mount("/invite/", h) for h := pages.Handler(), so that they get
// the site's security headers and error-only logging.
package account
