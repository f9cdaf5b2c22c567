package upload

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"

	"chatbx/server/disco"
	"chatbx/server/iq"
	"chatbx/server/wire"
	"chatbx/store"
)

// NS is the XEP-0363 namespace: the IQ payload namespace Handle serves and
// the disco feature the package adds.
const NS = "urn:xmpp:http:upload:0"

// SecretParam is the query parameter of the PUT URL that carries the
// slot's secret. The web handler (web/upload) reads the same name.
const SecretParam = "s"

// DefaultContentType is recorded when a slot request names no type.
const DefaultContentType = "application/octet-stream"

// maxContentType bounds the content-type attribute.
const maxContentType = 255

// Store is the part of store.DB the package uses.
type Store interface {
	// PutUpload records a slot; it fails with store.ErrQuota when the
	// user's quota would be exceeded and store.ErrUploadsPerDay when the
	// user created too many slots today.
	PutUpload(ctx context.Context, user string, u store.Upload, lim store.UploadLimits) error
}

var _ Store = (*store.DB)(nil)

// Config configures the slot service.
type Config struct {
	// BaseURL is where the web site serves uploads, with a trailing slash,
	// e.g. "https://chat.example.org/upload/". Slots are
	// BaseURL + id + "/" + name. Required.
	BaseURL string
	// MaxFileSize is the largest file a slot is given for, in bytes
	// (default 100 MiB). It is advertised in disco#info (Form).
	MaxFileSize int64
	// Quota bounds the bytes one account may hold in uploads that are
	// complete or whose slot is still valid (default 1 GiB; negative means
	// no quota).
	Quota int64
	// MaxPerDay bounds the slots one account may request per UTC day,
	// zero-byte ones included (default 200; negative means no bound).
	MaxPerDay int
	// SlotTTL is how long a PUT URL stays valid (default 5 minutes;
	// XEP-0363 §8 recommends short periods).
	SlotTTL time.Duration
	// Retention is how long an upload is kept (retention.uploads, default
	// 30 days). The slot service only records the resulting date for the
	// account export; the retention sweep (web/upload) deletes the files.
	Retention time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults with the given base URL.
func DefaultConfig(baseURL string) Config {
	return Config{
		BaseURL:     baseURL,
		MaxFileSize: 100 << 20,
		Quota:       1 << 30,
		MaxPerDay:   200,
		SlotTTL:     5 * time.Minute,
		Retention:   30 * 24 * time.Hour,
	}
}

// Validate reports a configuration New cannot serve: a base URL that is
// not an absolute https (or, for tests on loopback, http) URL.
func (c Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("upload: base URL %q is not an absolute https URL", c.BaseURL)
	}
	return nil
}

// Service hands out upload slots (XEP-0363 §4). It is safe for concurrent
// use.
type Service struct {
	cfg Config
	db  Store
	now func() time.Time
}

// New returns a slot service over db. Zero fields of cfg get their
// defaults, and a missing trailing slash is added to BaseURL; main should
// call cfg.Validate first.
func New(cfg Config, db Store) *Service {
	d := DefaultConfig(cfg.BaseURL)
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = d.MaxFileSize
	}
	if cfg.Quota == 0 {
		cfg.Quota = d.Quota
	}
	if cfg.MaxPerDay == 0 {
		cfg.MaxPerDay = d.MaxPerDay
	}
	if cfg.SlotTTL <= 0 {
		cfg.SlotTTL = d.SlotTTL
	}
	if cfg.Retention <= 0 {
		cfg.Retention = d.Retention
	}
	if !strings.HasSuffix(cfg.BaseURL, "/") {
		cfg.BaseURL += "/"
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Service{cfg: cfg, db: db, now: now}
}

// Namespaces returns the IQ payload namespaces Handle serves.
func (*Service) Namespaces() []string { return []string{NS} }

// Features returns the disco features (XEP-0030) the package adds.
func (*Service) Features() []string { return []string{NS} }

// Form returns the XEP-0128 form that XEP-0363 §3 asks for beside the
// feature: the maximum file size in bytes.
func (s *Service) Form() disco.Form {
	return disco.Form{Type: NS, Fields: []disco.Field{
		{Var: "max-file-size", Values: []string{strconv.FormatInt(s.cfg.MaxFileSize, 10)}},
	}}
}

// Identity returns the disco identity of an upload service (XEP-0363 §3).
func (*Service) Identity() disco.Identity {
	return disco.Identity{Category: "store", Type: "file", Name: "HTTP File Upload"}
}

// MaxFileSize returns the configured maximum file size in bytes.
func (s *Service) MaxFileSize() int64 { return s.cfg.MaxFileSize }

// Handle answers slot requests (XEP-0363 §4, §5) from local accounts,
// addressed to the server (no to, the domain, or upload.<domain>):
//   - a request without a usable filename, with a size that is not a
//     non-negative integer, or with a malformed content-type gets
//     bad-request;
//   - a file larger than MaxFileSize gets not-acceptable with
//     <file-too-large/> and the limit;
//   - a full quota gets resource-constraint (type wait);
//   - more than MaxPerDay slots in one UTC day get resource-constraint
//     (type wait) with <retry stamp/> at the next UTC midnight (§5);
//   - otherwise the slot is recorded and returned: the GET URL and a PUT
//     URL that carries a one-time secret, valid for SlotTTL.
//
// Set requests get bad-request; results and errors get no answer (nil).
// Storage faults get internal-server-error. Nothing is logged.
func (s *Service) Handle(ctx context.Context, c iq.Context, el *wire.Element) *wire.Element {
	switch el.Get("type") {
	case "get":
	case "set":
		return iq.Error(el, "modify", "bad-request")
	default:
		return nil
	}
	if to := el.Get("to"); to != "" && to != c.Domain && to != "upload."+c.Domain {
		return iq.Error(el, "cancel", "service-unavailable")
	}
	if c.User == "" {
		return iq.Error(el, "auth", "forbidden")
	}
	p := iq.Payload(el)
	if p == nil || p.Space != NS || p.Local != "request" {
		return iq.Error(el, "modify", "bad-request")
	}
	req, cond := ParseRequest(p)
	if cond != "" {
		return errorReply(el, "modify", "bad-request", cond)
	}
	if req.Size > s.cfg.MaxFileSize {
		return s.tooLarge(el)
	}

	id, secret, err := newIDs()
	if err != nil {
		return iq.Error(el, "wait", "internal-server-error")
	}
	now := s.now().UTC()
	hash := sha256.Sum256([]byte(secret))
	u := store.Upload{
		ID:          id,
		Name:        req.Name,
		ContentType: req.ContentType,
		Size:        req.Size,
		Created:     now,
		Expires:     now.Add(s.cfg.Retention),
		PutBy:       now.Add(s.cfg.SlotTTL),
		PutHash:     hash[:],
	}
	lim := store.UploadLimits{Quota: max(s.cfg.Quota, 0), PerDay: max(s.cfg.MaxPerDay, 0)}
	switch err := s.db.PutUpload(ctx, c.User, u, lim); {
	case errors.Is(err, store.ErrUploadsPerDay):
		return s.perDay(el, now)
	case errors.Is(err, store.ErrQuota):
		return errorReply(el, "wait", "resource-constraint", "Quota reached: delete older uploads or wait until they expire")
	case errors.Is(err, store.ErrNotFound):
		return iq.Error(el, "auth", "forbidden")
	case err != nil:
		return iq.Error(el, "wait", "internal-server-error")
	}
	get := URL(s.cfg.BaseURL, id, req.Name)
	slot := wire.New(NS, "slot")
	slot.Add(
		wire.New(NS, "put", "url", get+"?"+SecretParam+"="+secret),
		wire.New(NS, "get", "url", get),
	)
	return iq.Result(el, slot)
}

// tooLarge is the XEP-0363 §5 answer to a file over the limit.
func (s *Service) tooLarge(el *wire.Element) *wire.Element {
	limit := strconv.FormatInt(s.cfg.MaxFileSize, 10)
	r := errorReply(el, "modify", "not-acceptable", "File too large. The maximum file size is "+limit+" bytes")
	e := r.Child(wire.NSClient, "error")
	e.Add(wire.New(NS, "file-too-large").Add(wire.New(NS, "max-file-size").AddText(limit)))
	return r
}

// perDay is the XEP-0363 §5 answer to too many slots: resource-constraint
// with the time the next slot may be requested (the next UTC midnight).
func (s *Service) perDay(el *wire.Element, now time.Time) *wire.Element {
	y, m, d := now.UTC().Date()
	next := time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	text := "Too many uploads today. You can upload " + strconv.Itoa(s.cfg.MaxPerDay) + " files per day"
	r := errorReply(el, "wait", "resource-constraint", text)
	r.Child(wire.NSClient, "error").Add(wire.New(NS, "retry", "stamp", next.Format(time.RFC3339)))
	return r
}

// errorReply is iq.Error with a human-readable text.
func errorReply(el *wire.Element, typ, condition, text string) *wire.Element {
	r := wire.New(wire.NSClient, "iq", "type", "error", "id", el.Get("id"))
	return r.Add(iq.StanzaError(typ, condition, text))
}

// Request is a parsed slot request.
type Request struct {
	Name        string // sanitised
	Size        int64
	ContentType string // normalised; DefaultContentType if none was given
}

// ParseRequest reads a <request xmlns='urn:xmpp:http:upload:0'/> element.
// On failure it returns a short reason, fit for the error's text.
func ParseRequest(p *wire.Element) (Request, string) {
	var r Request
	if p.Get("filename") == "" {
		return r, "filename missing"
	}
	r.Name = SanitizeName(p.Get("filename"))
	if r.Name == "" {
		return r, "unusable filename"
	}
	sz := p.Get("size")
	n, err := strconv.ParseInt(sz, 10, 64)
	if err != nil || n < 0 || sz[0] == '+' {
		return r, "size is not a number of bytes"
	}
	r.Size = n
	ct, ok := NormalizeContentType(p.Get("content-type"))
	if !ok {
		return r, "malformed content-type"
	}
	r.ContentType = ct
	return r, ""
}

// NormalizeContentType returns the media type of s in lower case with its
// parameters (RFC 2045 syntax), DefaultContentType for an empty s, and
// false for anything that does not parse or is overlong. The web handler
// compares a PUT's Content-Type with the slot's through it.
func NormalizeContentType(s string) (string, bool) {
	if s == "" {
		return DefaultContentType, true
	}
	if len(s) > maxContentType {
		return "", false
	}
	mt, params, err := mime.ParseMediaType(s)
	if err != nil || !strings.Contains(mt, "/") {
		return "", false
	}
	out := mime.FormatMediaType(mt, params)
	if out == "" || len(out) > maxContentType {
		return "", false
	}
	return out, true
}

// URL returns the address of upload id named name under base (which ends
// in a slash): base + id + "/" + the escaped name.
func URL(base, id, name string) string {
	return base + id + "/" + url.PathEscape(name)
}

// newIDs returns a random 128-bit upload id (32 hex digits) and a random
// 128-bit PUT secret (base64url).
func newIDs() (id, secret string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	return hex.EncodeToString(b[:16]), base64.RawURLEncoding.EncodeToString(b[16:]), nil
}
