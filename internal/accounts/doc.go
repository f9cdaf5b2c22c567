// Package accounts is the one account service of chatbx: create (open
// and invited), verify a password, change or reset it, delete, export and
// list accounts, with one error vocabulary. In-band registration
// (server/register), the account pages (web/account), the command line
// and the admin socket (package main) all call it and map its errors once,
// at their edge: to a stanza error, an HTTP status and page message, or a
// CLI message.
//
// # Errors
//
//   - ErrAuth: wrong password or unknown user, deliberately not told
//     apart (Verify only; it takes about the same time for both).
//   - ErrNotFound: no such account (operations on a named account).
//   - ErrExists: the name is taken.
//   - ErrUsername, ErrPolicy: a name or a password the rules refuse.
//   - ErrInvite: no usable invite for the token.
//   - ErrThrottled: the login guard answers before the password is
//     evaluated (a *ThrottledError carries the wait).
//   - ErrNoDomain: Delete or Export on a service without a domain.
//   - ErrIncomplete: the account is deleted, but a step after the store
//     transaction failed; the retention sweep finishes it.
//
// # Deletion
//
// Delete removes the account in one store transaction
// (store.DB.DeleteAccount: every bucket of the account, its upload records
// to the trash, the account's item in every other local roster), scrubs
// the freed pages, unlinks the upload files, and then runs the AfterDelete
// hooks, which main registers: close the account's sessions, tell its
// contacts (with the roster as it was), rewrite the connection logs.
// PasswordChanged hooks close sessions after a password change.
//
// Hooks are registered with AddHooks before the service is used: in-band
// registration needs the service, the XMPP server needs in-band
// registration, and the hooks need the server, so main builds the service,
// then the server, then registers the server's hooks, all before anything
// runs.
package accounts
