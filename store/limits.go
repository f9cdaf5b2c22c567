package store

// Limits are the per-user storage caps the store enforces in the same
// transaction as the data they bound, so that no account can fill the
// disk or another account's queue. A zero field means its DefaultLimits
// value; a negative one means no limit (only for tests and benchmarks).
// A write that would exceed a cap fails with ErrQuota.
type Limits struct {
	// OfflineBytes caps the stored bytes of one user's offline queue
	// (XEP-0160); the number of messages is capped per call (PushOffline's
	// max).
	OfflineBytes int64
	// OfflineSenderPercent is the share, in percent, of a recipient's
	// offline queue (of both its message and byte caps) that messages from
	// one sender may take, so one sender cannot fill another user's queue.
	OfflineSenderPercent int
	// ArchiveBytes caps the stored bytes of one user's message archive
	// (XEP-0313). When a new message does not fit, the oldest messages
	// are deleted to make room (the archive keeps the newest history).
	ArchiveBytes int64
	// RosterItems caps the items of one roster (RFC 6121 §2), including
	// items that only hold a pending inbound subscription request.
	RosterItems int
	// PrivateBytes caps the total stored bytes of one user's private XML
	// storage (XEP-0049), over all keys.
	PrivateBytes int64
}

// DefaultLimits returns the documented defaults (docs/configuration.md).
func DefaultLimits() Limits {
	return Limits{
		OfflineBytes:         10 << 20,
		OfflineSenderPercent: 20,
		ArchiveBytes:         256 << 20,
		RosterItems:          2000,
		PrivateBytes:         1 << 20,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	def := DefaultLimits()
	if l.OfflineBytes == 0 {
		l.OfflineBytes = def.OfflineBytes
	}
	if l.OfflineSenderPercent == 0 {
		l.OfflineSenderPercent = def.OfflineSenderPercent
	}
	if l.ArchiveBytes == 0 {
		l.ArchiveBytes = def.ArchiveBytes
	}
	if l.RosterItems == 0 {
		l.RosterItems = def.RosterItems
	}
	if l.PrivateBytes == 0 {
		l.PrivateBytes = def.PrivateBytes
	}
	return l
}

// share returns percent of n, at least 1, rounded up; n <= 0 (no limit)
// and percent <= 0 or >= 100 (no share) give n unchanged.
func share(n int64, percent int) int64 {
	if n <= 0 || percent <= 0 || percent >= 100 {
		return n
	}
	return max(1, (n*int64(percent)+99)/100)
}

// over reports whether have+add exceeds a cap (a cap <= 0 is no limit).
func over(have, add uint64, limit int64) bool {
	return limit > 0 && have+add > uint64(limit)
}
