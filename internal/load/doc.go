// Package load is chatbx's load generator: it drives many real XMPP
// clients (TCP, STARTTLS or direct TLS per XEP-0368, SASL SCRAM-SHA-256,
// SCRAM-SHA-1 or PLAIN, resource binding, initial presence) against a
// running server and measures it from outside, for docs/PERFORMANCE.md
// and the `chatbx bench` command.
//
// Scenarios, each a method of Runner:
//
//   - Login: full logins (connect → bound → presence → close) with a given
//     concurrency; logins/s, latency percentiles, server CPU per login.
//   - Hold: N idle authenticated sessions; the server's RSS growth per
//     session and its idle CPU.
//   - Throughput: client pairs send each other messages to the full JID
//     with a bounded window; messages/s, lost/duplicated counts, one-way
//     latency percentiles, server CPU per delivered message.
//
// Server CPU is utime+stime from /proc/PID/stat and memory is VmRSS from
// /proc/PID/status of the process given as Config.PID (Linux only). The
// generator reads the stream with a tag scanner instead of a full XML
// parser so that it stays cheap next to the server it measures; it trusts
// the server's XML and is not meant for untrusted peers.
//
// Accounts are User+"0", User+"1", ...; Provision creates them directly in
// a store file, since chatbx has in-band registration off by default.
// The method follows the reference tool in ../shared/tools/xmppload, whose
// RESULT line keys the scenarios reuse.
package load
