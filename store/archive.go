package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The message archive (XEP-0313) of one user lives in three buckets of the
// user's subtree, so DeleteUser drops it with the account:
//
//	archive/<8-byte seq>               message value (tag, flags, with, stanza)
//	archive-with/<with>\x00<8-byte seq> index entry (flagValue)
//	archive-with/<with>\x00             number of entries for with (uvarint)
//	archive-meta/prefs                  preferences (XEP-0441)
//	archive-meta/last                   highest seq ever handed out
//	archive-meta/count                  number of archived messages
//	archive-meta/bytes                  bytes of the archived values (Limits.ArchiveBytes)
//
// A seq is the UnixNano time the message was archived, raised to one more
// than the previous seq when the clock has not moved on (or went back), so
// key order is archive order and time order, and the time is recovered from
// the key. archive-meta/last survives a purge, so seqs are never reused.
var (
	bucketArchive     = []byte("archive")
	bucketArchiveWith = []byte("archive-with")
	bucketArchiveMeta = []byte("archive-meta")

	keyArchivePrefs = []byte("prefs")
	keyArchiveLast  = []byte("last")
	keyArchiveCount = []byte("count")
	keyArchiveBytes = []byte("bytes")
)

// ErrArchiveID reports an archive id that is malformed or not in the
// archive (XEP-0313 §4.3: item-not-found). It wraps ErrNotFound.
var ErrArchiveID = fmt.Errorf("%w: archive id", ErrNotFound)

// Archive limits.
const (
	// archiveCountScan bounds the keys a query walks to compute the RSM
	// count and index for a bounded range (XEP-0059 §2.6 lets a server
	// omit both when they are expensive).
	archiveCountScan = 1000
	// archiveExpireChunk is the most messages ExpireArchive deletes in
	// one transaction.
	archiveExpireChunk = 10_000
	// maxArchivePrefsJIDs bounds each always/never list.
	maxArchivePrefsJIDs = 1000
)

// Archive id: 8-byte seq then a 4-byte random tag, base32 with the
// lower-case "extended hex" alphabet (20 characters). The seq locates the
// message; the tag, stored with it, makes ids unpredictable (XEP-0313 §3:
// the UID MUST be unpredictable), so knowing when a message was sent is
// not enough to name it.
const (
	archiveTagLen = 4
	archiveIDLen  = 20
)

var archiveIDEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

func formatArchiveID(seq uint64, tag []byte) string {
	var raw [8 + archiveTagLen]byte
	binary.BigEndian.PutUint64(raw[:8], seq)
	copy(raw[8:], tag)
	return archiveIDEncoding.EncodeToString(raw[:])
}

func parseArchiveID(id string) (seq uint64, tag []byte, ok bool) {
	if len(id) != archiveIDLen {
		return 0, nil, false
	}
	raw, err := archiveIDEncoding.DecodeString(id)
	if err != nil || len(raw) != 8+archiveTagLen {
		return 0, nil, false
	}
	return binary.BigEndian.Uint64(raw[:8]), raw[8:], true
}

// ArchivedMessage is one message of a user's archive.
type ArchivedMessage struct {
	// ID is the opaque archive id (XEP-0313 UID, XEP-0359 stanza-id):
	// unique in the user's archive, never reused, stable forever.
	ID string
	// At is when the message was archived (sent or received).
	At time.Time
	// With is the bare JID of the other party.
	With string
	// Outgoing is true for messages the user sent.
	Outgoing bool
	// Stanza is the message as stored (serialised XML).
	Stanza []byte
}

// Archive value: version, tag, flags, with, stanza.
const archiveFlagOutgoing = 1

func encodeArchived(tag []byte, with string, outgoing bool, stanza []byte) []byte {
	v := make([]byte, 0, 2+archiveTagLen+2+len(with)+len(stanza))
	v = append(v, codecV1)
	v = append(v, tag...)
	var flags byte
	if outgoing {
		flags |= archiveFlagOutgoing
	}
	v = append(v, flags)
	v = appendString(v, with)
	return append(v, stanza...)
}

// archivedTag returns the tag of a stored value, or nil if it is malformed.
func archivedTag(v []byte) []byte {
	if len(v) < 1+archiveTagLen || v[0] != codecV1 {
		return nil
	}
	return v[1 : 1+archiveTagLen]
}

// readArchived is decodeArchived for readers: a value that does not
// decode (written by a broken older version) comes back with a nil Stanza
// for the caller to drop, so that it does not hide the messages after it.
func readArchived(seq uint64, v []byte) ArchivedMessage {
	m, err := decodeArchived(seq, v)
	if err != nil {
		tag := archivedTag(v)
		if tag == nil {
			tag = make([]byte, archiveTagLen)
		}
		return ArchivedMessage{ID: formatArchiveID(seq, tag), At: time.Unix(0, int64(seq)).UTC()}
	}
	return m
}

// decodeArchived decodes a stored message; the result owns its memory.
func decodeArchived(seq uint64, v []byte) (ArchivedMessage, error) {
	tag := archivedTag(v)
	if tag == nil {
		return ArchivedMessage{}, fmt.Errorf("%w: archived message", ErrCorrupt)
	}
	d := newDecoder(v)
	d.b = d.b[archiveTagLen:]
	flags := d.byte()
	with := d.string()
	stanza := bytes.Clone(d.rest())
	if d.err != nil {
		return ArchivedMessage{}, d.err
	}
	if stanza == nil {
		stanza = []byte{}
	}
	return ArchivedMessage{
		ID:       formatArchiveID(seq, tag),
		At:       time.Unix(0, int64(seq)).UTC(),
		With:     with,
		Outgoing: flags&archiveFlagOutgoing != 0,
		Stanza:   stanza,
	}, nil
}

// archivedWith returns the with field of a stored value.
func archivedWith(v []byte) ([]byte, error) {
	if archivedTag(v) == nil {
		return nil, fmt.Errorf("%w: archived message", ErrCorrupt)
	}
	d := newDecoder(v)
	d.b = d.b[archiveTagLen:]
	d.byte()
	w := d.bytes()
	return w, d.err
}

func withPrefix(with string) []byte {
	k := make([]byte, 0, len(with)+1+8)
	k = append(k, with...)
	return append(k, 0)
}

func getUvarint(b *bolt.Bucket, key []byte) uint64 {
	if b == nil {
		return 0
	}
	v := b.Get(key)
	if v == nil {
		return 0
	}
	d := newDecoder(v)
	n := d.uvarint()
	if d.done() != nil {
		return 0
	}
	return n
}

func putUvarint(b *bolt.Bucket, key []byte, n uint64) error {
	if n == 0 {
		return b.Delete(key)
	}
	return b.Put(key, appendUvarint([]byte{codecV1}, n))
}

// ArchivePrefs are a user's archiving preferences (XEP-0441).
// Default is "always", "never" or "roster", or "" if the user never set
// preferences (the caller applies the server's default). Always and Never
// hold bare JIDs.
type ArchivePrefs struct {
	Default       string
	Always, Never []string
	// Gen identifies this version of the preferences: SetArchivePrefs
	// picks a new random one, and it is 0 while none were ever set (also
	// for an account re-created under a deleted one's name). A cache of
	// preferences passes it to AppendArchive, which refuses to archive
	// when the stored preferences have changed since.
	Gen uint64
}

// Prefs value: version, 8-byte gen, default, always list, never list.
func encodeArchivePrefs(p ArchivePrefs) []byte {
	v := []byte{codecV1}
	v = binary.BigEndian.AppendUint64(v, p.Gen)
	v = appendString(v, p.Default)
	for _, list := range [][]string{p.Always, p.Never} {
		v = appendUvarint(v, uint64(len(list)))
		for _, j := range list {
			v = appendString(v, j)
		}
	}
	return v
}

func decodeArchivePrefs(v []byte) (ArchivePrefs, error) {
	d := newDecoder(v)
	p := ArchivePrefs{Gen: d.u64()}
	p.Default = d.string()
	for _, list := range []*[]string{&p.Always, &p.Never} {
		n := d.uvarint()
		if n > maxArchivePrefsJIDs {
			return ArchivePrefs{}, fmt.Errorf("%w: archive prefs", ErrCorrupt)
		}
		for range n {
			*list = append(*list, d.string())
		}
	}
	return p, d.done()
}

// ArchivePrefs returns the user's archiving preferences; Default is ""
// if none were ever set. It fails with ErrNotFound for an unknown user.
// It is one read transaction; callers cache the result.
func (db *DB) ArchivePrefs(ctx context.Context, user string) (ArchivePrefs, error) {
	var p ArchivePrefs
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketArchiveMeta)
		if err != nil || b == nil {
			return err
		}
		if v := b.Get(keyArchivePrefs); v != nil {
			p, err = decodeArchivePrefs(v)
		}
		return err
	})
	if err != nil {
		return ArchivePrefs{}, fmt.Errorf("store: archive prefs: %w", err)
	}
	return p, nil
}

// archivePrefsGen returns the gen of the stored preferences, 0 if none.
func archivePrefsGen(meta *bolt.Bucket) uint64 {
	if meta == nil {
		return 0
	}
	v := meta.Get(keyArchivePrefs)
	if len(v) < 9 {
		return 0
	}
	return binary.BigEndian.Uint64(v[1:9])
}

// SetArchivePrefs replaces the user's archiving preferences and returns
// their new Gen (p.Gen is ignored). It fails with ErrNotFound for an
// unknown user and ErrInvalid for an empty or too long JID or more than
// 1000 JIDs in a list. Switching archiving off does not delete what is
// archived (see PurgeArchive).
func (db *DB) SetArchivePrefs(ctx context.Context, user string, p ArchivePrefs) (uint64, error) {
	for _, list := range [][]string{p.Always, p.Never} {
		if len(list) > maxArchivePrefsJIDs {
			return 0, fmt.Errorf("store: set archive prefs: %w: too many jids", ErrInvalid)
		}
		for _, j := range list {
			if err := checkJID(j); err != nil {
				return 0, fmt.Errorf("store: set archive prefs: %w", err)
			}
		}
	}
	p.Gen = newArchivePrefsGen()
	err := db.update(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketArchiveMeta)
		if err != nil {
			return err
		}
		return b.Put(keyArchivePrefs, encodeArchivePrefs(p))
	})
	if err != nil {
		return 0, fmt.Errorf("store: set archive prefs: %w", err)
	}
	return p.Gen, nil
}

// newArchivePrefsGen returns a random Gen other than 0.
func newArchivePrefsGen() uint64 {
	var gen [8]byte
	for binary.BigEndian.Uint64(gen[:]) == 0 {
		rand.Read(gen[:])
	}
	return binary.BigEndian.Uint64(gen[:])
}

// AppendArchive archives one message of user and returns its archive id.
// gen is the Gen of the preferences the caller decided by; at is the time
// the message was sent or received; with is the other party's bare JID;
// stanza is the serialised message, stored as given.
// It fails with ErrConflict if the stored preferences are no longer those
// of gen (changed by another process, or the account was deleted and
// created again: the caller reloads them and decides again), with
// ErrNotFound for an unknown user, and with ErrInvalid for an empty or too
// long with. Whether the user wants the message archived is the caller's
// decision (see ArchivePrefs).
//
// When the message does not fit into Limits.ArchiveBytes, the oldest
// messages are deleted in the same transaction until it fits: a full
// archive keeps the newest history, as a user scrolling back expects. A
// single message larger than the cap fails with ErrQuota.
func (db *DB) AppendArchive(ctx context.Context, user string, gen uint64, at time.Time, with string, outgoing bool, stanza []byte) (string, error) {
	if err := checkJID(with); err != nil || len(with) > bolt.MaxKeySize-9 {
		return "", fmt.Errorf("store: append archive: %w: with", ErrInvalid)
	}
	var tag [archiveTagLen]byte
	rand.Read(tag[:])
	var seq uint64
	err := db.update(ctx, func(tx *bolt.Tx) error {
		u, err := userBucket(tx, user)
		if err != nil {
			return err
		}
		if archivePrefsGen(u.Bucket(bucketArchiveMeta)) != gen {
			return ErrConflict
		}
		if err := archiveRoomTx(tx, user, archivedSize(with, stanza), db.limits.ArchiveBytes); err != nil {
			return err
		}
		seq, err = appendArchiveTx(tx, user, at, with, outgoing, stanza, tag[:])
		return err
	})
	if err != nil {
		return "", fmt.Errorf("store: append archive: %w", err)
	}
	return formatArchiveID(seq, tag[:]), nil
}

// appendArchiveTx writes one message and its index entry, and updates the
// counters; it returns the message's seq.
func appendArchiveTx(tx *bolt.Tx, user string, at time.Time, with string, outgoing bool, stanza, tag []byte) (uint64, error) {
	meta, err := userSub(tx, user, bucketArchiveMeta)
	if err != nil {
		return 0, err
	}
	main, err := userSub(tx, user, bucketArchive)
	if err != nil {
		return 0, err
	}
	idx, err := userSub(tx, user, bucketArchiveWith)
	if err != nil {
		return 0, err
	}
	// Keys only grow: packed leaves halve the file of a large archive.
	main.FillPercent = 0.95

	seq := uint64(max(at.UnixNano(), 0))
	if v := meta.Get(keyArchiveLast); len(v) == 9 {
		if last := binary.BigEndian.Uint64(v[1:]); seq <= last {
			seq = last + 1
		}
	}
	if err := meta.Put(keyArchiveLast, binary.BigEndian.AppendUint64([]byte{codecV1}, seq)); err != nil {
		return 0, err
	}
	val := encodeArchived(tag, with, outgoing, stanza)
	if err := main.Put(u64key(seq), val); err != nil {
		return 0, err
	}
	if err := putUvarint(meta, keyArchiveBytes, getUvarint(meta, keyArchiveBytes)+uint64(len(val))); err != nil {
		return 0, err
	}
	prefix := withPrefix(with)
	if err := idx.Put(binary.BigEndian.AppendUint64(bytes.Clone(prefix), seq), flagValue); err != nil {
		return 0, err
	}
	if err := putUvarint(idx, prefix, getUvarint(idx, prefix)+1); err != nil {
		return 0, err
	}
	return seq, putUvarint(meta, keyArchiveCount, getUvarint(meta, keyArchiveCount)+1)
}

// archivedSize is len(encodeArchived(tag, with, _, stanza)).
func archivedSize(with string, stanza []byte) uint64 {
	return uint64(1 + archiveTagLen + 1 + len(binary.AppendUvarint(nil, uint64(len(with)))) + len(with) + len(stanza))
}

// archiveRoomTx deletes the user's oldest messages until size more bytes
// fit under limit (<= 0: no limit). It fails with ErrQuota if size alone
// exceeds limit.
func archiveRoomTx(tx *bolt.Tx, user string, size uint64, limit int64) error {
	if limit <= 0 {
		return nil
	}
	if size > uint64(limit) {
		return ErrQuota
	}
	u, err := userBucket(tx, user)
	if err != nil {
		return err
	}
	main, idx, meta := u.Bucket(bucketArchive), u.Bucket(bucketArchiveWith), u.Bucket(bucketArchiveMeta)
	if main == nil || idx == nil || meta == nil {
		return nil
	}
	have := getUvarint(meta, keyArchiveBytes)
	if have+size <= uint64(limit) {
		return nil
	}
	// Collect first: deleting under a cursor can skip items.
	type entry struct{ key, with []byte }
	var old []entry
	freed := uint64(0)
	c := main.Cursor()
	for k, v := c.First(); k != nil && have-min(have, freed)+size > uint64(limit); k, v = c.Next() {
		if len(k) != 8 {
			continue
		}
		w, _ := archivedWith(v) // a malformed value is deleted all the same
		old = append(old, entry{bytes.Clone(k), bytes.Clone(w)})
		freed += uint64(len(v))
	}
	removed := map[string]uint64{}
	for _, e := range old {
		if err := main.Delete(e.key); err != nil {
			return err
		}
		if err := idx.Delete(append(withPrefix(string(e.with)), e.key...)); err != nil {
			return err
		}
		removed[string(e.with)]++
	}
	for with, n := range removed {
		prefix := withPrefix(with)
		c := getUvarint(idx, prefix)
		if err := putUvarint(idx, prefix, c-min(c, n)); err != nil {
			return err
		}
	}
	count := getUvarint(meta, keyArchiveCount)
	if err := putUvarint(meta, keyArchiveCount, count-min(count, uint64(len(old)))); err != nil {
		return err
	}
	return putUvarint(meta, keyArchiveBytes, have-min(have, freed))
}

// archiveBytesTx sums an archive's values (for the migration).
func archiveBytesTx(main *bolt.Bucket) uint64 {
	var n uint64
	c := main.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		n += uint64(len(v))
	}
	return n
}

// ArchiveBytes returns the bytes the user's archive takes (what
// Limits.ArchiveBytes caps). It fails with ErrNotFound for an unknown user.
func (db *DB) ArchiveBytes(ctx context.Context, user string) (int64, error) {
	var n uint64
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketArchiveMeta)
		n = getUvarint(b, keyArchiveBytes)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: archive bytes: %w", err)
	}
	return int64(n), nil
}

// ArchiveQuery selects messages of an archive (XEP-0313 §4) and one page
// of them (XEP-0059).
type ArchiveQuery struct {
	// With, if not empty, selects messages with this bare JID.
	With string
	// Start and End, if not zero, select messages archived at or after
	// Start and at or before End.
	Start, End time.Time
	// AfterID and BeforeID, if not empty, select messages archived after
	// or before the message with that id (XEP-0313 before-id/after-id).
	AfterID, BeforeID string
	// IDs, if not empty, selects exactly these messages (the other
	// filters still apply).
	IDs []string

	// After and Before position the page (RSM after/before): the page
	// starts after After, or ends before Before. Last asks for the last
	// page (an empty RSM <before/>). At most one of them may be set.
	After, Before string
	Last          bool
	// Max is the page size; 0 returns no messages, only the count.
	Max int
}

// ArchivePage is the answer to an ArchiveQuery.
type ArchivePage struct {
	// Messages is the page in archive (chronological) order.
	Messages []ArchivedMessage
	// Complete reports that the page reaches the end of the selected
	// messages in the paging direction (XEP-0313 §4.3 complete='true').
	Complete bool
	// Count is the number of selected messages and Index the position of
	// Messages[0] among them (RSM count and first index), or -1 when the
	// store did not compute them because the range is large.
	Count, Index int
}

// archiveRange walks the seqs of an archive in [lo, hi], either of the
// whole archive (prefix nil, over archive/) or of one with (over the index).
type archiveRange struct {
	b      *bolt.Bucket
	c      *bolt.Cursor
	prefix []byte
	lo, hi uint64
	v      []byte // value at the cursor: the message when walking archive/
}

func (r *archiveRange) key(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, len(r.prefix)+8), r.prefix...), seq)
}

// seq records v as the current value, decodes k and reports whether it is an entry inside the range.
func (r *archiveRange) seq(k, v []byte) (uint64, bool) {
	r.v = v
	if k == nil || len(k) != len(r.prefix)+8 || !bytes.HasPrefix(k, r.prefix) {
		return 0, false
	}
	s := binary.BigEndian.Uint64(k[len(r.prefix):])
	return s, s >= r.lo && s <= r.hi
}

// ge returns the first seq >= from in the range.
func (r *archiveRange) ge(from uint64) (uint64, bool) {
	if r.c == nil || from > r.hi {
		return 0, false
	}
	k, v := r.c.Seek(r.key(max(from, r.lo)))
	return r.seq(k, v)
}

// le returns the last seq <= to in the range.
func (r *archiveRange) le(to uint64) (uint64, bool) {
	if r.c == nil || to < r.lo {
		return 0, false
	}
	to = min(to, r.hi)
	k, v := r.c.Seek(r.key(to))
	if k == nil {
		k, v = r.c.Last()
	} else if !bytes.Equal(k, r.key(to)) {
		k, v = r.c.Prev()
	}
	return r.seq(k, v)
}

func (r *archiveRange) next() (uint64, bool) {
	k, v := r.c.Next()
	return r.seq(k, v)
}

func (r *archiveRange) prev() (uint64, bool) {
	k, v := r.c.Prev()
	return r.seq(k, v)
}

// count counts the seqs in [from, to] within the range, giving up after
// archiveCountScan entries.
func (r *archiveRange) count(from, to uint64) (int, bool) {
	if from > to {
		return 0, true
	}
	n := 0
	for s, ok := r.ge(from); ok && s <= to; s, ok = r.next() {
		if n++; n > archiveCountScan {
			return 0, false
		}
	}
	return n, true
}

// sides counts the entries of the range before a page (below first) and
// after it (above last). It walks both sides in step, each at most
// archiveCountScan entries, and with needBoth false stops as soon as one
// side is known (the caller derives the other from the total), so the
// newest and the oldest page cost almost nothing.
func (r *archiveRange) sides(first, last uint64, needBoth bool) (a int, aok bool, b int, bok bool) {
	if r.c == nil {
		return 0, true, 0, true
	}
	before, after := *r, *r
	before.c, after.c = r.b.Cursor(), r.b.Cursor()
	aMore, bMore := first > 0, last < math.MaxUint64
	if aMore {
		_, aMore = before.le(first - 1)
	}
	if bMore {
		_, bMore = after.ge(last + 1)
	}
	aGave, bGave := false, false
	for {
		aDone, bDone := !aMore && !aGave, !bMore && !bGave
		if (!needBoth && (aDone || bDone)) || (!aMore && !bMore) {
			return a, aDone, b, bDone
		}
		if aMore {
			if a++; a > archiveCountScan {
				aMore, aGave = false, true
			} else {
				_, aMore = before.prev()
			}
		}
		if bMore {
			if b++; b > archiveCountScan {
				bMore, bGave = false, true
			} else {
				_, bMore = after.next()
			}
		}
	}
}

// QueryArchive returns one page of the user's archive. It fails with
// ErrArchiveID (which wraps ErrNotFound) if an id in the query is
// malformed or not in the archive, with ErrNotFound for an unknown user,
// and with ErrInvalid for a negative Max or more than one of
// After/Before/Last. A time or id range is found with cursor seeks; the
// work is proportional to the page, plus a bounded walk for the count.
func (db *DB) QueryArchive(ctx context.Context, user string, q ArchiveQuery) (ArchivePage, error) {
	if q.Max < 0 || btoi(q.After != "")+btoi(q.Before != "")+btoi(q.Last) > 1 {
		return ArchivePage{}, fmt.Errorf("store: query archive: %w", ErrInvalid)
	}
	var page ArchivePage
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		page, err = queryArchiveTx(tx, user, q)
		return err
	})
	if err != nil {
		return ArchivePage{}, fmt.Errorf("store: query archive: %w", err)
	}
	return page, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func queryArchiveTx(tx *bolt.Tx, user string, q ArchiveQuery) (ArchivePage, error) {
	u, err := userBucket(tx, user)
	if err != nil {
		return ArchivePage{}, err
	}
	main := u.Bucket(bucketArchive)
	resolve := func(id string) (uint64, error) {
		seq, tag, ok := parseArchiveID(id)
		if !ok || main == nil {
			return 0, ErrArchiveID
		}
		if t := archivedTag(main.Get(u64key(seq))); t == nil || !bytes.Equal(t, tag) {
			return 0, ErrArchiveID
		}
		return seq, nil
	}
	lo, hi := uint64(0), uint64(math.MaxUint64)
	bounded := false
	if !q.Start.IsZero() {
		lo, bounded = uint64(max(q.Start.UnixNano(), 0)), true
	}
	if !q.End.IsZero() {
		bounded = true
		if e := q.End.UnixNano(); e < 0 {
			lo, hi = 1, 0 // before the epoch: nothing
		} else {
			hi = min(hi, uint64(e))
		}
	}
	if q.AfterID != "" {
		s, err := resolve(q.AfterID)
		if err != nil {
			return ArchivePage{}, err
		}
		lo, bounded = max(lo, s+1), true
	}
	if q.BeforeID != "" {
		s, err := resolve(q.BeforeID)
		if err != nil {
			return ArchivePage{}, err
		}
		bounded = true
		if s == 0 {
			lo, hi = 1, 0
		} else {
			hi = min(hi, s-1)
		}
	}
	var after, before uint64
	if q.After != "" {
		if after, err = resolve(q.After); err != nil {
			return ArchivePage{}, err
		}
	}
	if q.Before != "" {
		if before, err = resolve(q.Before); err != nil {
			return ArchivePage{}, err
		}
	}
	if len(q.IDs) > 0 {
		return queryArchiveIDs(main, q, resolve, lo, hi, after, before)
	}

	r := archiveRange{lo: lo, hi: hi}
	total, totalKnown := 0, !bounded
	if q.With != "" {
		r.prefix = withPrefix(q.With)
		if idx := u.Bucket(bucketArchiveWith); idx != nil {
			r.b, r.c = idx, idx.Cursor()
			total = int(getUvarint(idx, r.prefix))
		}
	} else if main != nil {
		r.b, r.c = main, main.Cursor()
		total = int(getUvarint(u.Bucket(bucketArchiveMeta), keyArchiveCount))
	}

	// Collect the page's seqs, and their values when walking archive/
	// (the index has none: they are looked up below).
	var seqs []uint64
	var vals [][]byte
	backward := q.Last || q.Before != ""
	more := false
	if backward {
		to := hi
		if q.Before != "" {
			to = before - 1
			if before == 0 {
				to, r.lo = 0, 1
			}
		}
		s, ok := r.le(to)
		for ; ok && len(seqs) < q.Max; s, ok = r.prev() {
			seqs, vals = append(seqs, s), append(vals, r.v)
		}
		more = ok
		slices.Reverse(seqs)
		slices.Reverse(vals)
	} else {
		from := lo
		if q.After != "" {
			from = max(from, after+1)
			if after == math.MaxUint64 {
				from, r.hi = 1, 0
			}
		}
		s, ok := r.ge(from)
		for ; ok && len(seqs) < q.Max; s, ok = r.next() {
			seqs, vals = append(seqs, s), append(vals, r.v)
		}
		more = ok
	}
	page := ArchivePage{Complete: !more, Count: -1, Index: -1}

	// RSM count and index, where cheap.
	if len(seqs) == 0 {
		if totalKnown {
			page.Count = total
		} else if n, ok := r.count(lo, hi); ok {
			page.Count = n
		}
	} else {
		a, aok, b, bok := r.sides(seqs[0], seqs[len(seqs)-1], !totalKnown)
		switch {
		case totalKnown:
			page.Count = total
		case aok && bok:
			page.Count = a + len(seqs) + b
		}
		switch {
		case aok:
			page.Index = a
		case totalKnown && bok:
			page.Index = total - len(seqs) - b
		}
	}

	page.Messages = make([]ArchivedMessage, 0, len(seqs))
	for i, s := range seqs {
		v := vals[i]
		if r.prefix != nil {
			v = main.Get(u64key(s))
		}
		page.Messages = append(page.Messages, readArchived(s, v))
	}
	if len(page.Messages) == 0 {
		page.Messages = nil
	}
	return page, nil
}

// queryArchiveIDs answers a query by ids: the ids must all exist; the
// other filters and the page position apply to them.
func queryArchiveIDs(main *bolt.Bucket, q ArchiveQuery, resolve func(string) (uint64, error), lo, hi, after, before uint64) (ArchivePage, error) {
	var seqs []uint64
	for _, id := range q.IDs {
		s, err := resolve(id)
		if err != nil {
			return ArchivePage{}, err
		}
		if s >= lo && s <= hi {
			seqs = append(seqs, s)
		}
	}
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	var msgs []ArchivedMessage
	var kept []uint64
	for _, s := range seqs {
		m := readArchived(s, main.Get(u64key(s)))
		if q.With == "" || m.With == q.With {
			msgs, kept = append(msgs, m), append(kept, s)
		}
	}
	all := len(msgs)
	first, end := 0, len(msgs)
	if q.After != "" {
		first, _ = slices.BinarySearch(kept, after+1)
	}
	if q.Before != "" {
		end, _ = slices.BinarySearch(kept, before)
		end = max(end, first)
	}
	page := ArchivePage{Count: all}
	if q.Last || q.Before != "" {
		start := max(first, end-q.Max)
		page.Messages, page.Index, page.Complete = msgs[start:end], start, start == first
	} else {
		stop := min(end, first+q.Max)
		page.Messages, page.Index, page.Complete = msgs[first:stop], first, stop == end
	}
	if len(page.Messages) == 0 {
		page.Messages, page.Index = nil, -1
	}
	return page, nil
}

// ArchiveEnds returns the oldest and the newest message of the user's
// archive (XEP-0313 §5 metadata), and false if the archive is empty.
// It fails with ErrNotFound for an unknown user.
func (db *DB) ArchiveEnds(ctx context.Context, user string) (first, last ArchivedMessage, ok bool, err error) {
	err = db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketArchive)
		if err != nil || b == nil {
			return err
		}
		c := b.Cursor()
		k, v := c.First()
		if len(k) != 8 {
			return nil
		}
		first = readArchived(binary.BigEndian.Uint64(k), v)
		k, v = c.Last()
		last = readArchived(binary.BigEndian.Uint64(k), v)
		ok = true
		return nil
	})
	if err != nil {
		return first, last, false, fmt.Errorf("store: archive ends: %w", err)
	}
	return first, last, ok, nil
}

// ArchiveCount returns the number of messages in the user's archive.
// It fails with ErrNotFound for an unknown user.
func (db *DB) ArchiveCount(ctx context.Context, user string) (int, error) {
	var n uint64
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b, err := userSub(tx, user, bucketArchiveMeta)
		n = getUvarint(b, keyArchiveCount)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: archive count: %w", err)
	}
	return int(n), nil
}

// PurgeArchive deletes every archived message of user in one transaction
// and then runs Scrub, so the messages are gone from the file too.
// Preferences stay, and ids are never reused. It fails with ErrNotFound
// for an unknown user; if Scrub fails the archive is still deleted and
// the error is returned.
func (db *DB) PurgeArchive(ctx context.Context, user string) error {
	err := db.update(ctx, func(tx *bolt.Tx) error {
		u, err := userBucket(tx, user)
		if err != nil {
			return err
		}
		for _, name := range [][]byte{bucketArchive, bucketArchiveWith} {
			if u.Bucket(name) == nil {
				continue
			}
			if err := u.DeleteBucket(name); err != nil {
				return err
			}
		}
		if meta := u.Bucket(bucketArchiveMeta); meta != nil {
			if err := meta.Delete(keyArchiveBytes); err != nil {
				return err
			}
			return meta.Delete(keyArchiveCount)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: purge archive: %w", err)
	}
	// Privacy: a purge must not leave the messages readable in free pages.
	return db.Scrub(context.WithoutCancel(ctx))
}

// ExpireArchive deletes, in every user's archive, the messages archived
// before the given time, and returns how many it deleted. Each user's
// archive is one transaction. The bytes stay in free pages until the next
// Scrub (the retention runner scrubs on every tick).
func (db *DB) ExpireArchive(ctx context.Context, before time.Time) (int, error) {
	var users [][]byte
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEachBucket(func(name []byte) error {
			if tx.Bucket(bucketUsers).Bucket(name).Bucket(bucketArchive) != nil {
				users = append(users, bytes.Clone(name))
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("store: expire archive: %w", err)
	}
	cut := uint64(max(before.UnixNano(), 0))
	total := 0
	for _, user := range users {
		// Chunks keep each transaction short, so that a first sweep over
		// a large archive does not hold up the writers for long.
		for {
			var n int
			err := db.update(ctx, func(tx *bolt.Tx) error {
				var err error
				n, err = expireArchiveTx(tx, string(user), cut, archiveExpireChunk)
				return err
			})
			if errors.Is(err, ErrNotFound) {
				break
			}
			if err != nil {
				return total, fmt.Errorf("store: expire archive: %w", err)
			}
			total += n
			if n < archiveExpireChunk {
				break
			}
		}
	}
	return total, nil
}

// expireArchiveTx deletes at most limit of the user's messages with seq < cut.
func expireArchiveTx(tx *bolt.Tx, user string, cut uint64, limit int) (int, error) {
	u, err := userBucket(tx, user)
	if err != nil {
		return 0, err
	}
	main, idx, meta := u.Bucket(bucketArchive), u.Bucket(bucketArchiveWith), u.Bucket(bucketArchiveMeta)
	if main == nil || idx == nil || meta == nil {
		return 0, nil
	}
	// Collect first: deleting under a cursor can skip items.
	type entry struct {
		key, with []byte
	}
	var old []entry
	freed := uint64(0)
	c := main.Cursor()
	for k, v := c.First(); k != nil && len(k) == 8 && binary.BigEndian.Uint64(k) < cut && len(old) < limit; k, v = c.Next() {
		w, _ := archivedWith(v) // a malformed value expires all the same
		old = append(old, entry{bytes.Clone(k), bytes.Clone(w)})
		freed += uint64(len(v))
	}
	removed := map[string]uint64{}
	for _, e := range old {
		if err := main.Delete(e.key); err != nil {
			return 0, err
		}
		prefix := withPrefix(string(e.with))
		if err := idx.Delete(append(prefix, e.key...)); err != nil {
			return 0, err
		}
		removed[string(e.with)]++
	}
	for with, n := range removed {
		prefix := withPrefix(with)
		have := getUvarint(idx, prefix)
		if err := putUvarint(idx, prefix, have-min(have, n)); err != nil {
			return 0, err
		}
	}
	size := getUvarint(meta, keyArchiveBytes)
	if err := putUvarint(meta, keyArchiveBytes, size-min(size, freed)); err != nil {
		return 0, err
	}
	have := getUvarint(meta, keyArchiveCount)
	return len(old), putUvarint(meta, keyArchiveCount, have-min(have, uint64(len(old))))
}
