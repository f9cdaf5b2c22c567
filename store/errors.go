package store

import "errors"

// Sentinel errors. Callers test for them with errors.Is; every error the
// package returns wraps one of them or names the failed operation.
var (
	// ErrNotFound reports a missing user, item, value or setting.
	ErrNotFound = errors.New("store: not found")
	// ErrExists reports that CreateUser found the user already present.
	ErrExists = errors.New("store: already exists")
	// ErrConflict reports an update that lost against a concurrent change
	// or would break an invariant (for example a malformed value).
	ErrConflict = errors.New("store: conflict")
	// ErrLocked reports that another process holds the database file
	// (for example a running "chatbx serve").
	ErrLocked = errors.New("store: database is locked by another process")
	// ErrQuota reports a full per-user queue (see PushOffline).
	ErrQuota = errors.New("store: quota exceeded")
	// ErrInvalid reports an argument the store cannot accept,
	// such as an empty user name or too few SCRAM iterations.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrCorrupt reports a stored value that does not decode.
	ErrCorrupt = errors.New("store: corrupt value")
)
