// Package logs writes chatbx's log files and anonymises the IP addresses
// that go into them.
//
// # Files
//
// Every log line of the server goes to a file under <data_dir>/logs/ and
// nowhere else (nothing goes to stdout or stderr outside --dev unless the
// operator opts in). A Sink is the io.Writer behind a zerolog.Logger: it
// appends each line to the file of the time bucket the line was written in,
//
//	<dir>/<prefix>-<bucket start, UTC, 20060102T150405Z>-<bucket length>.log
//	logs/conn-20261127T160000Z-1h.log        connection log, hourly
//	logs/web-errors-20261127T000000Z-1d.log  web errors, daily
//
// The name alone tells when the bucket ended (start plus length), so the
// retention runner (package retention) deletes whole files with Expire once
// their bucket ended more than the retention period ago, without opening
// them and even after the configured period changed. BucketFor picks a
// bucket of at most a tenth of the period; with the runner's tick of at
// most another tenth, no line outlives its period by more than a fifth.
// Files are mode 0600 in a directory of mode 0700: they name users.
//
// Rewrite (and Sink.Rewrite while a Sink is open) removes lines before
// their files expire: deleting an account removes the user's connection
// lines at once. Files are replaced atomically through a temporary copy.
//
// # Addresses
//
// The privacy policy promises anonymised IP addresses in the connection
// log, except during a maintenance window. Anonymizer.IP keeps the /24 of
// an IPv4 address and the /48 of an IPv6 address (IPv4-mapped IPv6 counts
// as IPv4) and returns the full address only while the window set with
// SetMaintenance is open; the window closes by itself at its end. Every
// log field named ip_anon comes from Anonymizer.IP or IPString.
//
// Connection log lines (component "c2s") carry only time, event (login,
// logout, auth-failure), user (localpart) and ip_anon.
//
// FindFullIPs scans a log directory for addresses that are not anonymised
// in any field (error texts of the net package name both ends of a
// connection), so tests can prove that none reached the files.
package logs
