// Package retention makes the deletion promises of the privacy policy true
// inside the one chatbx process, with no cron and no logrotate.
//
// "chatbx serve" builds a Runner with New and runs it beside the XMPP
// server and the web site. Every Policy runs once when the Runner starts
// and then on its tick: a tenth of its period, at most ten minutes and at
// least a second (TickFor). Each run gets the Runner's clock reading, so
// tests move a fake clock instead of waiting.
//
// # Promises
//
// connection-logs (retention.connection_logs, default 24 h): the log files
// "conn" (login, logout, auth-failure with user and anonymised IP) and
// "server" (everything else the server logs) are written in hourly
// buckets (logs.BucketFor) and deleted whole by the time their bucket's
// start, the oldest line they may hold, is one period old: each run
// deletes the files that started at or before now minus period plus one
// tick (Cutoff), because the next run may be a tick away. A line therefore
// lives at most the period (24 h by default) and at least the period minus
// bucket minus tick (22 h 50 min by default; LineAge), as long as a run
// takes less than a tick. "chatbx check" prints both figures. The same
// lead of one tick applies to offline messages and uploads, so none of the
// privacy policy's periods is overrun by a sweep interval.
//
// web-errors (retention.web_errors, default 30 days): the same for the web
// site's error log "web-errors", in daily buckets.
//
// offline (retention.offline, default 30 days): offline messages not
// picked up within the period are deleted; for each, Deps.OnOfflineExpired
// lets the server bounce an error to the sender.
//
// uploads (retention.uploads, default 30 days): uploaded files and their
// records are deleted by the upload code's Sweeper, called with the cutoff
// now minus the period.
//
// invites, deletions: expired invites and what a crash left behind of an
// account deletion (for example upload files) are swept every
// retention.sweep (default 10 min).
//
// maintenance (retention.maintenance_max, default 24 h): while the
// maintenance switch is on, connection logs carry full IP addresses. The
// Anonymizer stops at the window's end by itself (logs.Anonymizer); this
// policy then clears the stored window within a minute and logs
// "maintenance off". Windows are stored in the database's settings, so a
// window survives a restart (Maintenance.Load), and one that ended while
// the server was down is cleared on start.
//
// # Free pages
//
// bbolt keeps deleted values in free pages until they are reused. After
// any run of a Personal policy (offline, uploads, invites, deletions) that
// deleted something, and in any case every retention.sweep, the Runner
// calls Deps.Scrub (store.DB.Scrub), which overwrites the free pages: data
// deleted anywhere in the server (delivered offline messages, deleted
// accounts, purged archives) is unreadable in the database file within one
// sweep interval, ten minutes by default.
//
// # Configuration
//
// Every period is configurable down to one second. Check lists the
// periods, log destinations, anonymisation and maintenance state for
// "chatbx check", and warns where the configuration contradicts the
// privacy policy's text (a period longer than the policy states, log lines
// on standard error outside --dev).
package retention
