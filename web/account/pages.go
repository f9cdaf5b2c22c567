package account

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"chatbx/internal/accounts"
	"chatbx/store"
)

// formKeySetting is the store setting that holds the form token key.
const formKeySetting = "web.form_key"

//go:embed templates/*/*.html
var templateFS embed.FS

// Pages serves the account pages. It is safe for concurrent use.
type Pages struct {
	acc      *accounts.Service
	d        Deps
	cfg      Config
	domain   string
	minPw    int // the password length rules of acc
	maxPw    int
	tokens   tokens
	throttle *throttle
	tmpl     map[string]*template.Template
}

// New returns the account pages over the account service d.Accounts. It
// loads the form token key from the store setting "web.form_key",
// creating 32 random bytes the first time. It fails when a required
// dependency is missing or the store cannot be read or written.
func New(cfg Config, d Deps) (*Pages, error) {
	if d.Accounts == nil || d.Settings == nil {
		return nil, errMissing
	}
	domain := d.Accounts.Domain()
	cfg.fill(domain)
	key, err := formKey(context.Background(), d.Settings)
	if err != nil {
		return nil, err
	}
	d.Log = d.Log.With().Str("component", "account").Logger()
	tmpl := make(map[string]*template.Template)
	for _, lang := range languages {
		layout := template.Must(template.New("").ParseFS(templateFS, "templates/"+lang+"/layout.html"))
		for _, name := range []string{"index", "delete", "export", "password", "archive", "invite", "lock", "invites", "uploads", "devices", "strangers"} {
			t := template.Must(template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+lang+"/"+name+".html"))
			tmpl[lang+"/"+name] = t
		}
	}
	ac := d.Accounts.Config()
	return &Pages{
		acc:      d.Accounts,
		d:        d,
		cfg:      cfg,
		domain:   domain,
		minPw:    ac.MinPassword,
		maxPw:    min(ac.MaxPassword, maxFieldBytes),
		tokens:   tokens{key: key, ttl: cfg.TokenTTL},
		throttle: newThrottle(cfg.FailEvery, cfg.FailBurst),
		tmpl:     tmpl,
	}, nil
}

// formKey returns the form token key, creating it once.
func formKey(ctx context.Context, st Settings) ([]byte, error) {
	key, err := st.Setting(ctx, formKeySetting)
	if err == nil && len(key) == 32 {
		return key, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("account: form key: %w", err)
	}
	key = make([]byte, 32)
	rand.Read(key)
	if err := st.SetSetting(ctx, formKeySetting, key); err != nil {
		return nil, fmt.Errorf("account: form key: %w", err)
	}
	return key, nil
}

// Handler returns the handler for the pages under cfg.Path:
// Path+"/" (index), /delete, /export, /password, /archive and /devices, and, when
// Deps.Invites is set, the invitation pages /invite/{token}.
// Mount it on "/account/" and "/invite/" (web.Web.Mount), so that it gets
// the site's security headers; it sets Cache-Control: no-store on every
// answer.
func (p *Pages) Handler() http.Handler {
	mux := http.NewServeMux()
	b := p.cfg.Path
	mux.HandleFunc(b+"/{$}", p.serveIndex)
	mux.HandleFunc(b+"/delete", p.serveDelete)
	mux.HandleFunc(b+"/export", p.serveExport)
	mux.HandleFunc(b+"/password", p.servePassword)
	mux.HandleFunc(b+"/archive", p.serveArchive)
	mux.HandleFunc(b+"/lock", p.serveLock)
	if p.d.Uploads != nil {
		mux.HandleFunc(b+"/uploads", p.serveUploads)
	}
	if p.acc.UserInvitesAllowed() > 0 && p.d.Invites != nil {
		mux.HandleFunc(b+"/invites", p.serveInvites)
	}
	mux.HandleFunc(b+"/devices", p.serveDevices)
	if p.d.Prefs != nil {
		mux.HandleFunc(b+"/strangers", p.serveStrangers)
	}
	if p.d.Invites != nil {
		mux.HandleFunc("/invite/{token}", p.serveInvite)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// Privacy: account pages and their answers stay out of every cache.
		h.Set("Cache-Control", "no-store")
		// Defence in depth when the pages are served without the site's
		// wrapper: no framing (clickjacking of the delete form), no
		// scripts, no referrer.
		if h.Get("Content-Security-Policy") == "" {
			h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("X-Content-Type-Options", "nosniff")
		}
		if _, pattern := mux.Handler(r); pattern == "" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// pageData is what the templates see.
type pageData struct {
	Page, Lang, Title, Service, Domain string
	Base                               string
	Token, User, Error, Done           string
	MinPassword                        int
	ArchiveAvailable                   bool
	StrangersAvailable                 bool
	Deleted                            *accounts.Deleted
	Invite                             string       // invite token
	InviteURI, QR                      template.URL // xmpp: URI, data: image
	InviteLink                         template.URL // the invite page of a user invite
	UserInvites, InvitesLeft           int          // accounts.user_invites, left this week
	UploadsAvailable, Listed           bool         // the uploads page; its list is shown
	Uploads                            []uploadRow
	Invites                            []inviteRow // the user's open invitations
	Devices                            []deviceRow // FAST tokens (page_devices.go)
	Push                               []pushRow   // push registrations (page_devices.go)
	FastAvailable, PushAvailable       bool        // the devices page's two parts
}

// data returns the template data of page in lang with a fresh token.
func (p *Pages) data(page, lang string) *pageData {
	return &pageData{
		Page:               page,
		Lang:               lang,
		Title:              tr(lang, titles[page]),
		Service:            p.cfg.ServiceName,
		Domain:             p.domain,
		Base:               p.cfg.Path,
		Token:              p.tokens.issue(page, p.acc.Now()),
		MinPassword:        p.minPw,
		ArchiveAvailable:   p.d.Archive != nil,
		UserInvites:        p.userInvites(),
		UploadsAvailable:   p.d.Uploads != nil,
		StrangersAvailable: p.d.Prefs != nil,
		FastAvailable:      p.d.Fast != nil,
		PushAvailable:      p.acc.PushAvailable(),
	}
}

// userInvites is accounts.user_invites when the invite pages are served.
func (p *Pages) userInvites() int {
	if p.d.Invites == nil {
		return 0
	}
	return p.acc.UserInvitesAllowed()
}

// render writes page with status.
func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, d *pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", d.Lang)
	h.Add("Vary", "Accept-Language")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if err := p.tmpl[d.Lang+"/"+d.Page].ExecuteTemplate(w, "layout", d); err != nil {
		p.d.Log.Error().Err(err).Msg("account page render failed")
	}
}

// get serves GET and HEAD of a form page and reports whether the request
// was one; other methods than POST get 405.
func (p *Pages) get(w http.ResponseWriter, r *http.Request, page string) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		p.render(w, r, http.StatusOK, p.data(page, pickLang(r)))
		return true
	case http.MethodPost:
		return false
	}
	w.Header().Set("Allow", "GET, HEAD, POST")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return true
}

func (p *Pages) serveIndex(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p.render(w, r, http.StatusOK, p.data("index", pickLang(r)))
}

// Public messages, in English; tr translates them. They never contain
// input beyond the username.
const (
	msgCrossSite = "This form was sent from another web site and has been refused. Open the page on this site and try again."
	msgBadForm   = "The form could not be read. Please load the page again and resubmit."
	msgNoToken   = "The form's security token is missing. Please load the page again and resubmit."
	msgForged    = "The form's security token is not valid. Please load the page again and resubmit."
	msgExpired   = "The form has expired. Please submit it again (a new form is below)."
	msgAuth      = "Wrong username or password."
	msgThrottled = "Too many failed attempts. Please wait %s and try again."
	msgInternal  = "Something went wrong on the server. Nothing was changed; please try again later."
)

// request is a checked form POST.
type request struct {
	form form
	user string // normalised
	data *pageData
	// locked: the account is locked (the password was right); only the
	// lock page gets such a request.
	locked bool
}

// fail renders the form again with status and msg, translated and
// formatted with args.
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, req *request, status int, msg string, args ...any) {
	req.data.Error = tr(req.data.Lang, msg, args...)
	p.render(w, r, status, req.data)
}

// checkPost checks origin, form and token of a POST to page, then calls
// validate (form-specific checks that need no password; it returns a
// public message or "") and finally the username and password, with
// throttling. It answers the request itself and returns nil on failure.
func (p *Pages) checkPost(w http.ResponseWriter, r *http.Request, page string, validate func(form) string) *request {
	req := &request{data: p.data(page, pickLang(r))}
	if !sameOrigin(r) {
		p.fail(w, r, req, http.StatusForbidden, msgCrossSite)
		return nil
	}
	f, err := readForm(w, r)
	if err != nil {
		p.fail(w, r, req, http.StatusBadRequest, msgBadForm)
		return nil
	}
	req.form = f
	// Privacy: only the username is echoed, never a password.
	req.data.User = f["username"]
	now := p.acc.Now()
	switch err := p.tokens.check(page, f["token"], now); err {
	case nil:
	case errTokenMissing:
		p.fail(w, r, req, http.StatusBadRequest, msgNoToken)
		return nil
	case errTokenExpired:
		p.fail(w, r, req, http.StatusBadRequest, msgExpired)
		return nil
	default:
		p.fail(w, r, req, http.StatusForbidden, msgForged)
		return nil
	}
	if validate != nil {
		if msg := validate(f); msg != "" {
			p.fail(w, r, req, http.StatusBadRequest, msg)
			return nil
		}
	}
	ip := ipKey(r.RemoteAddr)
	user, uerr := accounts.NormaliseUser(f["username"], p.domain)
	key := user
	if uerr != nil {
		// Unknown and invalid names are limited like real ones.
		key = "\x00invalid"
	}
	done, wait, blocked := p.throttle.begin(ip, key, now)
	if !blocked {
		// Verify asks the per-account limit shared with XMPP login first.
		addr, _ := netip.ParseAddrPort(r.RemoteAddr)
		err = p.acc.Verify(r.Context(), key, f["password"], addr.Addr())
		var te *accounts.ThrottledError
		if errors.As(err, &te) {
			blocked, wait = true, te.Wait
			done(true) // not evaluated: no failure for this page's throttle
		} else {
			// A store fault is not the visitor's failure.
			done(!errors.Is(err, accounts.ErrAuth))
		}
	}
	if blocked {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Round(time.Second)/time.Second)+1))
		p.fail(w, r, req, http.StatusTooManyRequests, msgThrottled, waitText(req.data.Lang, wait))
		return nil
	}
	if errors.Is(err, accounts.ErrAuth) {
		p.fail(w, r, req, http.StatusForbidden, msgAuth)
		return nil
	}
	if errors.Is(err, accounts.ErrLocked) {
		// GDPR Art. 18: a locked account may only be unlocked.
		if page != "lock" {
			p.fail(w, r, req, http.StatusForbidden, msgLocked)
			return nil
		}
		req.locked, err = true, nil
	}
	if err != nil {
		p.d.Log.Error().Err(err).Msg("account credential check failed")
		p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
		return nil
	}
	req.user = user
	return req
}
