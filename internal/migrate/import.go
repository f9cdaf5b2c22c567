package migrate

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"chatbx/internal/accounts"
	"chatbx/server/wire"
	"chatbx/store"
)

// Store is what Import needs of *store.DB.
type Store interface {
	ImportAccount(ctx context.Context, user string, d store.ImportData, same func(store.Credentials) bool, dryRun bool) (store.ImportResult, error)
}

var _ Store = (*store.DB)(nil)

// Options configure an import.
type Options struct {
	// Domain is the server's domain: only its users are imported.
	Domain string
	// DryRun checks and counts everything and writes nothing.
	DryRun bool
	// Limits bound each file (zero fields: DefaultLimits).
	Limits Limits
	// VCardMaxBytes is the server's vcard.max_bytes: a larger vCard is
	// left out and reported (0: no limit).
	VCardMaxBytes int
	// Iterations is the PBKDF2 count for verifiers made from plaintext
	// passwords (at least store.MinIterations).
	Iterations int
	// PEPLimits are the server's PEP caps (pep.Config: items, bytes,
	// nodes per account); PEPNodeItems and PEPItemBytes bound one node
	// and one item (0: no limit). A node over them is left out.
	PEPLimits    store.PEPLimits
	PEPNodeItems int
	PEPItemBytes int
	// Now is the time given to offline messages without a date (nil:
	// time.Now).
	Now func() time.Time
	// Imported, if set, is called with the name of each account written
	// (not in a dry run): a running server drops what it cached of the
	// account, such as its archiving preferences (mam.Archive.Forget).
	Imported func(user string)
}

// Report says what an import did, account by account.
type Report struct {
	DryRun bool
	Files  []string
	// Created, Updated and Unchanged list the normalised names.
	Created, Updated, Unchanged []string
	// Skipped lists accounts not imported, with the reason.
	Skipped []Skipped
	// Notes are per-account remarks: data left out, renamed users.
	Notes []string
	// SHA1Only and SHA256Only count accounts imported with one verifier
	// (they log in with that SCRAM hash or PLAIN until a password check
	// on the account pages or a password change adds the other);
	// Plaintext counts passwords converted to verifiers.
	SHA1Only, SHA256Only, Plaintext int
}

// Skipped is an account that was not imported.
type Skipped struct{ User, Reason string }

// String is the report for the operator's terminal.
func (r *Report) String() string {
	var b strings.Builder
	if r.DryRun {
		b.WriteString("dry run, nothing written: ")
	}
	fmt.Fprintf(&b, "%d file(s): %d new account(s), %d updated, %d unchanged, %d skipped\n",
		len(r.Files), len(r.Created), len(r.Updated), len(r.Unchanged), len(r.Skipped))
	list := func(title string, names []string) {
		if len(names) > 0 {
			fmt.Fprintf(&b, "%s: %s\n", title, strings.Join(names, ", "))
		}
	}
	list("new", r.Created)
	list("updated", r.Updated)
	list("unchanged", r.Unchanged)
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "skipped %s: %s\n", s.User, s.Reason)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if r.SHA1Only > 0 {
		fmt.Fprintf(&b, "%d account(s) with a SCRAM-SHA-1 verifier only: they log in with SCRAM-SHA-1 or PLAIN; the first password check on the account pages (or a password change) adds SCRAM-SHA-256\n", r.SHA1Only)
	}
	if r.SHA256Only > 0 {
		fmt.Fprintf(&b, "%d account(s) with a SCRAM-SHA-256 verifier only: they log in with SCRAM-SHA-256 or PLAIN; the first password check on the account pages (or a password change) adds SCRAM-SHA-1\n", r.SHA256Only)
	}
	if r.Plaintext > 0 {
		fmt.Fprintf(&b, "%d plaintext password(s) converted to SCRAM verifiers (never stored): delete the export files\n", r.Plaintext)
	}
	return b.String()
}

// Files expands paths: files as given, directories to the *.xml files in
// them (not recursive), sorted.
func Files(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, e := range ents {
			if e.Type().IsRegular() && strings.HasSuffix(strings.ToLower(e.Name()), ".xml") {
				out = append(out, filepath.Join(p, e.Name()))
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("%s: no .xml files", p)
		}
	}
	return out, nil
}

// Import reads the XEP-0227 files (or directories of them) and brings
// their accounts of opt.Domain into st. Every file is read and checked
// completely first: a file that is not valid XEP-0227 within the limits,
// or a user named twice, fails the whole import before anything is
// written. Then each account is imported in one store transaction
// (store.DB.ImportAccount); an account that cannot be (a conflict with
// an existing different account, a cap) is skipped and reported, and the
// others go on.
func Import(ctx context.Context, st Store, paths []string, opt Options) (*Report, error) {
	if opt.Domain == "" {
		return nil, accounts.ErrNoDomain
	}
	if opt.Iterations < store.MinIterations {
		opt.Iterations = store.MinIterations
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	files, err := Files(paths)
	if err != nil {
		return nil, err
	}
	rep := &Report{DryRun: opt.DryRun}
	// Pass 1: check every file and every name.
	seen := map[string]string{} // normalised name → file
	others := map[string]int{}  // other host → users
	listed := map[string]bool{}
	for _, f := range files {
		listed[filepath.Clean(f)] = true
	}
	for i := 0; i < len(files); i++ {
		f := files[i]
		includes, err := eachAccount(f, opt.Limits, func(a *Account) error {
			if !sameDomain(a.Host, opt.Domain) {
				others[a.Host]++
				return nil
			}
			u, err := normalise(a.Name, opt.Domain)
			if err != nil {
				rep.Skipped = append(rep.Skipped, Skipped{a.Name, err.Error()})
				return nil
			}
			if prev, ok := seen[u]; ok {
				return fmt.Errorf("%s: user %q is named twice (also in %s); nothing was imported", f, u, prev)
			}
			seen[u] = f
			return nil
		})
		if err != nil {
			return nil, err
		}
		// Included host files (ejabberd) are read once, from the
		// including file's directory only.
		for _, href := range includes {
			if href != filepath.Base(href) || strings.ContainsAny(href, "/\\") || href == ".." || href == "." {
				return nil, fmt.Errorf("%s: <xi:include href=%q/>: only files in the same directory are read", f, href)
			}
			inc := filepath.Join(filepath.Dir(f), href)
			if !listed[inc] {
				listed[inc] = true
				files = append(files, inc)
			}
		}
	}
	rep.Files = files
	for _, h := range mapsKeys(others) {
		rep.Skipped = append(rep.Skipped, Skipped{fmt.Sprintf("%d user(s) of %s", others[h], h), "not this server's domain " + opt.Domain})
	}
	// Pass 2: import.
	for _, f := range files {
		_, err := eachAccount(f, opt.Limits, func(a *Account) error {
			if !sameDomain(a.Host, opt.Domain) {
				return nil
			}
			u, err := normalise(a.Name, opt.Domain)
			if err != nil {
				return nil // reported in pass 1
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			importOne(ctx, st, u, a, opt, rep)
			return nil
		})
		if err != nil {
			return rep, err
		}
	}
	sort.Strings(rep.Created)
	sort.Strings(rep.Updated)
	sort.Strings(rep.Unchanged)
	return rep, nil
}

func mapsKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// eachAccount reads file and calls fn for every user; it returns the
// file's <xi:include/> references.
func eachAccount(file string, lim Limits, fn func(*Account) error) ([]string, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", file)
	}
	r := NewReader(f, file, lim)
	for {
		a, err := r.Next()
		if errors.Is(err, io.EOF) {
			return r.Includes(), nil
		}
		if err != nil {
			return nil, err
		}
		if err := fn(a); err != nil {
			return nil, err
		}
	}
}

func sameDomain(host, domain string) bool {
	j, err := jid.Parse(host)
	if err != nil {
		return false
	}
	d, err := jid.Parse(domain)
	return err == nil && j.Domainpart() == d.Domainpart() && j.Localpart() == "" && j.Resourcepart() == ""
}

// normalise applies the rules of every username (PRECIS
// UsernameCaseMapped, at most accounts.MaxUsername bytes). Reserved names
// are allowed: they were accounts on the old server.
func normalise(name, domain string) (string, error) {
	u, err := accounts.NormaliseUser(name, domain)
	if err != nil {
		return "", errors.New("not a valid username (PRECIS UsernameCaseMapped)")
	}
	if len(u) > accounts.MaxUsername {
		return "", fmt.Errorf("username longer than %d bytes", accounts.MaxUsername)
	}
	return u, nil
}

// Remarks that are counted, not listed per account.
const (
	noteSHA1Only   = "sha1-only"
	noteSHA256Only = "sha256-only"
	notePlaintext  = "plaintext"
)

// importOne converts and imports one account, recording the outcome.
func importOne(ctx context.Context, st Store, user string, a *Account, opt Options, rep *Report) {
	d, same, notes, err := convert(user, a, opt)
	if err != nil {
		rep.Skipped = append(rep.Skipped, Skipped{user, err.Error()})
		return
	}
	if user != a.Name {
		notes = append(notes, fmt.Sprintf("named %q in the file", a.Name))
	}
	res, err := st.ImportAccount(ctx, user, d, same, opt.DryRun)
	switch {
	case errors.Is(err, store.ErrConflict):
		rep.Skipped = append(rep.Skipped, Skipped{user, "an account of this name exists with another password: left as it is"})
		return
	case errors.Is(err, store.ErrQuota):
		rep.Skipped = append(rep.Skipped, Skipped{user, "over a per-account cap (roster items, private storage or offline messages): nothing imported"})
		return
	case err != nil:
		rep.Skipped = append(rep.Skipped, Skipped{user, err.Error()})
		return
	}
	if res.Changed() && !opt.DryRun && opt.Imported != nil {
		opt.Imported(user)
	}
	if res.ArchivePrefsKept {
		notes = append(notes, "archive preferences in the file not applied: the account has its own (set on chatbx), kept as they are")
	}
	for _, n := range notes {
		switch n {
		case noteSHA1Only:
			rep.SHA1Only++
		case noteSHA256Only:
			rep.SHA256Only++
		case notePlaintext:
			rep.Plaintext++
		default:
			rep.Notes = append(rep.Notes, user+": "+n)
		}
	}
	switch {
	case res.Created:
		rep.Created = append(rep.Created, user)
	case res.Changed():
		rep.Updated = append(rep.Updated, user)
	default:
		rep.Unchanged = append(rep.Unchanged, user)
	}
}

// convert turns a file's account into the store's form. same decides
// whether an existing account is this one.
func convert(user string, a *Account, opt Options) (store.ImportData, func(store.Credentials) bool, []string, error) {
	var d store.ImportData
	var notes []string
	for mech, s := range a.SCRAM {
		k := store.SCRAMKeys{Salt: s.Salt, Iterations: s.Iterations, StoredKey: s.StoredKey, ServerKey: s.ServerKey}
		if mech == "SCRAM-SHA-1" {
			d.Credentials.SHA1 = k
		} else {
			d.Credentials.SHA256 = k
		}
		if s.Iterations < store.MinIterations {
			notes = append(notes, fmt.Sprintf("%s verifier with %d iterations, fewer than %d: the user should change the password", mech, s.Iterations, store.MinIterations))
		}
	}
	var same func(store.Credentials) bool
	switch {
	case len(a.SCRAM) > 0:
		imported := d.Credentials
		same = func(c store.Credentials) bool {
			return keysEqual(c.SHA1, imported.SHA1) || keysEqual(c.SHA256, imported.SHA256)
		}
		if len(d.Credentials.SHA256.StoredKey) == 0 {
			notes = append(notes, noteSHA1Only)
		}
		if len(d.Credentials.SHA1.StoredKey) == 0 {
			notes = append(notes, noteSHA256Only)
		}
	case a.HasPassword:
		c, err := store.DeriveCredentials(a.Password, opt.Iterations)
		if err != nil {
			return d, nil, nil, errors.New("the plaintext password is not usable (empty or not PRECIS OpaqueString)")
		}
		d.Credentials = c
		pw := a.Password
		same = func(c store.Credentials) bool { return c.VerifyPlain(pw) }
		notes = append(notes, notePlaintext)
	default:
		return d, nil, nil, errors.New("no password and no SCRAM-SHA-1/SCRAM-SHA-256 credentials")
	}
	self := user + "@" + opt.Domain
	// Roster, with Prosody's pending subscription requests.
	items := map[string]*store.RosterItem{}
	var order []string
	bad := 0
	for _, ri := range a.Roster {
		j, err := bareJID(ri.JID)
		if err != nil || j == self {
			bad++
			continue
		}
		it := store.RosterItem{JID: j, Name: ri.Name, Groups: ri.Groups, PreApproved: ri.Approved, PendingIn: ri.PendingIn}
		switch ri.Subscription {
		case "", "none":
			it.Sub = store.SubNone
		case "to":
			it.Sub = store.SubTo
		case "from":
			it.Sub = store.SubFrom
		case "both":
			it.Sub = store.SubBoth
		default:
			bad++
			continue
		}
		it.AskOut = ri.Ask == "subscribe"
		if _, ok := items[j]; !ok {
			order = append(order, j)
		}
		items[j] = &it
	}
	for _, from := range a.PendingIn {
		j, err := bareJID(from)
		if err != nil || j == self {
			continue
		}
		it, ok := items[j]
		if !ok {
			it = &store.RosterItem{JID: j}
			items[j] = it
			order = append(order, j)
		}
		if it.Sub == store.SubNone || it.Sub == store.SubTo {
			it.PendingIn = true
		}
	}
	for _, j := range order {
		d.Roster = append(d.Roster, *items[j])
	}
	if bad > 0 {
		notes = append(notes, fmt.Sprintf("%d roster item(s) with an invalid JID or subscription left out", bad))
	}
	if a.VCard != nil {
		b := a.VCard.Bytes("")
		if opt.VCardMaxBytes > 0 && len(b) > opt.VCardMaxBytes {
			notes = append(notes, fmt.Sprintf("vCard of %d bytes left out (vcard.max_bytes is %d)", len(b), opt.VCardMaxBytes))
		} else {
			d.VCard = b
		}
	}
	for _, p := range a.Private {
		if d.Private == nil {
			d.Private = map[string][]byte{}
		}
		// The key server/private uses: "local namespace".
		d.Private[p.Local+" "+p.Space] = p.Bytes("")
	}
	for _, b := range a.Blocklist {
		if j, err := jid.Parse(b); err == nil {
			d.Blocklist = append(d.Blocklist, j.String())
		}
	}
	for _, m := range a.Offline {
		at := m.At
		if at.IsZero() {
			at = opt.Now()
		}
		s := m.Stanza.Copy()
		clientNS(s)
		d.Offline = append(d.Offline, store.ImportedMessage{At: at.UTC(), Stanza: s.Bytes(wire.NSClient)})
	}
	d.PEP, notes = convertPEP(a.PEP, opt, notes)
	d.PEPLimits = opt.PEPLimits
	d.ArchivePrefs, notes = convertArchivePrefs(a.ArchivePrefs, notes)
	if a.Archive > 0 {
		why := "the archive default stays never"
		if d.ArchivePrefs != nil {
			why = "the archiving preferences apply from now on"
		}
		notes = append(notes, fmt.Sprintf("%d archived messages not imported (%s)", a.Archive, why))
	}
	if len(a.Unknown) > 0 {
		notes = append(notes, "left out: "+strings.Join(a.Unknown, ", "))
	}
	return d, same, notes, nil
}

// maxPrefsJIDs is the most JIDs chatbx keeps in each archiving
// preferences list (as server/mam and the store).
const maxPrefsJIDs = 1000

// convertArchivePrefs turns the file's <prefs/> into the store's form:
// the default (always, roster, never) and the always/never lists as bare
// JIDs. A default chatbx does not know leaves the preferences out (the
// archive stays off); invalid JIDs and JIDs over the list cap are left
// out; both are noted.
func convertArchivePrefs(p *ArchivePrefs, notes []string) (*store.ArchivePrefs, []string) {
	if p == nil {
		return nil, notes
	}
	switch p.Default {
	case "always", "roster", "never":
	default:
		return nil, append(notes, fmt.Sprintf("archive preferences with default %q left out (want always, roster or never): archiving stays off", p.Default))
	}
	out := &store.ArchivePrefs{Default: p.Default}
	bad, over := 0, 0
	for _, l := range []struct {
		in  []string
		dst *[]string
	}{{p.Always, &out.Always}, {p.Never, &out.Never}} {
		seen := map[string]bool{}
		for _, s := range l.in {
			j, err := bareJID(s)
			if err != nil || s == "" {
				bad++
				continue
			}
			if seen[j] {
				continue
			}
			if len(*l.dst) >= maxPrefsJIDs {
				over++
				continue
			}
			seen[j] = true
			*l.dst = append(*l.dst, j)
		}
	}
	if bad > 0 {
		notes = append(notes, fmt.Sprintf("%d invalid JID(s) of the archive preferences left out", bad))
	}
	if over > 0 {
		notes = append(notes, fmt.Sprintf("%d JID(s) of the archive preferences over the limit of %d per list left out", over, maxPrefsJIDs))
	}
	return out, notes
}

func keysEqual(a, b store.SCRAMKeys) bool {
	return len(a.StoredKey) > 0 && a.Iterations == b.Iterations &&
		subtle.ConstantTimeCompare(a.Salt, b.Salt) == 1 &&
		subtle.ConstantTimeCompare(a.StoredKey, b.StoredKey) == 1 &&
		subtle.ConstantTimeCompare(a.ServerKey, b.ServerKey) == 1
}

func bareJID(s string) (string, error) {
	j, err := jid.Parse(s)
	if err != nil {
		return "", err
	}
	return j.Bare().String(), nil
}

// convertPEP turns the file's PEP nodes into the store's form. A node
// without configuration gets server/pep's defaults (presence access, one
// item, persistent, last item sent on subscription and presence); a
// multi-item node without max_items keeps as many items as it has.
func convertPEP(nodes []*PEPNode, opt Options, notes []string) ([]store.ImportedPEPNode, []string) {
	var out []store.ImportedPEPNode
	for _, pn := range nodes {
		n := store.PEPNode{Name: pn.Name, Access: "presence", MaxItems: 1, Persist: true,
			SendLast: "on_sub_and_presence", NotifyRetract: true}
		if len(pn.Items) > 1 {
			n.MaxItems = len(pn.Items)
		}
		one := func(k string) (string, bool) {
			v, ok := pn.Config[k]
			if !ok || len(v) == 0 {
				return "", false
			}
			return v[0], true
		}
		if v, ok := one("pubsub#access_model"); ok {
			switch v {
			case "open", "presence", "roster", "whitelist":
				n.Access = v
			}
		}
		if v, ok := one("pubsub#max_items"); ok {
			if m, err := strconv.Atoi(v); err == nil && m > 0 {
				n.MaxItems = m
			} else if v == "max" {
				n.MaxItems = max(n.MaxItems, opt.PEPNodeItems)
			}
		}
		if opt.PEPNodeItems > 0 {
			n.MaxItems = min(n.MaxItems, opt.PEPNodeItems)
		}
		if v, ok := one("pubsub#persist_items"); ok {
			n.Persist = v == "1" || v == "true"
		}
		if v, ok := one("pubsub#send_last_published_item"); ok {
			switch v {
			case "never", "on_sub", "on_sub_and_presence":
				n.SendLast = v
			}
		}
		if v, ok := one("pubsub#notify_retract"); ok {
			n.NotifyRetract = v == "1" || v == "true"
		}
		if v, ok := one("pubsub#title"); ok {
			n.Title = v
		}
		n.Groups = pn.Config["pubsub#roster_groups_allowed"]
		for _, m := range pn.Members {
			if j, err := bareJID(m); err == nil {
				n.Members = append(n.Members, j)
			}
		}
		in := store.ImportedPEPNode{Node: n}
		big := 0
		for _, it := range pn.Items {
			var payload []byte
			if it.Payload != nil {
				payload = it.Payload.Bytes("")
			}
			if opt.PEPItemBytes > 0 && len(payload) > opt.PEPItemBytes {
				big++
				continue
			}
			in.Items = append(in.Items, store.PEPItem{ID: it.ID, Payload: payload})
		}
		if big > 0 {
			notes = append(notes, fmt.Sprintf("PEP node %s: %d item(s) larger than the item limit left out", pn.Name, big))
		}
		// The newest items are the ones kept when the node holds fewer.
		if len(in.Items) > n.MaxItems {
			in.Items = in.Items[len(in.Items)-n.MaxItems:]
		}
		out = append(out, in)
	}
	return out, notes
}

// clientNS puts a stanza written without its own namespace back into
// jabber:client: inside a XEP-0227 document such elements (and their
// children, such as <body/>) inherit urn:xmpp:pie:0 (chatbx's own export
// and ejabberd write stanzas so).
func clientNS(e *wire.Element) {
	if e.Space == NSPIE || e.Space == "" {
		e.Space = wire.NSClient
	}
	for _, c := range e.Children {
		if c.El != nil && (c.El.Space == NSPIE || c.El.Space == "") {
			clientNS(c.El)
		}
	}
}
