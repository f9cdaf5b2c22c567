package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// PEP (XEP-0163) storage: users/<user>/pep/<node>/ holds one node.
//
//	pep/"\x00n"          items stored over all nodes (uvarint)
//	pep/"\x00b"          bytes stored over all nodes: item ids and payloads (uvarint)
//	pep/<node>/"c"       the node's configuration (PEPNode)
//	pep/<node>/"q"       the next publish sequence number (uvarint)
//	pep/<node>/"i"<id>   an item: sequence (8 bytes), payload XML
//	pep/<node>/"s"<seq>  publish order: 8-byte sequence → item id
//
// Everything is under the user's subtree, so deleting the account deletes
// it in the same transaction.
var (
	bucketPEP    = []byte("pep")
	keyPEPItems  = []byte{0, 'n'}
	keyPEPBytes  = []byte{0, 'b'}
	keyPEPConfig = []byte("c")
	keyPEPSeq    = []byte("q")
)

// PEPNode is a PEP node's configuration (XEP-0060 §16.4.3 pubsub#node_config,
// the fields chatbx keeps).
type PEPNode struct {
	Name string
	// Access is the access model: "open", "presence", "roster" or
	// "whitelist".
	Access string
	// MaxItems is how many items the node keeps (the caller resolves
	// "max"); the oldest go first. At least 1.
	MaxItems int
	// Persist: items are stored (pubsub#persist_items); without it only
	// notifications are sent.
	Persist bool
	// SendLast is pubsub#send_last_published_item: "never", "on_sub" or
	// "on_sub_and_presence".
	SendLast string
	// NotifyRetract: retractions are notified (pubsub#notify_retract).
	NotifyRetract bool
	// Title is pubsub#title.
	Title string
	// Groups are the roster groups allowed for the roster access model.
	Groups []string
	// Members are the bare JIDs with affiliation member (the whitelist).
	Members []string
}

// PEPItem is one published item: its id and its payload, serialised XML.
type PEPItem struct {
	ID      string
	Payload []byte
}

// PEPLimits cap what one account keeps in PEP; a field <= 0 is no limit.
type PEPLimits struct {
	Items int   // items over all nodes
	Bytes int64 // item ids and payloads over all nodes
	Nodes int   // nodes
}

// maxPEPName bounds node names and item ids (bbolt keys).
const maxPEPName = 1024

func encodePEPNode(n *PEPNode) []byte {
	b := []byte{codecV1}
	b = appendString(b, n.Access)
	b = appendUvarint(b, uint64(max(n.MaxItems, 1)))
	b = append(b, boolByte(n.Persist), boolByte(n.NotifyRetract))
	b = appendString(b, n.SendLast)
	b = appendString(b, n.Title)
	b = appendUvarint(b, uint64(len(n.Groups)))
	for _, g := range n.Groups {
		b = appendString(b, g)
	}
	b = appendUvarint(b, uint64(len(n.Members)))
	for _, m := range n.Members {
		b = appendString(b, m)
	}
	return b
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

func decodePEPNode(name string, v []byte) (PEPNode, error) {
	d := newDecoder(v)
	n := PEPNode{Name: name}
	n.Access = d.string()
	n.MaxItems = int(min(d.uvarint(), 1<<31-1))
	n.Persist = d.byte() == 1
	n.NotifyRetract = d.byte() == 1
	n.SendLast = d.string()
	n.Title = d.string()
	for i, c := uint64(0), d.uvarint(); i < c && d.err == nil; i++ {
		n.Groups = append(n.Groups, d.string())
	}
	for i, c := uint64(0), d.uvarint(); i < c && d.err == nil; i++ {
		n.Members = append(n.Members, d.string())
	}
	return n, d.done()
}

func pepItemKey(id string) []byte { return append([]byte{'i'}, id...) }

func pepSeqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{'s'}, seq)
}

// pepNodeTx returns the node's bucket and configuration, or ErrNotFound.
func pepNodeTx(tx *bolt.Tx, user, node string) (*bolt.Bucket, *bolt.Bucket, PEPNode, error) {
	root, err := userSub(tx, user, bucketPEP)
	if err != nil {
		return nil, nil, PEPNode{}, err
	}
	if root == nil || node == "" {
		return nil, nil, PEPNode{}, ErrNotFound
	}
	nb := root.Bucket([]byte(node))
	if nb == nil {
		return root, nil, PEPNode{}, ErrNotFound
	}
	n, err := decodePEPNode(node, nb.Get(keyPEPConfig))
	return root, nb, n, err
}

// pepItemsTx returns the node's items in publish order.
func pepItemsTx(nb *bolt.Bucket) ([]PEPItem, error) {
	var out []PEPItem
	c := nb.Cursor()
	for k, id := c.Seek([]byte{'s'}); k != nil && k[0] == 's'; k, id = c.Next() {
		it, err := pepItemTx(nb, string(id))
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

func pepItemTx(nb *bolt.Bucket, id string) (PEPItem, error) {
	v := nb.Get(pepItemKey(id))
	if v == nil {
		return PEPItem{}, ErrNotFound
	}
	d := newDecoder(v)
	d.u64()
	p := bytes.Clone(d.rest())
	if d.err != nil {
		return PEPItem{}, d.err
	}
	return PEPItem{ID: id, Payload: p}, nil
}

// pepRemoveTx deletes one item and updates the usage counters.
func pepRemoveTx(root, nb *bolt.Bucket, id string) (bool, error) {
	v := nb.Get(pepItemKey(id))
	if v == nil {
		return false, nil
	}
	d := newDecoder(v)
	seq := d.u64()
	size := uint64(len(id) + len(d.rest()))
	if d.err != nil {
		return false, d.err
	}
	if err := nb.Delete(pepItemKey(id)); err != nil {
		return false, err
	}
	if err := nb.Delete(pepSeqKey(seq)); err != nil {
		return false, err
	}
	items := getUvarint(root, keyPEPItems)
	if err := putUvarint(root, keyPEPItems, items-min(1, items)); err != nil {
		return false, err
	}
	have := getUvarint(root, keyPEPBytes)
	return true, putUvarint(root, keyPEPBytes, have-min(have, size))
}

// pepTrimTx deletes the oldest items beyond keep.
func pepTrimTx(root, nb *bolt.Bucket, keep int) error {
	var ids []string
	c := nb.Cursor()
	for k, id := c.Seek([]byte{'s'}); k != nil && k[0] == 's'; k, id = c.Next() {
		ids = append(ids, string(id))
	}
	for len(ids) > keep {
		if _, err := pepRemoveTx(root, nb, ids[0]); err != nil {
			return err
		}
		ids = ids[1:]
	}
	return nil
}

// PEPPublish creates or reconfigures a node and, if it is not nil, stores
// item in it (replacing an item with the same id), in one transaction.
// prepare gets the node's configuration (a zero PEPNode named node when
// exists is false) and may change it or refuse with an error, which is
// returned as is (the publish-options preconditions are checked there).
// The item is stored only if the node persists items; the oldest items
// beyond MaxItems are deleted. It fails with ErrNotFound for an unknown
// user, ErrInvalid for an empty or overlong node name or item id, and
// ErrQuota when the account would exceed lim.
func (db *DB) PEPPublish(ctx context.Context, user, node string, prepare func(n *PEPNode, exists bool) error, item *PEPItem, lim PEPLimits) (PEPNode, error) {
	if node == "" || len(node) > maxPEPName || node[0] == 0 {
		return PEPNode{}, fmt.Errorf("store: pep publish: %w: node name", ErrInvalid)
	}
	if item != nil && (item.ID == "" || len(item.ID) > maxPEPName) {
		return PEPNode{}, fmt.Errorf("store: pep publish: %w: item id", ErrInvalid)
	}
	var out PEPNode
	err := db.update(ctx, func(tx *bolt.Tx) error {
		root, err := userSub(tx, user, bucketPEP)
		if err != nil {
			return err
		}
		nb := root.Bucket([]byte(node))
		exists := nb != nil
		n := PEPNode{Name: node}
		if exists {
			if n, err = decodePEPNode(node, nb.Get(keyPEPConfig)); err != nil {
				return err
			}
		}
		if err := prepare(&n, exists); err != nil {
			return err
		}
		n.Name, n.MaxItems = node, max(n.MaxItems, 1)
		if !exists {
			if lim.Nodes > 0 {
				count := 0
				root.ForEachBucket(func([]byte) error { count++; return nil })
				if count >= lim.Nodes {
					return ErrQuota
				}
			}
			if nb, err = root.CreateBucket([]byte(node)); err != nil {
				return err
			}
		}
		if err := nb.Put(keyPEPConfig, encodePEPNode(&n)); err != nil {
			return err
		}
		out = n
		if !n.Persist {
			// Nothing is kept of a node that does not persist items.
			return pepTrimTx(root, nb, 0)
		}
		if item != nil {
			if _, err := pepRemoveTx(root, nb, item.ID); err != nil {
				return err
			}
			seq := getUvarint(nb, keyPEPSeq) + 1
			if err := putUvarint(nb, keyPEPSeq, seq); err != nil {
				return err
			}
			v := binary.BigEndian.AppendUint64([]byte{codecV1}, seq)
			if err := nb.Put(pepItemKey(item.ID), append(v, item.Payload...)); err != nil {
				return err
			}
			if err := nb.Put(pepSeqKey(seq), []byte(item.ID)); err != nil {
				return err
			}
			if err := putUvarint(root, keyPEPItems, getUvarint(root, keyPEPItems)+1); err != nil {
				return err
			}
			if err := putUvarint(root, keyPEPBytes, getUvarint(root, keyPEPBytes)+uint64(len(item.ID)+len(item.Payload))); err != nil {
				return err
			}
		}
		if err := pepTrimTx(root, nb, n.MaxItems); err != nil {
			return err
		}
		if over(getUvarint(root, keyPEPItems), 0, int64(lim.Items)) || over(getUvarint(root, keyPEPBytes), 0, lim.Bytes) {
			return ErrQuota // rolls the whole publish back
		}
		return nil
	})
	if err != nil {
		return PEPNode{}, fmt.Errorf("store: pep publish: %w", err)
	}
	return out, nil
}

// PEPNode returns a node's configuration, or ErrNotFound.
func (db *DB) PEPNode(ctx context.Context, user, node string) (PEPNode, error) {
	var n PEPNode
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		_, _, n, err = pepNodeTx(tx, user, node)
		return err
	})
	if err != nil {
		return PEPNode{}, fmt.Errorf("store: pep node: %w", err)
	}
	return n, nil
}

// PEPItems returns a node's configuration and items in publish order: the
// items named by ids (ErrNotFound wraps none; missing ones are left out),
// or all of them, or with last > 0 the newest last ones. It fails with
// ErrNotFound for an unknown user or node.
func (db *DB) PEPItems(ctx context.Context, user, node string, ids []string, last int) (PEPNode, []PEPItem, error) {
	var n PEPNode
	var items []PEPItem
	err := db.view(ctx, func(tx *bolt.Tx) error {
		_, nb, cfg, err := pepNodeTx(tx, user, node)
		if err != nil {
			return err
		}
		n = cfg
		if len(ids) > 0 {
			for _, id := range ids {
				it, err := pepItemTx(nb, id)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				items = append(items, it)
			}
			return nil
		}
		if last > 0 {
			// Walk back from the newest.
			c := nb.Cursor()
			k, id := c.Seek([]byte{'t'})
			if k == nil {
				k, id = c.Last()
			} else {
				k, id = c.Prev()
			}
			for ; k != nil && k[0] == 's' && len(items) < last; k, id = c.Prev() {
				it, err := pepItemTx(nb, string(id))
				if err != nil {
					return err
				}
				items = append(items, it)
			}
			for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
				items[i], items[j] = items[j], items[i]
			}
			return nil
		}
		items, err = pepItemsTx(nb)
		return err
	})
	if err != nil {
		return PEPNode{}, nil, fmt.Errorf("store: pep items: %w", err)
	}
	return n, items, nil
}

// PEPNodes returns the user's nodes with their newest item (nil for a node
// without items), in node name order.
func (db *DB) PEPNodes(ctx context.Context, user string) ([]PEPNode, []*PEPItem, error) {
	var nodes []PEPNode
	var last []*PEPItem
	err := db.view(ctx, func(tx *bolt.Tx) error {
		root, err := userSub(tx, user, bucketPEP)
		if err != nil || root == nil {
			return err
		}
		return root.ForEachBucket(func(k []byte) error {
			nb := root.Bucket(k)
			n, err := decodePEPNode(string(k), nb.Get(keyPEPConfig))
			if err != nil {
				return err
			}
			var it *PEPItem
			c := nb.Cursor()
			sk, id := c.Seek([]byte{'t'})
			if sk == nil {
				sk, id = c.Last()
			} else {
				sk, id = c.Prev()
			}
			if sk != nil && sk[0] == 's' {
				v, err := pepItemTx(nb, string(id))
				if err != nil {
					return err
				}
				it = &v
			}
			nodes = append(nodes, n)
			last = append(last, it)
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store: pep nodes: %w", err)
	}
	return nodes, last, nil
}

// PEPRetract deletes items from a node and returns the ids it deleted. It
// fails with ErrNotFound for an unknown user or node.
func (db *DB) PEPRetract(ctx context.Context, user, node string, ids []string) (PEPNode, []string, error) {
	var n PEPNode
	var gone []string
	err := db.update(ctx, func(tx *bolt.Tx) error {
		root, nb, cfg, err := pepNodeTx(tx, user, node)
		if err != nil {
			return err
		}
		n = cfg
		for _, id := range ids {
			ok, err := pepRemoveTx(root, nb, id)
			if err != nil {
				return err
			}
			if ok {
				gone = append(gone, id)
			}
		}
		return nil
	})
	if err != nil {
		return PEPNode{}, nil, fmt.Errorf("store: pep retract: %w", err)
	}
	return n, gone, nil
}

// PEPPurge deletes every item of a node (purge=true) or the node itself.
// It fails with ErrNotFound for an unknown user or node.
func (db *DB) PEPPurge(ctx context.Context, user, node string, deleteNode bool) (PEPNode, error) {
	var n PEPNode
	err := db.update(ctx, func(tx *bolt.Tx) error {
		root, nb, cfg, err := pepNodeTx(tx, user, node)
		if err != nil {
			return err
		}
		n = cfg
		if err := pepTrimTx(root, nb, 0); err != nil {
			return err
		}
		if deleteNode {
			return root.DeleteBucket([]byte(node))
		}
		return nil
	})
	if err != nil {
		return PEPNode{}, fmt.Errorf("store: pep purge: %w", err)
	}
	return n, nil
}

// PEPUsage returns the items and bytes the user keeps in PEP.
func (db *DB) PEPUsage(ctx context.Context, user string) (items int, size int64, err error) {
	err = db.view(ctx, func(tx *bolt.Tx) error {
		root, err := userSub(tx, user, bucketPEP)
		if err != nil || root == nil {
			return err
		}
		items, size = int(getUvarint(root, keyPEPItems)), int64(getUvarint(root, keyPEPBytes))
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("store: pep usage: %w", err)
	}
	return items, size, nil
}

// PEPExport calls fn for each of the user's nodes with all its items, in
// node name order (for the account export). Memory is bounded by one
// node, which PEPLimits bounds.
func (db *DB) PEPExport(ctx context.Context, user string, fn func(PEPNode, []PEPItem) error) error {
	var names []string
	err := db.view(ctx, func(tx *bolt.Tx) error {
		root, err := userSub(tx, user, bucketPEP)
		if err != nil || root == nil {
			return err
		}
		return root.ForEachBucket(func(k []byte) error {
			names = append(names, string(k))
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("store: pep export: %w", err)
	}
	for _, name := range names {
		n, items, err := db.PEPItems(ctx, user, name, nil, 0)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // deleted meanwhile
			}
			return err
		}
		if err := fn(n, items); err != nil {
			return err
		}
	}
	return nil
}
