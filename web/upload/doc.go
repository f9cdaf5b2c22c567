// Package upload is the HTTP side of XEP-0363 HTTP File Upload: it
// receives the PUT of a slot that server/upload handed out, serves the
// file to anyone with its URL, and deletes files again when retention or
// an account deletion says so. Files live in <data_dir>/uploads, named by
// the upload's random id only; the records are in the store
// (store.Upload).
//
// # Requests
//
// Mount the handler with web.Web.Mount(u.Pattern(), u) so that it gets the
// site's headers and error-only logging. Paths are
// <prefix><id>/<name>, where id is 32 hex digits and name the sanitised
// file name of the slot; a wrong name is as unknown as a wrong id.
//
// PUT needs the slot's secret in the query (SecretParam), compared in
// constant time with the stored SHA-256 hash. It answers
//
//	201 Created                  the file is stored; GET serves it now
//	403 Forbidden                missing or wrong secret
//	404 Not Found                unknown id or name, or the slot expired
//	409 Conflict                 already uploaded, or another PUT is writing
//	411 Length Required          no Content-Length
//	413 Request Entity Too Large Content-Length above the announced size,
//	                             or the quota, checked again at the end,
//	                             has no room left (the slot expired during
//	                             the PUT and its space went elsewhere)
//	400 Bad Request              Content-Length below it, or a short body
//	415 Unsupported Media Type   Content-Type other than the announced one
//
// The body has no fixed deadline: it may take as long as it needs while
// bytes arrive, and a PUT that stalls for Config.IdleTimeout is cut off
// (the read deadline moves with every read). The site's own body timeout
// (package web) does not apply here.
//
// The body is written to <id>.part (mode 0600, created exclusively),
// synced, and hard-linked to <id>, which never replaces an existing file;
// then the record is marked complete.
//
// GET and HEAD serve complete uploads until their expiry, with ranges,
// the announced Content-Type, X-Content-Type-Options: nosniff, a
// Content-Security-Policy that sandboxes the response, and
// Content-Disposition attachment for every type that is not a plain
// image, audio, video, text or PDF type, so that uploaded HTML or SVG
// never runs as part of the site. Every answer allows any origin (CORS)
// for web clients, and OPTIONS answers preflights.
//
// Privacy: nothing about a request is logged here, only operational
// faults without file names. The site's error log records the request
// path; LogPath cuts it to the id, and the site should use it. No cookie
// is read or set.
//
// # Deletion
//
// Sweep (retention.Deps.Uploads) deletes uploads older than the retention
// period, file first, record second. SweepDeleted
// (retention.Deps.Deletions) unlinks the files of deleted accounts, which
// store.DB.DeleteUser leaves in the store's trash, and removes files no
// record knows. Account returns the view web/account uses: the export's
// upload list and UnlinkDeleted right after an account deletion, which
// also scrubs the database so the trashed records are unreadable at once.
package upload
