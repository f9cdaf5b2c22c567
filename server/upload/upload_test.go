package upload_test

import (
	"crypto/sha256"
	"net/url"
	"strings"
	"testing"
	"time"

	"chatbx/server"
	"chatbx/server/iq"
	"chatbx/server/upload"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store/storetest"
)

var (
	_ iq.Handler     = upload.New(upload.Config{}, nil).Handle
	_ server.Service = upload.New(upload.Config{}, nil)
)

// parse and str are the shared test helpers.
var parse = xmpptest.Parse

func request(attrs string) string {
	return `<iq type='get' id='r1' to='example.org'><request xmlns='urn:xmpp:http:upload:0' ` + attrs + `/></iq>`
}

var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func newService(t *testing.T, edit func(*upload.Config)) (*upload.Service, iq.Context, func() []string) {
	t.Helper()
	db := storetest.Open(t)
	user := storetest.User(t, db, "alice")
	cfg := upload.DefaultConfig("https://chat.example.org/upload/")
	cfg.Now = func() time.Time { return t0 }
	if edit != nil {
		edit(&cfg)
	}
	ids := func() []string {
		ups, err := db.UserUploads(t.Context(), user)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, u := range ups {
			out = append(out, u.ID)
		}
		return out
	}
	return upload.New(cfg, db), iq.Context{User: user, Domain: "example.org", From: user + "@example.org/r"}, ids
}

func TestSlot(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t)
	user := storetest.User(t, db, "alice")
	cfg := upload.DefaultConfig("https://chat.example.org/upload")
	cfg.Now = func() time.Time { return t0 }
	s := upload.New(cfg, db)
	c := iq.Context{User: user, Domain: "example.org"}

	reply := s.Handle(t.Context(), c, parse(t, request(`filename='../../my juliet?.jpg' size='23456' content-type='image/JPEG'`)))
	if reply == nil || reply.Get("type") != "result" || reply.Get("id") != "r1" {
		t.Fatalf("Handle = %v, want a result", reply)
	}
	slot := reply.Child(upload.NS, "slot")
	if slot == nil {
		t.Fatalf("no slot in %v", reply)
	}
	put, get := slot.Child(upload.NS, "put").Get("url"), slot.Child(upload.NS, "get").Get("url")
	if !strings.HasPrefix(get, "https://chat.example.org/upload/") || !strings.HasSuffix(get, "/my%20juliet_.jpg") {
		t.Errorf("get URL = %q", get)
	}
	pu, err := url.Parse(put)
	if err != nil || pu.Scheme+"://"+pu.Host+pu.EscapedPath() != get {
		t.Errorf("put URL %q does not name the get URL %q (%v)", put, get, err)
	}
	secret := pu.Query().Get(upload.SecretParam)
	if len(secret) < 22 || strings.Contains(get, secret) {
		t.Errorf("put URL secret = %q", secret)
	}

	ups, err := db.UserUploads(t.Context(), user)
	if err != nil || len(ups) != 1 {
		t.Fatalf("UserUploads = %v, %v; want one slot", ups, err)
	}
	u := ups[0]
	id := strings.Split(strings.TrimPrefix(get, "https://chat.example.org/upload/"), "/")[0]
	hash := sha256.Sum256([]byte(secret))
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"id", u.ID, id},
		{"id length", len(u.ID), 32},
		{"name", u.Name, "my juliet_.jpg"},
		{"size", u.Size, int64(23456)},
		{"content type", u.ContentType, "image/jpeg"},
		{"created", u.Created, t0},
		{"expires", u.Expires, t0.Add(30 * 24 * time.Hour)},
		{"put by", u.PutBy, t0.Add(5 * time.Minute)},
		{"hash", string(u.PutHash), string(hash[:])},
		{"complete", u.Complete, false},
	} {
		if tc.got != tc.want {
			t.Errorf("stored %s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}

	// A second slot gets other random parts.
	reply2 := s.Handle(t.Context(), c, parse(t, request(`filename='a.txt' size='1'`)))
	get2 := reply2.Child(upload.NS, "slot").Child(upload.NS, "get").Get("url")
	if get2 == get || strings.Contains(get2, id) {
		t.Errorf("second slot %q repeats the first %q", get2, get)
	}
}

func TestSlotErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		edit      func(*upload.Config)
		ctx       func(*iq.Context)
		stanza    string
		want      string // error condition; "" means no answer
		wantTyp   string
		wantChild string // a further child of <error/> in the upload namespace
	}{
		{name: "too large", edit: func(c *upload.Config) { c.MaxFileSize = 20000 },
			stanza: request(`filename='a.jpg' size='20001'`), want: "not-acceptable", wantTyp: "modify", wantChild: "file-too-large"},
		{name: "quota", edit: func(c *upload.Config) { c.Quota = 100 },
			stanza: request(`filename='a.jpg' size='101'`), want: "resource-constraint", wantTyp: "wait"},
		{name: "no filename", stanza: request(`size='1'`), want: "bad-request", wantTyp: "modify"},
		{name: "empty filename", stanza: request(`filename='' size='1'`), want: "bad-request", wantTyp: "modify"},
		{name: "dots only", stanza: request(`filename='..' size='1'`), want: "bad-request", wantTyp: "modify"},
		{name: "path only", stanza: request(`filename='dir/' size='1'`), want: "bad-request", wantTyp: "modify"},
		{name: "bidi only", stanza: request("filename='\u202e' size='1'"), want: "bad-request", wantTyp: "modify"},
		{name: "no size", stanza: request(`filename='a'`), want: "bad-request", wantTyp: "modify"},
		{name: "negative size", stanza: request(`filename='a' size='-1'`), want: "bad-request", wantTyp: "modify"},
		{name: "plus size", stanza: request(`filename='a' size='+1'`), want: "bad-request", wantTyp: "modify"},
		{name: "huge size", stanza: request(`filename='a' size='99999999999999999999'`), want: "bad-request", wantTyp: "modify"},
		{name: "bad content type", stanza: request(`filename='a' size='1' content-type='image'`), want: "bad-request", wantTyp: "modify"},
		{name: "set", stanza: `<iq type='set' id='r1'><request xmlns='urn:xmpp:http:upload:0' filename='a' size='1'/></iq>`, want: "bad-request", wantTyp: "modify"},
		{name: "wrong element", stanza: `<iq type='get' id='r1'><slot xmlns='urn:xmpp:http:upload:0'/></iq>`, want: "bad-request", wantTyp: "modify"},
		{name: "other addressee", stanza: `<iq type='get' id='r1' to='bob@example.org'><request xmlns='urn:xmpp:http:upload:0' filename='a' size='1'/></iq>`,
			want: "service-unavailable", wantTyp: "cancel"},
		{name: "anonymous", ctx: func(c *iq.Context) { c.User = "" }, stanza: request(`filename='a' size='1'`), want: "forbidden", wantTyp: "auth"},
		{name: "deleted account", ctx: func(c *iq.Context) { c.User = "ghost" }, stanza: request(`filename='a' size='1'`), want: "forbidden", wantTyp: "auth"},
		{name: "result", stanza: `<iq type='result' id='r1'/>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, c, ids := newService(t, tc.edit)
			if tc.ctx != nil {
				tc.ctx(&c)
			}
			reply := s.Handle(t.Context(), c, parse(t, tc.stanza))
			if tc.want == "" {
				if reply != nil {
					t.Errorf("Handle(%s) = %v, want no answer", tc.stanza, reply)
				}
				return
			}
			e := reply.Child(wire.NSClient, "error")
			if reply.Get("type") != "error" || e == nil || e.Child(wire.NSStanzas, tc.want) == nil || e.Get("type") != tc.wantTyp {
				t.Fatalf("Handle(%s) = %v, want %s error %s", tc.stanza, reply, tc.wantTyp, tc.want)
			}
			if tc.wantChild != "" && e.Child(upload.NS, tc.wantChild) == nil {
				t.Errorf("Handle(%s) = %v, want <%s/> in the error", tc.stanza, reply, tc.wantChild)
			}
			if got := ids(); len(got) != 0 {
				t.Errorf("refused request stored slots %v", got)
			}
		})
	}
}

func TestFileTooLarge(t *testing.T) {
	t.Parallel()
	s, c, _ := newService(t, func(c *upload.Config) { c.MaxFileSize = 20000 })
	reply := s.Handle(t.Context(), c, parse(t, request(`filename='a.jpg' size='20001'`)))
	e := reply.Child(wire.NSClient, "error")
	if got := e.Child(upload.NS, "file-too-large").ChildText(upload.NS, "max-file-size"); got != "20000" {
		t.Errorf("max-file-size = %q, want 20000 in %v", got, reply)
	}
	if got := e.ChildText(wire.NSStanzas, "text"); !strings.Contains(got, "20000") {
		t.Errorf("error text = %q, want the limit", got)
	}
	// Exactly the limit is fine.
	if r := s.Handle(t.Context(), c, parse(t, request(`filename='a.jpg' size='20000'`))); r.Get("type") != "result" {
		t.Errorf("size at the limit: %v", r)
	}
}

// TestQuotaFreedBySlotExpiry: an abandoned slot stops counting against the
// quota once its PUT URL expired.
func TestQuotaFreedBySlotExpiry(t *testing.T) {
	t.Parallel()
	now := t0
	s, c, ids := newService(t, func(c *upload.Config) {
		c.Quota = 100
		c.Now = func() time.Time { return now }
	})
	req := parse(t, request(`filename='a.bin' size='60'`))
	if r := s.Handle(t.Context(), c, req); r.Get("type") != "result" {
		t.Fatalf("first slot: %v", r)
	}
	if r := s.Handle(t.Context(), c, req); r.Get("type") != "error" {
		t.Fatalf("second slot within the slot's validity: %v, want quota error", r)
	}
	now = t0.Add(5 * time.Minute)
	if r := s.Handle(t.Context(), c, req); r.Get("type") != "result" {
		t.Fatalf("slot after the first expired: %v", r)
	}
	if got := ids(); len(got) != 2 {
		t.Errorf("stored slots = %v, want 2", got)
	}
}

func TestDisco(t *testing.T) {
	t.Parallel()
	s := upload.New(upload.Config{BaseURL: "https://x.example/upload/", MaxFileSize: 5242880}, nil)
	if got := s.Features(); len(got) != 1 || got[0] != upload.NS {
		t.Errorf("Features() = %v", got)
	}
	if got := s.Namespaces(); len(got) != 1 || got[0] != upload.NS {
		t.Errorf("Namespaces() = %v", got)
	}
	f := s.Form()
	if f.Type != upload.NS || len(f.Fields) != 1 || f.Fields[0].Var != "max-file-size" || f.Fields[0].Values[0] != "5242880" {
		t.Errorf("Form() = %+v", f)
	}
	if id := s.Identity(); id.Category != "store" || id.Type != "file" {
		t.Errorf("Identity() = %+v", id)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://chat.example.org/upload/", true},
		{"http://127.0.0.1:8443/upload/", true},
		{"", false},
		{"/upload/", false},
		{"ftp://example.org/", false},
		{"https://example.org/upload/?x=1", false},
		{"https://user@example.org/upload/", false},
	} {
		if err := (upload.Config{BaseURL: tc.url}).Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%q) = %v, want ok %v", tc.url, err, tc.ok)
		}
	}
}

func TestNormalizeContentType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"", upload.DefaultContentType, true},
		{"image/JPEG", "image/jpeg", true},
		{"text/plain; charset=UTF-8", "text/plain; charset=UTF-8", true},
		{"text/plain;charset=utf-8", "text/plain; charset=utf-8", true},
		{"image", "", false},
		{"image/png; x", "", false},
		{strings.Repeat("a", 300) + "/b", "", false},
	} {
		got, ok := upload.NormalizeContentType(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizeContentType(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestSlotsPerDay: an account gets at most MaxPerDay slots per UTC day,
// zero-byte ones included; the next one is refused with
// resource-constraint and a <retry/> stamp at the next UTC midnight
// (XEP-0363 §5), and the day after slots are handed out again.
// Fails on main before the cap (zero-byte slots were unbounded).
func TestSlotsPerDay(t *testing.T) {
	t.Parallel()
	now := t0
	s, c, ids := newService(t, func(c *upload.Config) {
		c.MaxPerDay = 3
		c.Now = func() time.Time { return now }
	})
	zero := parse(t, request(`filename='empty.txt' size='0'`))
	for i := range 3 {
		if r := s.Handle(t.Context(), c, zero); r.Get("type") != "result" {
			t.Fatalf("slot %d: %v", i, r)
		}
	}
	r := s.Handle(t.Context(), c, zero)
	e := r.Child(wire.NSClient, "error")
	if r.Get("type") != "error" || e.Get("type") != "wait" || e.Child(wire.NSStanzas, "resource-constraint") == nil {
		t.Fatalf("fourth slot = %v, want a resource-constraint wait error", r)
	}
	if got, want := e.Child(upload.NS, "retry").Get("stamp"), "2026-11-28T00:00:00Z"; got != want {
		t.Errorf("retry stamp = %q, want %q in %v", got, want, r)
	}
	if got := e.ChildText(wire.NSStanzas, "text"); !strings.Contains(got, "3") {
		t.Errorf("error text = %q, want the limit", got)
	}
	if got := ids(); len(got) != 3 {
		t.Errorf("stored slots = %d, want 3", len(got))
	}
	now = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)
	if r := s.Handle(t.Context(), c, zero); r.Get("type") != "result" {
		t.Errorf("slot on the next day: %v", r)
	}
}
