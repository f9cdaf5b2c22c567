package accounts

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"

	"chatbx/store"
)

// ExportAll writes every account as one XEP-0227 document to w (the
// operator's `chatbx user export --all`): for each user the same <user/>
// element as Export's account.xml, SCRAM verifiers included, so that
// importing the document elsewhere keeps everyone's password (package
// internal/migrate reads it), and PEP nodes with their items as Prosody
// writes them (<pubsub/> in the #owner namespace with each node's
// configuration form, and one with the items). Archives and uploads are
// not part of it; the archiving preferences (XEP-0441 <prefs/>) are, when
// the user set any. Accounts deleted while it runs are left out. It returns the
// number of accounts written; on an error w holds a partial document.
func (s *Service) ExportAll(ctx context.Context, w io.Writer) (int, error) {
	if s.cfg.Domain == "" {
		return 0, ErrNoDomain
	}
	users, err := s.d.Store.Users(ctx)
	if err != nil {
		return 0, fmt.Errorf("accounts: export all: %w", err)
	}
	slices.Sort(users)
	b := bufio.NewWriter(w)
	b.WriteString(xmlHead(s.cfg.Domain))
	n := 0
	for _, u := range users {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		pe, hasPEP := s.d.Store.(pepExporter)
		ap, hasPrefs := s.d.Store.(archivePrefser)
		extra := func(b *bufio.Writer) error {
			if hasPEP {
				if err := writePEP227(ctx, pe, u, b); err != nil {
					return err
				}
			}
			if hasPrefs {
				return writeArchivePrefs227(ctx, ap, u, b)
			}
			return nil
		}
		err := s.writeUser(ctx, b, u, extra)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
	}
	b.WriteString(xmlTail)
	return n, b.Flush()
}

// writePEP227 writes user's PEP nodes in XEP-0227's form: the node
// configurations and affiliations, then the items.
func writePEP227(ctx context.Context, pe pepExporter, user string, b *bufio.Writer) error {
	started := false
	err := pe.PEPExport(ctx, user, func(n store.PEPNode, _ []store.PEPItem) error {
		if !started {
			b.WriteString("<pubsub xmlns='http://jabber.org/protocol/pubsub#owner'>\n")
			started = true
		}
		field := func(name string, vals ...string) {
			b.WriteString("<field var='" + name + "'>")
			for _, v := range vals {
				b.WriteString("<value>" + esc(v) + "</value>")
			}
			b.WriteString("</field>")
		}
		b.WriteString("<configure node='" + esc(n.Name) + "'><x xmlns='jabber:x:data' type='submit'>")
		b.WriteString("<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#node_config</value></field>")
		field("pubsub#access_model", n.Access)
		field("pubsub#max_items", strconv.Itoa(n.MaxItems))
		field("pubsub#persist_items", strconv.FormatBool(n.Persist))
		field("pubsub#send_last_published_item", n.SendLast)
		field("pubsub#notify_retract", strconv.FormatBool(n.NotifyRetract))
		if n.Title != "" {
			field("pubsub#title", n.Title)
		}
		if len(n.Groups) > 0 {
			field("pubsub#roster_groups_allowed", n.Groups...)
		}
		b.WriteString("</x></configure>\n")
		if len(n.Members) > 0 {
			b.WriteString("<affiliations node='" + esc(n.Name) + "'>")
			for _, j := range n.Members {
				b.WriteString("<affiliation jid='" + esc(j) + "' affiliation='member'/>")
			}
			b.WriteString("</affiliations>\n")
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if !started {
		return nil
	}
	b.WriteString("</pubsub>\n<pubsub xmlns='http://jabber.org/protocol/pubsub'>\n")
	err = pe.PEPExport(ctx, user, func(n store.PEPNode, items []store.PEPItem) error {
		if len(items) == 0 {
			return nil
		}
		b.WriteString("<items node='" + esc(n.Name) + "'>\n")
		for _, it := range items {
			b.WriteString("<item id='" + esc(it.ID) + "'>")
			if len(it.Payload) > 0 {
				writeRaw(b, it.Payload)
			}
			b.WriteString("</item>\n")
		}
		b.WriteString("</items>\n")
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	b.WriteString("</pubsub>\n")
	return nil
}

// archivePrefser is the store's reading of archiving preferences.
type archivePrefser interface {
	ArchivePrefs(ctx context.Context, user string) (store.ArchivePrefs, error)
}

// writeArchivePrefs227 writes user's archiving preferences as XEP-0441's
// <prefs/> (urn:xmpp:mam:2), or nothing when the user never set any
// (the importing server's default applies).
func writeArchivePrefs227(ctx context.Context, ap archivePrefser, user string, b *bufio.Writer) error {
	p, err := ap.ArchivePrefs(ctx, user)
	if errors.Is(err, store.ErrNotFound) || err == nil && p.Default == "" {
		return nil
	}
	if err != nil {
		return err
	}
	b.WriteString("<prefs xmlns='urn:xmpp:mam:2' default='" + esc(p.Default) + "'>")
	for _, l := range []struct {
		name string
		jids []string
	}{{"always", p.Always}, {"never", p.Never}} {
		b.WriteString("<" + l.name + ">")
		for _, j := range l.jids {
			b.WriteString("<jid>" + esc(j) + "</jid>")
		}
		b.WriteString("</" + l.name + ">")
	}
	b.WriteString("</prefs>\n")
	return nil
}
