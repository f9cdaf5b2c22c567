package pep

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"

	"chatbx/server/wire"
	"chatbx/store"
)

// Conversions between PEP and the older storage clients still read:
//
//   - Avatars (XEP-0398): a published XEP-0084 avatar becomes the vCard's
//     PHOTO, and a vCard PHOTO set with vcard-temp is published as
//     XEP-0084 data and metadata. The server puts the XEP-0153 hash of the
//     vCard photo into the user's available presence.
//     Privacy: vcard-temp is readable by anyone who asks, so a PEP avatar
//     is copied into the vCard only when its data node is open
//     (XEP-0398 §6); a presence-only avatar stays with the contacts.
//   - Bookmarks (XEP-0402 #compat, XEP-0411): the urn:xmpp:bookmarks:1
//     node and XEP-0049 private storage storage:bookmarks (XEP-0048) are
//     kept in step both ways, and so is a XEP-0048 PEP node
//     storage:bookmarks (#compat-pep) where a client created one.
//
// Only changes a client makes start a conversion; what a conversion writes
// does not convert back.

// Namespaces and nodes of the conversions.
const (
	NodeAvatarData     = "urn:xmpp:avatar:data"
	NodeAvatarMetadata = "urn:xmpp:avatar:metadata"
	NodeBookmarks      = "urn:xmpp:bookmarks:1"
	NodeLegacyBookmark = "storage:bookmarks"
	nsVCard            = "vcard-temp"
	nsVCardUpdate      = "vcard-temp:x:update"
	// privateBookmarks is the private storage key of storage:bookmarks
	// (package private: "<element> <namespace>").
	privateBookmarks = "storage storage:bookmarks"
)

// ConversionFeatures are advertised on accounts.
var ConversionFeatures = []string{
	"urn:xmpp:pep-vcard-conversion:0", NodeBookmarks, NodeBookmarks + "#compat",
	NodeBookmarks + "#compat-pep", "urn:xmpp:bookmarks-conversion:0",
}

// Conversions is the storage the conversions read and write besides PEP.
type Conversions interface {
	VCard(ctx context.Context, user string) ([]byte, error)
	SetVCard(ctx context.Context, user string, xml []byte) error
	Private(ctx context.Context, user, key string) ([]byte, error)
	SetPrivate(ctx context.Context, user, key string, xml []byte) error
}

var _ Conversions = (*store.DB)(nil)

// photoHashes caches the XEP-0153 hash of each user's vCard photo ("" for
// none) for the presence hook; an entry is filled on first use.
type photoHashes struct {
	mu sync.Mutex
	m  map[string]string
}

func (h *photoHashes) get(user string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[user]
	return v, ok
}

func (h *photoHashes) set(user, hash string) {
	h.mu.Lock()
	if h.m == nil {
		h.m = map[string]string{}
	}
	h.m[user] = hash
	h.mu.Unlock()
}

// Forget drops what the service caches about user (after deletion).
func (p *PEP) Forget(user string) {
	p.hashes.mu.Lock()
	delete(p.hashes.m, user)
	p.hashes.mu.Unlock()
	p.remote.forgetOwner(user)
}

// changed runs after a client's publish, retract, purge or delete on
// owner's node.
func (p *PEP) changed(ctx context.Context, owner, node string) {
	if p.conv == nil {
		return
	}
	switch node {
	case NodeAvatarMetadata:
		p.avatarToVCard(ctx, owner)
	case NodeBookmarks:
		p.bookmarksToPrivate(ctx, owner)
	case NodeLegacyBookmark:
		// A XEP-0048 client on PEP: its storage is the truth now.
		_, items, err := p.db.PEPItems(ctx, owner, NodeLegacyBookmark, nil, 1)
		if err != nil {
			return
		}
		st := wire.New(NodeLegacyBookmark, "storage")
		if len(items) > 0 {
			if el, err := wire.Parse(items[0].Payload); err == nil && el.Space == NodeLegacyBookmark && el.Local == "storage" {
				st = el
			}
		}
		p.setPrivateBookmarks(ctx, owner, st)
		p.storageToBookmarks(ctx, owner, st)
	}
}

// avatarToVCard copies the avatar the metadata node points at into the
// vCard's PHOTO (XEP-0398 §3.1), or removes the PHOTO when the metadata
// is empty (avatar switched off).
func (p *PEP) avatarToVCard(ctx context.Context, owner string) {
	_, items, err := p.db.PEPItems(ctx, owner, NodeAvatarMetadata, nil, 1)
	if err != nil || len(items) == 0 {
		return
	}
	md, err := wire.Parse(items[0].Payload)
	if err != nil || md.Space != NodeAvatarMetadata || md.Local != "metadata" {
		return
	}
	var info *wire.Element
	for _, in := range md.Elements() {
		// §3.1: pick the info that does not point to an external URL.
		if in.Space == NodeAvatarMetadata && in.Local == "info" && in.Get("url") == "" {
			info = in
			break
		}
	}
	if info == nil {
		if len(md.Elements()) == 0 {
			p.setPhoto(ctx, owner, "", nil)
		}
		return
	}
	id := strings.ToLower(info.Get("id"))
	dn, data, err := p.db.PEPItems(ctx, owner, NodeAvatarData, []string{info.Get("id")}, 0)
	if err != nil || len(data) == 0 || dn.Access != "open" {
		return // no data, or not public: stays in PEP only
	}
	d, err := wire.Parse(data[0].Payload)
	if err != nil || d.Space != NodeAvatarData || d.Local != "data" {
		return
	}
	raw, err := decodeBase64(d.Text())
	if err != nil {
		return
	}
	sum := sha1.Sum(raw)
	if hex.EncodeToString(sum[:]) != id {
		return // §3.1: the hash must match the id
	}
	typ := info.Get("type")
	if typ == "" {
		typ = "image/png"
	}
	p.setPhoto(ctx, owner, typ, raw)
}

// setPhoto writes the vCard's PHOTO (raw nil: removes it) unless the
// vCard already has that photo, and updates the presence hash.
func (p *PEP) setPhoto(ctx context.Context, owner, typ string, raw []byte) {
	card := p.loadVCard(ctx, owner)
	hash := ""
	if raw != nil {
		sum := sha1.Sum(raw)
		hash = hex.EncodeToString(sum[:])
	}
	if old, _ := vcardPhoto(card); old == hash {
		p.hashes.set(owner, hash)
		return
	}
	card.RemoveChildren(nsVCard, "PHOTO")
	if raw != nil {
		card.Add(wire.New(nsVCard, "PHOTO").Add(
			wire.New(nsVCard, "TYPE").AddText(typ),
			wire.New(nsVCard, "BINVAL").AddText(base64.StdEncoding.EncodeToString(raw))))
	}
	b := card.Bytes("")
	if len(card.Elements()) == 0 {
		b = nil
	}
	if len(b) > p.cfg.VCardMaxBytes {
		p.cfg.Log.Debug().Int("count", 1).Msg("avatar too large for the vcard")
		return
	}
	if err := p.conv.SetVCard(ctx, owner, b); err != nil {
		p.cfg.Log.Warn().Err(err).Msg("avatar to vcard")
		return
	}
	p.hashes.set(owner, hash)
}

// loadVCard returns owner's vCard, or an empty one.
func (p *PEP) loadVCard(ctx context.Context, owner string) *wire.Element {
	if b, err := p.conv.VCard(ctx, owner); err == nil && len(b) > 0 {
		if el, err := wire.Parse(b); err == nil && el.Space == nsVCard && el.Local == "vCard" {
			return el
		}
	}
	return wire.New(nsVCard, "vCard")
}

// vcardPhoto returns the SHA-1 (hex) and bytes of a vCard's PHOTO BINVAL;
// "" if it has none.
func vcardPhoto(card *wire.Element) (string, []byte) {
	ph := card.Child(nsVCard, "PHOTO")
	if ph == nil {
		return "", nil
	}
	raw, err := decodeBase64(ph.ChildText(nsVCard, "BINVAL"))
	if err != nil || len(raw) == 0 {
		return "", nil
	}
	sum := sha1.Sum(raw)
	return hex.EncodeToString(sum[:]), raw
}

// decodeBase64 decodes base64 with line breaks and spaces (vCards wrap it).
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	return base64.StdEncoding.DecodeString(s)
}

// VCardChanged is the vcard-temp hook (vcard.Config.Changed): a PHOTO set
// by a client is published as XEP-0084 data and metadata (XEP-0398 §3.2);
// a PHOTO removed switches the PEP avatar off. card is nil when the vCard
// was deleted.
func (p *PEP) VCardChanged(ctx context.Context, user string, card *wire.Element) {
	if card == nil {
		card = wire.New(nsVCard, "vCard")
	}
	hash, raw := vcardPhoto(card)
	old, known := p.hashes.get(user)
	p.hashes.set(user, hash)
	if known && old == hash {
		return
	}
	if hash == "" {
		// Only an existing avatar is switched off.
		if _, err := p.db.PEPNode(ctx, user, NodeAvatarMetadata); err == nil {
			p.publishAs(ctx, user, NodeAvatarMetadata, "current", wire.New(NodeAvatarMetadata, "metadata"), nil)
		}
		return
	}
	if _, items, err := p.db.PEPItems(ctx, user, NodeAvatarData, []string{hash}, 0); err == nil && len(items) > 0 {
		return // this photo is already the PEP avatar
	}
	typ := card.Child(nsVCard, "PHOTO").ChildText(nsVCard, "TYPE")
	if typ == "" {
		typ = "image/png"
	}
	// The vCard is public, so the converted avatar is too.
	open := func(n *store.PEPNode) { n.Access = "open" }
	data := wire.New(NodeAvatarData, "data").AddText(base64.StdEncoding.EncodeToString(raw))
	if !p.publishAs(ctx, user, NodeAvatarData, hash, data, open) {
		return
	}
	md := wire.New(NodeAvatarMetadata, "metadata").Add(
		wire.New(NodeAvatarMetadata, "info", "id", hash, "bytes", strconv.Itoa(len(raw)), "type", typ))
	p.publishAs(ctx, user, NodeAvatarMetadata, hash, md, open)
}

// PresenceStanza is the outgoing presence hook (mux.PresenceHook): it adds the XEP-0153
// hash of the user's vCard photo to an available presence (XEP-0398 §4),
// unless the client put a <photo/> there itself.
func (p *PEP) PresenceStanza(user string, el *wire.Element) *wire.Element {
	if p.conv == nil {
		return el
	}
	x := el.Child(nsVCardUpdate, "x")
	if x != nil && x.Child(nsVCardUpdate, "photo") != nil {
		return el // the client's own choice, even an empty photo
	}
	hash, ok := p.hashes.get(user)
	if !ok {
		hash, _ = vcardPhoto(p.loadVCard(context.Background(), user))
		p.hashes.set(user, hash)
	}
	if hash == "" {
		return el
	}
	c := el.Copy()
	c.RemoveChildren(nsVCardUpdate, "x")
	return c.Add(wire.New(nsVCardUpdate, "x").Add(wire.New(nsVCardUpdate, "photo").AddText(hash)))
}

// publishAs publishes payload as item id to owner's node on the owner's
// behalf, creating the node with the defaults changed by create, and
// notifies; it reports success.
func (p *PEP) publishAs(ctx context.Context, owner, node, id string, payload *wire.Element, create func(*store.PEPNode)) bool {
	b := payload.Bytes("")
	if len(b) > p.cfg.MaxItemBytes {
		return false
	}
	n, err := p.db.PEPPublish(ctx, owner, node, func(n *store.PEPNode, exists bool) error {
		if !exists {
			*n = p.defaults(node)
			if create != nil {
				create(n)
			}
		}
		return nil
	}, &store.PEPItem{ID: id, Payload: b}, p.limits())
	if err != nil {
		if !errors.Is(err, store.ErrQuota) {
			p.cfg.Log.Warn().Err(err).Msg("pep conversion publish")
		}
		return false
	}
	p.notify(ctx, owner, &n, wire.New(NSEvent, "items", "node", node).Add(
		wire.New(NSEvent, "item", "id", id).Add(payload)))
	return true
}

// bookmarkNode is the configuration XEP-0402 §3.3 asks for.
func (p *PEP) bookmarkNode(n *store.PEPNode) {
	n.Access, n.MaxItems, n.SendLast, n.Persist = "whitelist", p.cfg.MaxNodeItems, "never", true
}

// bookmarksToPrivate writes the XEP-0402 bookmarks as XEP-0048 storage
// into private storage, keeping its <url/> entries, and into the
// storage:bookmarks PEP node if a client uses one.
func (p *PEP) bookmarksToPrivate(ctx context.Context, owner string) {
	_, items, err := p.db.PEPItems(ctx, owner, NodeBookmarks, nil, 0)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return
	}
	st := wire.New(NodeLegacyBookmark, "storage")
	for _, it := range items {
		c, err := wire.Parse(it.Payload)
		if err != nil || c.Space != NodeBookmarks || c.Local != "conference" {
			continue
		}
		lc := wire.New(NodeLegacyBookmark, "conference", "jid", it.ID)
		if v := c.Get("name"); v != "" {
			lc.Set("name", v)
		}
		if v := c.Get("autojoin"); v == "true" || v == "1" {
			lc.Set("autojoin", "true")
		}
		for _, name := range []string{"nick", "password"} {
			if v := c.ChildText(NodeBookmarks, name); v != "" {
				lc.Add(wire.New(NodeLegacyBookmark, name).AddText(v))
			}
		}
		st.Add(lc)
	}
	if old := p.privateBookmarks(ctx, owner); old != nil {
		for _, u := range old.Elements() {
			if u.Local == "url" {
				st.Add(u)
			}
		}
	}
	p.setPrivateBookmarks(ctx, owner, st)
	if _, err := p.db.PEPNode(ctx, owner, NodeLegacyBookmark); err == nil {
		p.publishAs(ctx, owner, NodeLegacyBookmark, "current", st, nil)
	}
}

// privateBookmarks returns the stored XEP-0048 storage, or nil.
func (p *PEP) privateBookmarks(ctx context.Context, owner string) *wire.Element {
	b, err := p.conv.Private(ctx, owner, privateBookmarks)
	if err != nil || len(b) == 0 {
		return nil
	}
	el, err := wire.Parse(b)
	if err != nil || el.Space != NodeLegacyBookmark || el.Local != "storage" {
		return nil
	}
	return el
}

func (p *PEP) setPrivateBookmarks(ctx context.Context, owner string, st *wire.Element) {
	b := st.Bytes("")
	if old, err := p.conv.Private(ctx, owner, privateBookmarks); err == nil && bytes.Equal(old, b) {
		return
	}
	if err := p.conv.SetPrivate(ctx, owner, privateBookmarks, b); err != nil && !errors.Is(err, store.ErrQuota) {
		p.cfg.Log.Warn().Err(err).Msg("bookmarks to private storage")
	}
}

// PrivateChanged is the private storage hook (private.Config.Changed): a
// client's XEP-0048 storage:bookmarks becomes the XEP-0402 bookmarks
// (XEP-0411) and the storage:bookmarks PEP node if one exists.
func (p *PEP) PrivateChanged(ctx context.Context, user string, frag *wire.Element) {
	if p.conv == nil || frag == nil || frag.Space != NodeLegacyBookmark || frag.Local != "storage" {
		return
	}
	p.storageToBookmarks(ctx, user, frag)
	if _, err := p.db.PEPNode(ctx, user, NodeLegacyBookmark); err == nil {
		p.publishAs(ctx, user, NodeLegacyBookmark, "current", frag, nil)
	}
}

// storageToBookmarks makes the urn:xmpp:bookmarks:1 items match the
// conferences of a XEP-0048 storage: new and changed ones are published
// (keeping an item's <extensions/>), missing ones retracted with notify.
func (p *PEP) storageToBookmarks(ctx context.Context, owner string, st *wire.Element) {
	_, items, err := p.db.PEPItems(ctx, owner, NodeBookmarks, nil, 0)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return
	}
	have := map[string]*wire.Element{}
	for _, it := range items {
		if c, err := wire.Parse(it.Payload); err == nil {
			have[it.ID] = c
		}
	}
	keep := map[string]bool{}
	for _, lc := range st.Elements() {
		j := lc.Get("jid")
		if lc.Space != NodeLegacyBookmark || lc.Local != "conference" || j == "" || len(j) > 1024 || keep[j] {
			continue
		}
		keep[j] = true
		c := wire.New(NodeBookmarks, "conference")
		if v := lc.Get("name"); v != "" {
			c.Set("name", v)
		}
		if v := lc.Get("autojoin"); v == "true" || v == "1" {
			c.Set("autojoin", "true")
		}
		for _, name := range []string{"nick", "password"} {
			if v := lc.ChildText(NodeLegacyBookmark, name); v != "" {
				c.Add(wire.New(NodeBookmarks, name).AddText(v))
			}
		}
		if old := have[j]; old != nil {
			if ext := old.Child(NodeBookmarks, "extensions"); ext != nil {
				c.Add(ext)
			}
			if bytes.Equal(old.Bytes(""), c.Bytes("")) {
				continue
			}
		}
		p.publishAs(ctx, owner, NodeBookmarks, j, c, p.bookmarkNode)
	}
	var gone []string
	for _, it := range items {
		if !keep[it.ID] {
			gone = append(gone, it.ID)
		}
	}
	if len(gone) == 0 {
		return
	}
	n, removed, err := p.db.PEPRetract(ctx, owner, NodeBookmarks, gone)
	if err != nil || len(removed) == 0 {
		return
	}
	ev := wire.New(NSEvent, "items", "node", NodeBookmarks)
	for _, id := range removed {
		ev.Add(wire.New(NSEvent, "retract", "id", id))
	}
	p.notify(ctx, owner, &n, ev)
}
