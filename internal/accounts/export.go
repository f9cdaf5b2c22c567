package accounts

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"chatbx/store"
)

// Namespaces of the export document.
const (
	nsPIE      = "urn:xmpp:pie:0"       // XEP-0227
	nsPIESCRAM = "urn:xmpp:pie:0#scram" // XEP-0227 §4.1 SCRAM credentials
	nsRoster   = "jabber:iq:roster"
	nsPrivate  = "jabber:iq:private"
	nsBlocking = "urn:xmpp:blocking"
	nsExport   = "urn:chatbx:export:0" // what XEP-0227 has no element for
)

// Names of the files in the export zip.
const (
	exportXML     = "account.xml"
	exportArchive = "archive.json"
	exportUploads = "uploads.json"
	exportPEP     = "pep.xml"
	exportReadme  = "README.txt"
)

// Export writes everything stored about user as a zip to w:
// account.xml (XEP-0227: SCRAM verifiers, roster, vCard, private XML
// storage, blocklist, offline messages), archive.json (the message
// archive, when the server has one), uploads.json (the user's uploads
// with their expiry) and README.txt. Nothing of other users is included
// beyond what the user's own roster and messages hold.
//
// The zip is streamed: every file is written to w as it is read from the
// store, the offline queue and the archive a page at a time, so memory
// stays bounded however large the archive is. It returns ErrNotFound for an
// unknown user before writing anything; on a later error w holds a
// partial zip.
func (s *Service) Export(ctx context.Context, user string, w io.Writer) error {
	if s.cfg.Domain == "" {
		return ErrNoDomain
	}
	if _, err := s.d.Store.Credentials(ctx, user); errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	} else if err != nil {
		return fmt.Errorf("accounts: export: %w", err)
	}
	now := s.now().UTC()
	z := zip.NewWriter(w)
	add := func(name string, fill func(io.Writer) error) error {
		f, err := z.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: now})
		if err != nil {
			return err
		}
		return fill(f)
	}
	write := func(b []byte) func(io.Writer) error {
		return func(w io.Writer) error { _, err := w.Write(b); return err }
	}
	files := []string{exportXML}
	if err := add(exportXML, func(w io.Writer) error { return s.writeXML(ctx, user, w) }); err != nil {
		return err
	}
	if s.d.Archive != nil {
		files = append(files, exportArchive)
		err := add(exportArchive, func(w io.Writer) error { return s.d.Archive.ExportArchive(ctx, user, w) })
		if err != nil {
			return fmt.Errorf("accounts: export archive: %w", err)
		}
	}
	if s.d.Uploads != nil {
		ups, err := s.d.Uploads.UserUploads(ctx, user)
		if err != nil {
			return fmt.Errorf("accounts: export uploads: %w", err)
		}
		if ups == nil {
			ups = []Upload{}
		}
		b, err := json.MarshalIndent(struct {
			Uploads []Upload `json:"uploads"`
		}{ups}, "", "  ")
		if err != nil {
			return fmt.Errorf("accounts: export uploads: %w", err)
		}
		files = append(files, exportUploads)
		if err := add(exportUploads, write(append(b, '\n'))); err != nil {
			return fmt.Errorf("accounts: export: %w", err)
		}
	}
	if pe, ok := s.d.Store.(pepExporter); ok {
		files = append(files, exportPEP)
		if err := add(exportPEP, func(w io.Writer) error { return s.writePEP(ctx, pe, user, w) }); err != nil {
			return fmt.Errorf("accounts: export pep: %w", err)
		}
	}
	rights, err := s.rightsJSON(ctx, user)
	if err != nil {
		return err
	}
	files = append(files, exportRights)
	if err := add(exportRights, write(rights)); err != nil {
		return fmt.Errorf("accounts: export: %w", err)
	}
	if fl, ok := s.d.Store.(fastLister); ok {
		files = append(files, exportFast)
		if err := add(exportFast, func(w io.Writer) error { return s.writeFast(ctx, fl, user, now, w) }); err != nil {
			return err
		}
	}
	if err := add(exportReadme, write(s.readme(user, now, files))); err != nil {
		return fmt.Errorf("accounts: export: %w", err)
	}
	if err := z.Close(); err != nil {
		return fmt.Errorf("accounts: export: %w", err)
	}
	return nil
}

// Offline messages are exported in pages of this many messages and bytes.
const (
	exportOfflinePage  = 100
	exportOfflineBytes = 1 << 20
)

// readme explains the export's files.
func (s *Service) readme(user string, now time.Time, files []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Data export of %s@%s, made %s.\n\n", user, s.cfg.Domain, now.Format(time.RFC3339))
	for _, f := range files {
		switch f {
		case exportXML:
			b.WriteString("account.xml   XEP-0227 account data: password verifiers (SCRAM, not the password),\n" +
				"              contact list, vCard, private XML storage, blocked addresses,\n" +
				"              push registrations of your devices and messages waiting for delivery.\n")
		case exportArchive:
			b.WriteString("archive.json  the message archive (XEP-0313), as JSON.\n")
		case exportUploads:
			b.WriteString("uploads.json  your uploaded files with their addresses and expiry dates.\n")
		case exportRights:
			b.WriteString("account.json  whether the account is locked (restriction of processing) and since\n" +
				"              when, and the invitations you made (without their secret links).\n")
		case exportPEP:
			b.WriteString("pep.xml       what your apps publish (XEP-0163 personal eventing: encryption keys,\n" +
				"              avatar, nickname, bookmarks), node by node with its settings.\n")
		case exportFast:
			b.WriteString("login-tokens.json  the devices that can log in with a FAST token (XEP-0484) instead\n" +
				"              of the password: an opaque id, since when and until when. The server\n" +
				"              keeps only a hash of each token, which is not exported (it logs in\n" +
				"              like the token), and nothing about the device itself.\n")
		}
	}
	b.WriteString("\nNothing else is stored about the account.\n")
	return b.Bytes()
}

// writeXML writes the XEP-0227 document for user to w.
func (s *Service) writeXML(ctx context.Context, user string, w io.Writer) error {
	b := bufio.NewWriter(w)
	b.WriteString(xmlHead(s.cfg.Domain))
	if err := s.writeUser(ctx, b, user, nil); err != nil {
		return err
	}
	b.WriteString(xmlTail)
	return b.Flush()
}

// writeUser writes the <user/> element of the XEP-0227 document: SCRAM
// verifiers, roster, vCard, private XML, blocklist, offline messages and
// what the Exporters add, then what extra writes (nil: nothing). It
// returns ErrNotFound for an unknown user.
func (s *Service) writeUser(ctx context.Context, b *bufio.Writer, user string, extra func(*bufio.Writer) error) error {
	st := s.d.Store
	creds, err := st.Credentials(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("accounts: export: %w", err)
	}
	_, roster, err := st.Roster(ctx, user)
	if err != nil {
		return fmt.Errorf("accounts: export roster: %w", err)
	}
	vcard, err := st.VCard(ctx, user)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("accounts: export vcard: %w", err)
	}
	keys, err := st.PrivateKeys(ctx, user)
	if err != nil {
		return fmt.Errorf("accounts: export private: %w", err)
	}
	blocked, err := st.Blocklist(ctx, user)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("accounts: export blocklist: %w", err)
	}

	b.WriteString("<user name='" + esc(user) + "'>\n")
	for _, c := range []struct {
		mech string
		k    store.SCRAMKeys
	}{{"SCRAM-SHA-1", creds.SHA1}, {"SCRAM-SHA-256", creds.SHA256}} {
		if len(c.k.StoredKey) == 0 {
			continue
		}
		enc := base64.StdEncoding.EncodeToString
		b.WriteString("<scram-credentials xmlns='" + nsPIESCRAM + "' mechanism='" + c.mech + "'>")
		b.WriteString("<iter-count>" + strconv.Itoa(c.k.Iterations) + "</iter-count>")
		b.WriteString("<salt>" + enc(c.k.Salt) + "</salt>")
		b.WriteString("<server-key>" + enc(c.k.ServerKey) + "</server-key>")
		b.WriteString("<stored-key>" + enc(c.k.StoredKey) + "</stored-key>")
		b.WriteString("</scram-credentials>\n")
	}
	b.WriteString("<query xmlns='" + nsRoster + "'>\n")
	for _, it := range roster {
		b.WriteString("<item jid='" + esc(it.JID) + "'")
		if it.Name != "" {
			b.WriteString(" name='" + esc(it.Name) + "'")
		}
		b.WriteString(" subscription='" + it.Sub.String() + "'")
		if it.AskOut {
			b.WriteString(" ask='subscribe'")
		}
		if it.PreApproved {
			b.WriteString(" approved='true'")
		}
		if it.PendingIn {
			b.WriteString(" chatbx:pending-in='true'")
		}
		b.WriteString(">")
		for _, g := range it.Groups {
			b.WriteString("<group>" + esc(g) + "</group>")
		}
		b.WriteString("</item>\n")
	}
	b.WriteString("</query>\n")
	if len(vcard) > 0 {
		writeRaw(b, vcard)
	}
	if len(keys) > 0 {
		b.WriteString("<query xmlns='" + nsPrivate + "'>\n")
		for _, k := range keys {
			v, err := st.Private(ctx, user, k)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("accounts: export private: %w", err)
			}
			writeRaw(b, v)
		}
		b.WriteString("</query>\n")
	}
	if len(blocked) > 0 {
		b.WriteString("<blocklist xmlns='" + nsBlocking + "'>\n")
		for _, j := range blocked {
			b.WriteString("<item jid='" + esc(j) + "'/>\n")
		}
		b.WriteString("</blocklist>\n")
	}
	if pe, ok := st.(pushExporter); ok {
		if err := writePush(ctx, pe, user, b); err != nil {
			return err
		}
	}
	if pe, ok := st.(prefsExporter); ok {
		// The account's settings (who may write from other servers).
		prefs, err := pe.UserPrefs(ctx, user)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("accounts: export prefs: %w", err)
		}
		if len(prefs) > 0 {
			names := make([]string, 0, len(prefs))
			for k := range prefs {
				names = append(names, k)
			}
			sort.Strings(names)
			b.WriteString("<chatbx:settings>\n")
			for _, k := range names {
				b.WriteString("<chatbx:setting name='" + esc(k) + "'>" + esc(prefs[k]) + "</chatbx:setting>\n")
			}
			b.WriteString("</chatbx:settings>\n")
		}
	}
	// The offline queue, a page at a time.
	after, started := uint64(0), false
	for {
		page, err := st.OfflinePage(ctx, user, after, exportOfflinePage, exportOfflineBytes)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("accounts: export offline: %w", err)
		}
		if len(page) == 0 {
			break
		}
		if !started {
			b.WriteString("<offline-messages>\n")
			started = true
		}
		for _, msg := range page {
			b.WriteString("<chatbx:stored at='" + msg.At.UTC().Format(time.RFC3339Nano) + "'>")
			writeRaw(b, msg.Stanza)
			b.WriteString("</chatbx:stored>\n")
		}
		after = page[len(page)-1].ID
	}
	if started {
		b.WriteString("</offline-messages>\n")
	}
	for _, x := range s.d.Exporters {
		if err := x.ExportXML(ctx, user, b); err != nil {
			return fmt.Errorf("accounts: export: %w", err)
		}
	}
	if extra != nil {
		if err := extra(b); err != nil {
			return fmt.Errorf("accounts: export: %w", err)
		}
	}
	b.WriteString("</user>\n")
	return nil
}

// The XEP-0227 document around the users of the export.
func xmlHead(domain string) string {
	return "<?xml version='1.0' encoding='UTF-8'?>\n" +
		"<server-data xmlns='" + nsPIE + "' xmlns:chatbx='" + nsExport + "'>\n" +
		"<host jid='" + esc(domain) + "'>\n"
}

const xmlTail = "</host>\n</server-data>\n"

// pushExporter is the store's push registrations (XEP-0357).
type pushExporter interface {
	PushRegistrations(ctx context.Context, user string) ([]store.PushRegistration, error)
}

// writePush writes the user's push registrations into account.xml: the
// app server, the device's node and the publish-options it gave.
func writePush(ctx context.Context, pe pushExporter, user string, b *bufio.Writer) error {
	regs, err := pe.PushRegistrations(ctx, user)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("accounts: export push: %w", err)
	}
	if len(regs) == 0 {
		return nil
	}
	b.WriteString("<chatbx:push-registrations>\n")
	for _, r := range regs {
		b.WriteString("<chatbx:push jid='" + esc(r.JID) + "' node='" + esc(r.Node) + "'>")
		if len(r.Options) > 0 {
			writeRaw(b, r.Options)
		}
		b.WriteString("</chatbx:push>\n")
	}
	b.WriteString("</chatbx:push-registrations>\n")
	return nil
}

// pepExporter is the store's PEP export (XEP-0163 nodes and items).
// prefsExporter is the store's account settings (store.DB.UserPrefs).
type prefsExporter interface {
	UserPrefs(ctx context.Context, user string) (map[string]string, error)
}

type pepExporter interface {
	PEPExport(ctx context.Context, user string, fn func(store.PEPNode, []store.PEPItem) error) error
}

// writePEP writes the user's PEP nodes as XML: one <node/> per node with
// its configuration and its items' payloads.
func (s *Service) writePEP(ctx context.Context, pe pepExporter, user string, w io.Writer) error {
	b := bufio.NewWriter(w)
	b.WriteString("<?xml version='1.0' encoding='UTF-8'?>\n")
	b.WriteString("<pep xmlns='" + nsExport + "' xmlns:chatbx='" + nsExport + "' jid='" + esc(user+"@"+s.cfg.Domain) + "'>\n")
	err := pe.PEPExport(ctx, user, func(n store.PEPNode, items []store.PEPItem) error {
		b.WriteString("<node name='" + esc(n.Name) + "' access_model='" + esc(n.Access) +
			"' max_items='" + strconv.Itoa(n.MaxItems) + "' persist_items='" + strconv.FormatBool(n.Persist) +
			"' send_last_published_item='" + esc(n.SendLast) + "'")
		if n.Title != "" {
			b.WriteString(" title='" + esc(n.Title) + "'")
		}
		b.WriteString(">\n")
		for _, g := range n.Groups {
			b.WriteString("<roster-group>" + esc(g) + "</roster-group>\n")
		}
		for _, j := range n.Members {
			b.WriteString("<member jid='" + esc(j) + "'/>\n")
		}
		for _, it := range items {
			b.WriteString("<item id='" + esc(it.ID) + "'>")
			writeRaw(b, it.Payload)
			b.WriteString("</item>\n")
		}
		b.WriteString("</node>\n")
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	b.WriteString("</pep>\n")
	return b.Flush()
}

// esc escapes s for XML text and attribute values.
func esc(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// writeRaw copies stored XML into the document when it is one well-formed
// element, and as escaped text in <chatbx:unparsed> otherwise, so that the
// export stays readable XML whatever is stored.
func writeRaw(b *bufio.Writer, raw []byte) {
	if wellFormed(raw) {
		b.Write(bytes.TrimSpace(raw))
		b.WriteByte('\n')
		return
	}
	b.WriteString("<chatbx:unparsed>" + esc(string(raw)) + "</chatbx:unparsed>\n")
}

// wellFormed reports whether raw is exactly one XML element (surrounding
// whitespace allowed) without processing instructions or directives.
func wellFormed(raw []byte) bool {
	d := xml.NewDecoder(bytes.NewReader(raw))
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return depth == 0 && roots == 1
		}
		if err != nil {
			return false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return false
			}
		case xml.ProcInst, xml.Directive:
			return false
		}
	}
}
