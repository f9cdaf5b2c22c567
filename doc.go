// Command chatbx is a self-hosted, privacy-first XMPP server in one binary.
//
// Package main keeps only the wiring, the signals and the command line; every
// part it starts lives in its own package and takes its own Config:
//
//   - main.go: `chatbx serve`: configuration (internal/config) → logs
//     (retention/logs) → store → certificates (internal/certs) → the account
//     service (internal/accounts) → server, web, retention → signals →
//     shutdown in reverse order, store last. It also registers the account
//     hooks (close sessions and tell contacts, rewrite the connection logs)
//     and builds the admin socket's handlers once, for serve and for direct
//     mode (newAdminHandlers, openDirectHandlers).
//   - cli.go: command dispatch (serve, check, user, invite, maintenance,
//     backup, bench, version) and the admin commands' handlers.
//   - the admin socket (<data_dir>/admin.sock, mode 0600) speaks the
//     protocol of internal/admin; with no server running the CLI runs the
//     same handlers over the database it opens itself.
//   - invite.go: `chatbx invite create|list|delete` and the store adapter
//     the invite page, in-band registration (XEP-0401) and retention use.
//   - import.go: `chatbx import` and `chatbx user export --all` (XEP-0227,
//     internal/migrate) as admin commands.
//   - restore.go: `chatbx backup --uploads` and `chatbx restore` (server
//     stopped; bbolt consistency check before anything moves).
//   - bench.go: `chatbx bench`, the load generator of internal/load.
//   - dev.go: the instructions `chatbx serve --dev` prints.
//
// Nothing imports package main (internal/layering tests it).
package main
