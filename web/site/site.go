package site

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

//go:embed content templates static
var files embed.FS

// ErrNotFound is returned by Site.Page for a page that exists neither in the
// operator's content directory nor in the embedded content.
var ErrNotFound = errors.New("site: page not found")

// Languages lists the page languages; the first one is the default.
var Languages = []string{"en", "de"}

// Pages lists the embedded pages, in navigation order.
var Pages = []string{"home", "privacy", "imprint"}

// maxPageBytes bounds an operator's Markdown file, so a stray large file in
// the content directory cannot make every request read it whole.
const maxPageBytes = 1 << 20

// Facts are the configuration values the pages state.
// They come from the running configuration, so the pages say what the
// server does.
type Facts struct {
	ServiceName     string
	Domain          string   // XMPP domain
	Hosts           []string // web host names; the first one is the main one
	ContactAdmin    []string // URIs such as mailto:… or xmpp:…
	ContactAbuse    []string
	AccountURL      string // base URL of the account pages, without trailing slash
	ArchiveDefault  string // "never", "always" or "roster"
	IPAnonymisation string // e.g. "IPv4 /24, IPv6 /48"
	Uploads         time.Duration
	WebErrors       time.Duration
	ConnectionLogs  time.Duration
	Offline         time.Duration
	LoginTokens     time.Duration
	Backups         time.Duration // 0: the operator names no backups
	GroupChat       string        // group chat service domain; empty: none
	GroupArchive    time.Duration // archive period of group chats with archiving on
	PortC2S         int           // STARTTLS
	PortC2STLS      int           // direct TLS
	// PushSender and PushBody: push notifications (XEP-0357) carry the
	// sender or the message text (push.include_sender, push.include_body).
	PushSender, PushBody bool
}

// Site renders pages.
// It is safe for concurrent use.
type Site struct {
	facts  Facts
	data   map[string]pageData // per language
	root   *os.Root            // operator content directory, or nil
	layout *htmltemplate.Template
	md     goldmark.Markdown
	css    []byte
	cache  map[string][]byte // lang/name → rendered embedded page
}

// New checks and renders every embedded page with f.
// contentDir, when not empty, is the operator's override directory; it must
// exist.
// The returned Site holds contentDir open until Close.
func New(f Facts, contentDir string) (*Site, error) {
	css, err := files.ReadFile("static/style.css")
	if err != nil {
		return nil, fmt.Errorf("site: %w", err)
	}
	layout, err := htmltemplate.ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("site: layout: %w", err)
	}
	s := &Site{
		facts:  f,
		data:   make(map[string]pageData),
		layout: layout,
		css:    css,
		cache:  make(map[string][]byte),
		md: goldmark.New(goldmark.WithExtensions(
			// Alignment would become inline style attributes, which the CSP forbids.
			extension.NewTable(extension.WithTableCellAlignMethod(extension.TableCellAlignNone)),
			extension.Strikethrough,
		)),
	}
	for _, lang := range Languages {
		s.data[lang] = newPageData(f, lang)
	}
	for _, lang := range Languages {
		for _, name := range Pages {
			src, err := files.ReadFile("content/" + lang + "/" + name + ".md")
			if err != nil {
				return nil, fmt.Errorf("site: %w", err)
			}
			out, err := s.render(lang, name, src)
			if err != nil {
				return nil, err
			}
			s.cache[lang+"/"+name] = out
		}
	}
	if contentDir != "" {
		root, err := os.OpenRoot(contentDir)
		if err != nil {
			return nil, fmt.Errorf("site: content dir: %w", err)
		}
		s.root = root
	}
	return s, nil
}

// Close releases the content directory.
func (s *Site) Close() error {
	if s.root == nil {
		return nil
	}
	return s.root.Close()
}

// CSS returns the style sheet; the caller must not modify it.
func (s *Site) CSS() []byte { return s.css }

// Page returns the complete HTML document for page name in lang.
// An operator's file in the content directory wins over the embedded page.
// It returns ErrNotFound when neither exists or the name is not valid, and
// another error when an operator's file cannot be read or rendered.
func (s *Site) Page(lang, name string) ([]byte, error) {
	p, ok := contentPath(lang, name)
	if !ok {
		return nil, ErrNotFound
	}
	src, err := s.override(p)
	switch {
	case err == nil:
		return s.render(lang, name, src)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	if out, ok := s.cache[lang+"/"+name]; ok {
		return out, nil
	}
	return nil, ErrNotFound
}

// NotFound returns the HTML document of the 404 page in lang.
func (s *Site) NotFound(lang string) []byte {
	if _, ok := s.data[lang]; !ok {
		lang = Languages[0]
	}
	ui := uiText[lang]
	body := "<h1>" + htmltemplate.HTMLEscapeString(ui.NotFoundTitle) + "</h1>\n<p>" +
		htmltemplate.HTMLEscapeString(ui.NotFoundText) + "</p>\n"
	out, err := s.wrap(lang, "", ui.NotFoundTitle, htmltemplate.HTML(body))
	if err != nil {
		// The layout was executed successfully in New; this cannot fail
		// except for a write error to a bytes.Buffer, which does not happen.
		return []byte(body)
	}
	return out
}

// Check renders every page the operator placed in the content directory and
// reports the first one that fails, so a broken override is found at start
// (or by `chatbx check`) rather than by a visitor.
func (s *Site) Check() error {
	if s.root == nil {
		return nil
	}
	for _, lang := range Languages {
		entries, err := fs.ReadDir(s.root.FS(), lang)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("site: content dir: %w", err)
		}
		for _, e := range entries {
			name, ok := strings.CutSuffix(e.Name(), ".md")
			if !ok || !validName.MatchString(name) {
				continue
			}
			if _, err := s.Page(lang, name); err != nil {
				return err
			}
		}
	}
	return nil
}

var (
	validLang = regexp.MustCompile(`^[a-z]{2}$`)
	validName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

// contentPath returns the slash-separated path of page name in lang inside a
// content directory, or false when lang is not a page language or name is
// not a plain lower-case word (letters, digits, inner hyphens, at most 64
// bytes).
// Privacy and safety: names come from request paths; the pattern admits no
// dot, slash or backslash, so the path cannot leave the content directory
// even before os.Root checks it.
func contentPath(lang, name string) (string, bool) {
	if !isLanguage(lang) || len(name) > 64 || !validName.MatchString(name) {
		return "", false
	}
	return lang + "/" + name + ".md", true
}

// isLanguage reports whether lang is one of Languages.
func isLanguage(lang string) bool {
	if !validLang.MatchString(lang) {
		return false
	}
	for _, l := range Languages {
		if l == lang {
			return true
		}
	}
	return false
}

// override reads path from the operator's content directory.
// It returns an error satisfying errors.Is(err, fs.ErrNotExist) when there
// is no directory, no such file, or the name is not a regular file.
func (s *Site) override(path string) ([]byte, error) {
	if s.root == nil {
		return nil, fs.ErrNotExist
	}
	f, err := s.root.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("site: open override: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("site: stat override: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fs.ErrNotExist
	}
	src, err := io.ReadAll(io.LimitReader(f, maxPageBytes+1))
	if err != nil {
		return nil, fmt.Errorf("site: read override: %w", err)
	}
	if len(src) > maxPageBytes {
		return nil, fmt.Errorf("site: override %s larger than %d bytes", path, maxPageBytes)
	}
	return src, nil
}

// render fills the Markdown template src, converts it to HTML and wraps it
// in the layout.
func (s *Site) render(lang, name string, src []byte) ([]byte, error) {
	t, err := template.New(lang + "/" + name).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("site: page %s/%s: %w", lang, name, err)
	}
	var md bytes.Buffer
	if err := t.Execute(&md, s.data[lang]); err != nil {
		return nil, fmt.Errorf("site: page %s/%s: %w", lang, name, err)
	}
	var body bytes.Buffer
	if err := s.md.Convert(md.Bytes(), &body); err != nil {
		return nil, fmt.Errorf("site: page %s/%s: markdown: %w", lang, name, err)
	}
	// The page title is the first level-one heading.
	title := s.facts.ServiceName
	for line := range strings.Lines(md.String()) {
		if h, ok := strings.CutPrefix(line, "# "); ok {
			title = strings.TrimSpace(h)
			break
		}
	}
	// Goldmark's output is safe HTML: raw HTML in the Markdown is omitted
	// and dangerous link schemes are dropped (the renderer is not "unsafe").
	return s.wrap(lang, name, title, htmltemplate.HTML(body.String()))
}

// layoutData is what templates/layout.html sees.
type layoutData struct {
	Lang, Page, Title, ServiceName string
	Body                           htmltemplate.HTML
	UI                             ui
	Home, Privacy, Imprint         string // links in the current language
	Switch                         langSwitch
	Account                        accountURLs
}

type langSwitch struct {
	Lang, Href, Label string
}

// wrap executes the layout around body.
// name is the page name, or "" for the 404 page.
func (s *Site) wrap(lang, name, title string, body htmltemplate.HTML) ([]byte, error) {
	other := Languages[0]
	if other == lang {
		other = Languages[1]
	}
	d := layoutData{
		Lang:        lang,
		Page:        name,
		Title:       title,
		ServiceName: s.facts.ServiceName,
		Body:        body,
		UI:          uiText[lang],
		Home:        URL(lang, "home"),
		Privacy:     URL(lang, "privacy"),
		Imprint:     URL(lang, "imprint"),
		Switch:      langSwitch{Lang: other, Href: URL(other, name), Label: uiText[other].LanguageName},
		Account:     s.data[lang].Account,
	}
	var out bytes.Buffer
	if err := s.layout.ExecuteTemplate(&out, "layout.html", d); err != nil {
		return nil, fmt.Errorf("site: layout: %w", err)
	}
	return out.Bytes(), nil
}

// URL returns the site-relative address of page name in lang;
// "home" and "" give the language's front page.
func URL(lang, name string) string {
	if name == "" || name == "home" {
		return "/" + lang + "/"
	}
	return "/" + lang + "/" + name
}

// ValidPage reports whether lang is a page language and name a valid page
// name (lower-case letters, digits and inner hyphens, at most 64 bytes).
// It says nothing about whether the page exists.
func ValidPage(lang, name string) bool {
	_, ok := contentPath(lang, name)
	return ok
}
