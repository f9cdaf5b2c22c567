// Package contrib holds files for running chatbx outside the repository:
// the systemd unit (chatbx.service). It has no code; its tests check the
// unit and the Dockerfile at the repository root: CI has no Docker engine
// and no systemd as PID 1, so the tests build the binary exactly as the
// Dockerfile does, check that it is static and runs as uid 10001 with a
// data directory like the image's /data, and run `systemd-analyze verify`
// and `systemd-analyze security` on the unit.
package contrib
