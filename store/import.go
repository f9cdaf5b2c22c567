package store

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ImportData is one account as a migration brings it in (chatbx import,
// package internal/migrate): what XEP-0227 carries that the store holds.
type ImportData struct {
	// Credentials are the verifiers as the old server stored them. At
	// least one of SHA1 and SHA256 is complete; the other may be empty
	// (Prosody and ejabberd keep SCRAM-SHA-1 only).
	Credentials Credentials
	Roster      []RosterItem
	// VCard is the serialised vcard-temp element, empty for none.
	VCard []byte
	// Private maps the XEP-0049 key ("local namespace") to the fragment.
	Private   map[string][]byte
	Blocklist []string
	Offline   []ImportedMessage
	// PEP holds XEP-0163 nodes with their items (oldest first), capped by
	// PEPLimits as a publish is.
	PEP       []ImportedPEPNode
	PEPLimits PEPLimits
	// ArchivePrefs are the XEP-0441 archiving preferences (Gen ignored),
	// nil when the export has none: then nothing is written and the
	// server's default (never) applies. They are written only to an
	// account that has no stored preferences yet (see ImportAccount).
	ArchivePrefs *ArchivePrefs
}

// ImportedPEPNode is one PEP node to bring in. Node.Name names it; the
// configuration is used for a node the account does not have yet.
type ImportedPEPNode struct {
	Node  PEPNode
	Items []PEPItem
}

// ImportedMessage is one offline message to queue: the time it was
// stored and the serialised stanza (as c2s stores them).
type ImportedMessage struct {
	At     time.Time
	Stanza []byte
}

// ImportResult counts what ImportAccount changed.
type ImportResult struct {
	// Created is true for a new account, false for one updated.
	Created bool
	// Roster, Private, Blocked, Offline and PEP (nodes created and items
	// written) count the entries added or changed; VCard is true when the
	// vCard was written.
	Roster, Private, Blocked, Offline, PEP int
	VCard                                  bool
	// ArchivePrefs is true when the archiving preferences were written;
	// ArchivePrefsKept when the account had its own and they were kept.
	ArchivePrefs, ArchivePrefsKept bool
}

// Changed reports whether the import changed anything.
func (r ImportResult) Changed() bool {
	return r.Created || r.Roster > 0 || r.Private > 0 || r.Blocked > 0 || r.Offline > 0 || r.PEP > 0 || r.VCard || r.ArchivePrefs
}

// errDryRun rolls back a dry run's transaction.
var errDryRun = errors.New("store: dry run")

// ImportAccount brings one account in, in one transaction. A new account
// is created with everything in d. An existing account is updated only
// when same(its stored credentials) reports that it is the same account
// (same verifier, or the imported password matches): then roster items,
// private fragments and blocked JIDs are written over (the vCard only
// when it differs) and offline messages are queued unless an identical
// stanza is queued already, so importing a file twice changes nothing the
// second time. Otherwise it fails with ErrConflict and changes nothing.
// Archiving preferences are the exception to "written over": they are
// one choice of the user, so they are written only while the account has
// none stored (a new account, or one that never set any); preferences
// the user set on chatbx since, even "never", are kept
// (ImportResult.ArchivePrefsKept), so a second import never switches an
// archive back on.
//
// The caps apply as to any other write (Limits.RosterItems,
// PrivateBytes, OfflineBytes): one over them fails the whole account
// with ErrQuota. With dryRun, everything is checked and counted as if
// written and then rolled back. It fails with ErrInvalid for an empty
// name, credentials with no complete verifier, or an empty JID or key.
func (db *DB) ImportAccount(ctx context.Context, user string, d ImportData, same func(Credentials) bool, dryRun bool) (ImportResult, error) {
	var res ImportResult
	if err := checkUser(user); err != nil {
		return res, fmt.Errorf("store: import account: %w", err)
	}
	if err := d.Credentials.validateImported(); err != nil {
		return res, fmt.Errorf("store: import account: %w", err)
	}
	for _, it := range d.Roster {
		if err := checkJID(it.JID); err != nil {
			return res, fmt.Errorf("store: import account: roster: %w", err)
		}
	}
	for _, j := range d.Blocklist {
		if err := checkJID(j); err != nil {
			return res, fmt.Errorf("store: import account: blocklist: %w", err)
		}
	}
	for _, n := range d.PEP {
		if n.Node.Name == "" || len(n.Node.Name) > maxPEPName || n.Node.Name[0] == 0 {
			return res, fmt.Errorf("store: import account: pep: %w: node name", ErrInvalid)
		}
		for _, it := range n.Items {
			if it.ID == "" || len(it.ID) > maxPEPName {
				return res, fmt.Errorf("store: import account: pep: %w: item id", ErrInvalid)
			}
		}
	}
	if p := d.ArchivePrefs; p != nil {
		switch p.Default {
		case "always", "never", "roster":
		default:
			return res, fmt.Errorf("store: import account: archive prefs: %w: default %q", ErrInvalid, p.Default)
		}
		for _, list := range [][]string{p.Always, p.Never} {
			if len(list) > maxArchivePrefsJIDs {
				return res, fmt.Errorf("store: import account: archive prefs: %w: too many jids", ErrInvalid)
			}
			for _, j := range list {
				if err := checkJID(j); err != nil {
					return res, fmt.Errorf("store: import account: archive prefs: %w", err)
				}
			}
		}
	}
	for k := range d.Private {
		if k == "" || k[0] == 0 || len(k) > bolt.MaxKeySize {
			return res, fmt.Errorf("store: import account: private: %w: key", ErrInvalid)
		}
	}
	err := db.update(ctx, func(tx *bolt.Tx) error {
		res = ImportResult{}
		if u, _ := userBucket(tx, user); u == nil {
			if err := createUserTx(tx, user, d.Credentials); err != nil {
				return err
			}
			res.Created = true
		} else {
			b, err := userSub(tx, user, bucketAccount)
			if err != nil {
				return err
			}
			old, err := decodeCredentials(bytes.Clone(b.Get(keyCredentials)))
			if err != nil {
				return err
			}
			if same == nil || !same(old) {
				return ErrConflict
			}
		}
		if err := db.importTx(tx, user, d, &res); err != nil {
			return err
		}
		if dryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	if err != nil {
		return ImportResult{}, fmt.Errorf("store: import account: %w", err)
	}
	return res, nil
}

// importTx writes d's data into the existing account user.
func (db *DB) importTx(tx *bolt.Tx, user string, d ImportData, res *ImportResult) error {
	roster, err := userSub(tx, user, bucketRoster)
	if err != nil {
		return err
	}
	for i := range d.Roster {
		it := &d.Roster[i]
		v := encodeRosterItem(it)
		old := roster.Get([]byte(it.JID))
		if bytes.Equal(old, v) {
			continue
		}
		if old == nil {
			if err := db.addRosterItem(roster); err != nil {
				return err
			}
		}
		if err := roster.Put([]byte(it.JID), v); err != nil {
			return err
		}
		res.Roster++
	}
	if res.Roster > 0 {
		if _, err := bumpRosterVer(roster); err != nil {
			return err
		}
	}
	if len(d.VCard) > 0 {
		b, err := userSub(tx, user, bucketVCard)
		if err != nil {
			return err
		}
		v := append([]byte{codecV1}, d.VCard...)
		if !bytes.Equal(b.Get(keyVCard), v) {
			if err := b.Put(keyVCard, v); err != nil {
				return err
			}
			res.VCard = true
		}
	}
	if len(d.Private) > 0 {
		b, err := userSub(tx, user, bucketPrivate)
		if err != nil {
			return err
		}
		total := getUvarint(b, keyPrivateBytes)
		for k, x := range d.Private {
			v := append([]byte{codecV1}, x...)
			old := b.Get([]byte(k))
			if bytes.Equal(old, v) || len(x) == 0 {
				continue
			}
			if len(old) > 0 {
				total -= min(total, uint64(len(old)-1))
			}
			if over(total, uint64(len(x)), db.limits.PrivateBytes) {
				return ErrQuota
			}
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
			total += uint64(len(x))
			res.Private++
		}
		if err := putUvarint(b, keyPrivateBytes, total); err != nil {
			return err
		}
	}
	if len(d.Blocklist) > 0 {
		b, err := userSub(tx, user, bucketBlocklist)
		if err != nil {
			return err
		}
		for _, j := range d.Blocklist {
			if b.Get([]byte(j)) != nil {
				continue
			}
			if err := b.Put([]byte(j), flagValue); err != nil {
				return err
			}
			res.Blocked++
		}
	}
	if len(d.Offline) > 0 {
		b, err := userSub(tx, user, bucketOffline)
		if err != nil {
			return err
		}
		// What is queued already, so that a second import adds nothing.
		queued := map[string]bool{}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				continue
			}
			if _, _, stanza, ok := splitOffline(v); ok {
				queued[string(stanza)] = true
			}
		}
		n, total := offlineCount(b), getUvarint(b, keyOfflineBytes)
		for _, m := range d.Offline {
			if queued[string(m.Stanza)] || len(m.Stanza) == 0 {
				continue
			}
			size := uint64(len(m.Stanza))
			if over(total, size, db.limits.OfflineBytes) {
				return ErrQuota
			}
			id, err := b.NextSequence()
			if err != nil {
				return err
			}
			if err := b.Put(u64key(id), encodeOffline(m.At, nil, m.Stanza)); err != nil {
				return err
			}
			queued[string(m.Stanza)] = true
			total += size
			n++
			res.Offline++
		}
		if err := putUvarint(b, keyOfflineBytes, total); err != nil {
			return err
		}
		if err := setOfflineCount(b, n); err != nil {
			return err
		}
	}
	if d.ArchivePrefs != nil {
		b, err := userSub(tx, user, bucketArchiveMeta)
		if err != nil {
			return err
		}
		if b.Get(keyArchivePrefs) != nil {
			res.ArchivePrefsKept = true
		} else {
			p := *d.ArchivePrefs
			p.Gen = newArchivePrefsGen()
			if err := b.Put(keyArchivePrefs, encodeArchivePrefs(p)); err != nil {
				return err
			}
			res.ArchivePrefs = true
		}
	}
	return db.importPEPTx(tx, user, d.PEP, d.PEPLimits, res)
}

// importPEPTx creates the nodes the account lacks and stores the items
// that differ from the stored ones, as PEPPublish would one by one.
func (db *DB) importPEPTx(tx *bolt.Tx, user string, nodes []ImportedPEPNode, lim PEPLimits, res *ImportResult) error {
	if len(nodes) == 0 {
		return nil
	}
	root, err := userSub(tx, user, bucketPEP)
	if err != nil {
		return err
	}
	for _, in := range nodes {
		name := []byte(in.Node.Name)
		nb := root.Bucket(name)
		if nb == nil {
			if lim.Nodes > 0 {
				count := 0
				root.ForEachBucket(func([]byte) error { count++; return nil })
				if count >= lim.Nodes {
					return ErrQuota
				}
			}
			if nb, err = root.CreateBucket(name); err != nil {
				return err
			}
			n := in.Node
			n.MaxItems = max(n.MaxItems, 1)
			if err := nb.Put(keyPEPConfig, encodePEPNode(&n)); err != nil {
				return err
			}
			res.PEP++
		}
		n, err := decodePEPNode(in.Node.Name, nb.Get(keyPEPConfig))
		if err != nil {
			return err
		}
		if !n.Persist {
			continue
		}
		for _, it := range in.Items {
			if old, err := pepItemTx(nb, it.ID); err == nil && bytes.Equal(old.Payload, it.Payload) {
				continue
			}
			if _, err := pepRemoveTx(root, nb, it.ID); err != nil {
				return err
			}
			seq := getUvarint(nb, keyPEPSeq) + 1
			if err := putUvarint(nb, keyPEPSeq, seq); err != nil {
				return err
			}
			v := binary.BigEndian.AppendUint64([]byte{codecV1}, seq)
			if err := nb.Put(pepItemKey(it.ID), append(v, it.Payload...)); err != nil {
				return err
			}
			if err := nb.Put(pepSeqKey(seq), []byte(it.ID)); err != nil {
				return err
			}
			if err := putUvarint(root, keyPEPItems, getUvarint(root, keyPEPItems)+1); err != nil {
				return err
			}
			if err := putUvarint(root, keyPEPBytes, getUvarint(root, keyPEPBytes)+uint64(len(it.ID)+len(it.Payload))); err != nil {
				return err
			}
			res.PEP++
		}
		if err := pepTrimTx(root, nb, n.MaxItems); err != nil {
			return err
		}
	}
	if over(getUvarint(root, keyPEPItems), 0, int64(lim.Items)) || over(getUvarint(root, keyPEPBytes), 0, lim.Bytes) {
		return ErrQuota
	}
	return nil
}

// validateImported checks imported verifiers: each is either empty or
// complete (a salt, at least one iteration, keys of the hash's size), and
// at least one is complete. The iteration count is kept as the old server
// stored it, even below MinIterations: the login must match it.
func (c Credentials) validateImported() error {
	complete := 0
	for _, x := range []struct {
		name string
		k    SCRAMKeys
		size int
	}{{"SHA-1", c.SHA1, sha1.Size}, {"SHA-256", c.SHA256, sha256.Size}} {
		if len(x.k.StoredKey) == 0 && len(x.k.ServerKey) == 0 && len(x.k.Salt) == 0 {
			continue
		}
		switch {
		case x.k.Iterations < 1:
			return fmt.Errorf("%w: %s verifier: %d iterations", ErrInvalid, x.name, x.k.Iterations)
		case len(x.k.Salt) == 0:
			return fmt.Errorf("%w: %s verifier: empty salt", ErrInvalid, x.name)
		case len(x.k.StoredKey) != x.size || len(x.k.ServerKey) != x.size:
			return fmt.Errorf("%w: %s verifier: wrong key length", ErrInvalid, x.name)
		}
		complete++
	}
	if complete == 0 {
		return fmt.Errorf("%w: no verifier", ErrInvalid)
	}
	return nil
}
