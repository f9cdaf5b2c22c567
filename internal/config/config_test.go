package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"chatbx/internal/certs"
	"chatbx/internal/guard"
	"chatbx/retention"
	"chatbx/server/c2s"
	"chatbx/server/mam"
	"chatbx/server/register"
	"chatbx/server/upload"
	"chatbx/server/vcard"
	"chatbx/server/ws"
	"chatbx/store"
	"chatbx/web"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md from the key table")

// writeFile writes a TOML file into a temporary directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "chatbx.toml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeyMapping(t *testing.T) {
	t.Parallel()
	tests := []struct{ key, flag, env string }{
		{"c2s.listen_tls", "c2s-listen-tls", "CHATBX_C2S_LISTEN_TLS"},
		{"data_dir", "data-dir", "CHATBX_DATA_DIR"},
		{"domain", "domain", "CHATBX_DOMAIN"},
		{"retention.connection_logs", "retention-connection-logs", "CHATBX_RETENTION_CONNECTION_LOGS"},
	}
	for _, tc := range tests {
		k, ok := lookupKey(tc.key)
		if !ok {
			t.Fatalf("lookupKey(%q) not found", tc.key)
		}
		if got := k.Flag(); got != tc.flag {
			t.Errorf("%s.Flag() = %q, want %q", tc.key, got, tc.flag)
		}
		if got := k.Env(); got != tc.env {
			t.Errorf("%s.Env() = %q, want %q", tc.key, got, tc.env)
		}
	}
	// The mapping is a bijection: no two keys share a flag or a variable.
	flags, envs := map[string]string{}, map[string]string{}
	for _, k := range configKeys {
		if other, dup := flags[k.Flag()]; dup {
			t.Errorf("keys %s and %s share flag --%s", k.Name, other, k.Flag())
		}
		if other, dup := envs[k.Env()]; dup {
			t.Errorf("keys %s and %s share variable %s", k.Name, other, k.Env())
		}
		flags[k.Flag()], envs[k.Env()] = k.Name, k.Name
		if k.Flag() == "config" || k.Flag() == "dev" || k.Flag() == "help" || k.Env() == envConfigFile {
			t.Errorf("key %s collides with a command option", k.Name)
		}
	}
}

func TestRequiredKeys(t *testing.T) {
	t.Parallel()
	want := []string{
		"domain", "data_dir", "service_name",
		"c2s.listen", "c2s.listen_tls", "c2s.max_stanza_bytes", "c2s.sasl_plus", "c2s.offline_max",
		"c2s.idle_timeout", "c2s.negotiation_timeout",
		"web.listen_https", "web.listen_http", "web.hosts", "web.content_dir",
		"contact.admin", "contact.abuse",
		"tls.cert_file", "tls.key_file", "tls.acme", "tls.acme_directory", "tls.acme_email",
		"tls.acme_ca_roots", "tls.acme_challenges",
		"retention.uploads", "retention.web_errors", "retention.connection_logs", "retention.offline",
		"retention.maintenance_max", "log.stderr", "log.level", "archive.default", "archive.max_age",
		"accounts.registration",
	}
	for _, name := range want {
		if _, ok := lookupKey(name); !ok {
			t.Errorf("key %s missing", name)
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `
domain = "file.example"
[c2s]
listen = "127.0.0.1:1001"
idle_timeout = "1d"
offline_max = 11
[log]
stderr = true
[web]
hosts = ["file.example", "www.file.example"]
`)
	tests := []struct {
		name    string
		file    string
		env     []string
		flags   map[string]string
		key     string
		want    string // Format
		wantSrc string
	}{
		{"string default", "", nil, nil, "c2s.listen", `":5222"`, "default"},
		{"string file", file, nil, nil, "c2s.listen", `"127.0.0.1:1001"`, "file"},
		{"string env over file", file, []string{"CHATBX_C2S_LISTEN=127.0.0.1:1002"}, nil, "c2s.listen", `"127.0.0.1:1002"`, "env"},
		{"string flag over env", file, []string{"CHATBX_C2S_LISTEN=127.0.0.1:1002"}, map[string]string{"c2s.listen": "127.0.0.1:1003"}, "c2s.listen", `"127.0.0.1:1003"`, "flag"},
		{"duration default", "", nil, nil, "c2s.idle_timeout", `"5m"`, "default"},
		{"duration file days", file, nil, nil, "c2s.idle_timeout", `"24h"`, "file"},
		{"duration env", file, []string{"CHATBX_C2S_IDLE_TIMEOUT=1d12h"}, nil, "c2s.idle_timeout", `"36h"`, "env"},
		{"duration flag", file, []string{"CHATBX_C2S_IDLE_TIMEOUT=1d12h"}, map[string]string{"c2s.idle_timeout": "20s"}, "c2s.idle_timeout", `"20s"`, "flag"},
		{"int file", file, nil, nil, "c2s.offline_max", "11", "file"},
		{"int env", file, []string{"CHATBX_C2S_OFFLINE_MAX=12"}, nil, "c2s.offline_max", "12", "env"},
		{"int flag", file, []string{"CHATBX_C2S_OFFLINE_MAX=12"}, map[string]string{"c2s.offline_max": "13"}, "c2s.offline_max", "13", "flag"},
		{"bool default", "", nil, nil, "log.stderr", "false", "default"},
		{"bool file", file, nil, nil, "log.stderr", "true", "file"},
		{"bool env", file, []string{"CHATBX_LOG_STDERR=false"}, nil, "log.stderr", "false", "env"},
		{"bool flag", file, []string{"CHATBX_LOG_STDERR=false"}, map[string]string{"log.stderr": "true"}, "log.stderr", "true", "flag"},
		{"list derived default", "", []string{"CHATBX_DOMAIN=env.example"}, nil, "web.hosts", `["env.example"]`, "default"},
		{"list file", file, nil, nil, "web.hosts", `["file.example", "www.file.example"]`, "file"},
		{"list env commas", file, []string{"CHATBX_WEB_HOSTS=a.example, b.example"}, nil, "web.hosts", `["a.example", "b.example"]`, "env"},
		{"list flag", file, []string{"CHATBX_WEB_HOSTS=a.example"}, map[string]string{"web.hosts": "c.example"}, "web.hosts", `["c.example"]`, "flag"},
		{"config file from env", "", []string{"CHATBX_CONFIG=" + file}, nil, "domain", `"file.example"`, "file"},
		{"size flag with unit", "", nil, map[string]string{"c2s.max_stanza_bytes": "1MiB"}, "c2s.max_stanza_bytes", `"1MiB"`, "flag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(Sources{File: tc.file, Environ: tc.env, Flags: tc.flags})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			k, _ := lookupKey(tc.key)
			if got := k.Format(&c); got != tc.want {
				t.Errorf("%s = %s, want %s", tc.key, got, tc.want)
			}
			if got := c.Source(tc.key); got != tc.wantSrc {
				t.Errorf("Source(%s) = %q, want %q", tc.key, got, tc.wantSrc)
			}
		})
	}
}

func TestConfigTypedValues(t *testing.T) {
	t.Parallel()
	c, err := Load(Sources{File: writeFile(t, `
domain = "example.org"
[c2s]
max_stanza_bytes = "64KiB"
[retention]
uploads = "7d"
connection_logs = "1d12h"
[contact]
admin = ["mailto:admin@example.org", "xmpp:op@example.org"]
`)})
	if err != nil {
		t.Fatal(err)
	}
	if c.C2S.MaxStanzaBytes != 64<<10 {
		t.Errorf("MaxStanzaBytes = %d, want %d", c.C2S.MaxStanzaBytes, 64<<10)
	}
	if c.Retention.Uploads != 7*24*time.Hour || c.Retention.ConnectionLogs != 36*time.Hour {
		t.Errorf("Retention = %+v", c.Retention)
	}
	if len(c.Contact.Admin) != 2 || c.Contact.Admin[1] != "xmpp:op@example.org" {
		t.Errorf("Contact.Admin = %q", c.Contact.Admin)
	}
	if c.ServiceName != "example.org" || len(c.Web.Hosts) != 1 || c.Web.Hosts[0] != "example.org" {
		t.Errorf("derived values: service_name %q, web.hosts %q", c.ServiceName, c.Web.Hosts)
	}
	if !c.TLS.ACME {
		t.Error("tls.acme is off by default outside --dev")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		file    string
		env     []string
		flags   map[string]string
		wantKey string // must appear in the error
	}{
		{"unknown top-level key", `domian = "x"`, nil, nil, "domian"},
		{"unknown key in section", "[c2s]\nlisten_tsl = \":1\"", nil, nil, "c2s.listen_tsl"},
		{"unknown section", "[c2z]\nlisten = \":1\"", nil, nil, "c2z"},
		{"dotted unknown key", `c2s.bogus = 1`, nil, nil, "c2s.bogus"},
		{"section used as key", `c2s = "x"`, nil, nil, "c2s"},
		{"invalid duration in file", "[c2s]\nidle_timeout = \"5 minutes\"", nil, nil, "c2s.idle_timeout"},
		{"integer duration in file", "[c2s]\nidle_timeout = 300", nil, nil, "c2s.idle_timeout"},
		{"invalid duration in env", "", []string{"CHATBX_RETENTION_UPLOADS=30x"}, nil, "retention.uploads"},
		{"invalid duration in flag", "", nil, map[string]string{"retention.offline": "forever"}, "retention.offline"},
		{"zero duration", "", nil, map[string]string{"c2s.idle_timeout": "0"}, "c2s.idle_timeout"},
		{"negative duration", "", nil, map[string]string{"c2s.idle_timeout": "-5m"}, "c2s.idle_timeout"},
		{"string for int", "[c2s]\noffline_max = \"many\"", nil, nil, "c2s.offline_max"},
		{"zero int", "", []string{"CHATBX_C2S_OFFLINE_MAX=0"}, nil, "c2s.offline_max"},
		{"bad bool", "", []string{"CHATBX_LOG_STDERR=maybe"}, nil, "log.stderr"},
		{"bad listen address", "", nil, map[string]string{"c2s.listen": "5222"}, "c2s.listen"},
		{"bad port", "", nil, map[string]string{"web.listen_http": ":99999"}, "web.listen_http"},
		{"bad enum", "[log]\nlevel = \"loud\"", nil, nil, "log.level"},
		{"bad enum in list", "", nil, map[string]string{"tls.acme_challenges": "http-01,dns-01"}, "tls.acme_challenges"},
		{"bad domain", `domain = "Example.ORG"`, nil, nil, "domain"},
		{"bad contact uri", "[contact]\nadmin = [\"admin@example.org\"]", nil, nil, "contact.admin"},
		{"bad acme url", "", nil, map[string]string{"tls.acme_directory": "ftp://ca"}, "tls.acme_directory"},
		{"array of ints", "[web]\nhosts = [1, 2]", nil, nil, "web.hosts"},
		{"bad size", "", nil, map[string]string{"c2s.max_stanza_bytes": "1 parsec"}, "c2s.max_stanza_bytes"},
		{"unknown env", "", []string{"CHATBX_DOMIAN=x"}, nil, "CHATBX_DOMIAN"},
		{"cert without key", "", nil, map[string]string{"tls.cert_file": "/c.pem"}, "tls.cert_file"},
		{"acme and cert", "", nil, map[string]string{"tls.cert_file": "/c.pem", "tls.key_file": "/k.pem", "tls.acme": "true"}, "tls.acme"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := Sources{Environ: tc.env, Flags: tc.flags}
			if tc.file != "" {
				src.File = writeFile(t, tc.file)
			}
			_, err := Load(src)
			if err == nil {
				t.Fatalf("Load succeeded, want an error naming %s", tc.wantKey)
			}
			if !strings.Contains(err.Error(), tc.wantKey) {
				t.Errorf("error %q does not name %s", err, tc.wantKey)
			}
		})
	}
}

func TestConfigTOMLSyntaxError(t *testing.T) {
	t.Parallel()
	_, err := Load(Sources{File: writeFile(t, "domain = \n")})
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("Load(broken TOML) = %v, want an error with the line", err)
	}
	_, err = Load(Sources{File: filepath.Join(t.TempDir(), "missing.toml")})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing file) = %v, want ErrNotExist", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		dev     bool
		flags   map[string]string
		wantErr string // empty: valid
	}{
		{"domain required", false, nil, "domain"},
		{"dev needs no domain", true, nil, ""},
		{"production with domain", false, map[string]string{"domain": "example.org"}, ""},
		{"no certificate source", false, map[string]string{"domain": "example.org", "tls.acme": "false"}, "tls.acme"},
		{"certificate file", false, map[string]string{"domain": "example.org", "tls.cert_file": "c", "tls.key_file": "k"}, ""},
		{"acme without challenges", false, map[string]string{"domain": "example.org", "tls.acme_challenges": ""}, "tls.acme_challenges"},
		{"same address twice", true, map[string]string{"web.listen_http": "127.0.0.1:5222"}, "web.listen_http"},
		{"port zero twice is fine", true, map[string]string{"c2s.listen": "127.0.0.1:0", "c2s.listen_tls": "127.0.0.1:0"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(Sources{Dev: tc.dev, Flags: tc.flags})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			err = c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("validate() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("validate() = %v, want an error naming %s", err, tc.wantErr)
			}
		})
	}
}

func TestDevConfig(t *testing.T) {
	t.Parallel()
	c, err := Load(Sources{Dev: true, Flags: map[string]string{"web.listen_https": "127.0.0.1:9443"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Domain != "localhost" || c.TLS.ACME || !c.Log.Stderr || !c.Dev() {
		t.Errorf("dev config: domain %q acme %v stderr %v dev %v", c.Domain, c.TLS.ACME, c.Log.Stderr, c.Dev())
	}
	if c.C2S.Listen != "127.0.0.1:5222" || c.C2S.ListenTLS != "127.0.0.1:5223" || c.Web.ListenHTTP != "127.0.0.1:8080" {
		t.Errorf("dev listeners: %q %q %q", c.C2S.Listen, c.C2S.ListenTLS, c.Web.ListenHTTP)
	}
	if c.Web.ListenHTTPS != "127.0.0.1:9443" {
		t.Errorf("web.listen_https = %q, want the flag's 127.0.0.1:9443", c.Web.ListenHTTPS)
	}
	if filepath.Clean(c.DataDir) != "chatbx-data" {
		t.Errorf("data_dir = %q, want ./chatbx-data", c.DataDir)
	}
	// The domain stays overridable, and the derived hosts follow it.
	c, err = Load(Sources{Dev: true, Environ: []string{"CHATBX_DOMAIN=dev.test"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Domain != "dev.test" || c.Web.Hosts[0] != "dev.test" {
		t.Errorf("dev with domain: %q %q", c.Domain, c.Web.Hosts)
	}
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30d", 30 * day, false},
		{"1d12h", 36 * time.Hour, false},
		{"1.5d", 36 * time.Hour, false},
		{"24h", 24 * time.Hour, false},
		{"20s", 20 * time.Second, false},
		{"1h30m", 90 * time.Minute, false},
		{"500ms", 500 * time.Millisecond, false},
		{" 5m ", 5 * time.Minute, false},
		{"0", 0, false},
		{"", 0, true},
		{"d", 0, true},
		{"5", 0, true},
		{"-1h", 0, true},
		{"1x", 0, true},
		{"1e3d", 0, true},
		{"1..5d", 0, true},
		{"5 m", 0, true},
		{"999999999999d", 0, true},
		{"200000d", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseDuration(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0"},
		{30 * day, "30d"},
		{24 * time.Hour, "24h"},
		{36 * time.Hour, "36h"},
		{day + 30*time.Minute, "1d30m"},
		{5 * time.Minute, "5m"},
		{90 * time.Second, "1m30s"},
		{1500 * time.Millisecond, "1.5s"},
	}
	for _, tc := range tests {
		if got := FormatDuration(tc.in); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
		err  bool
	}{
		{"262144", 262144, false},
		{"256KiB", 256 << 10, false},
		{"1MiB", 1 << 20, false},
		{"64kB", 64000, false},
		{"10 B", 10, false},
		{"", 0, true},
		{"KiB", 0, true},
		{"1TiB", 0, true},
		{"99999999999GiB", 0, true},
		{"-1", 0, true},
	}
	for _, tc := range tests {
		got, err := parseSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseSize(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestConfigDocs checks that docs/configuration.md is generated from the key
// table and lists every key with its flag and variable.
// Regenerate with: go test -run TestConfigDocs -update ./internal/config
func TestConfigDocs(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "configuration.md")
	got := Docs()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestConfigDocs -update ./internal/config)", err)
	}
	if string(want) != got {
		t.Errorf("%s is out of date: run go test -run TestConfigDocs -update ./internal/config", path)
	}
	for _, k := range configKeys {
		for _, s := range []string{"### `" + k.Name + "`", "`--" + k.Flag() + "`", "`" + k.Env() + "`"} {
			if !bytes.Contains(want, []byte(s)) {
				t.Errorf("%s does not contain %s", path, s)
			}
		}
	}
}

// FuzzParseDuration checks that ParseDuration never panics and that every
// accepted duration survives FormatDuration and a second parse.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "1d12h", "1.5d", "24h", "500ms", "0", "1h30m20s", "9223372036s", "106751d", ".5d", "1µs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
		}
		text := FormatDuration(d)
		d2, err := ParseDuration(text)
		if err != nil || d2 != d {
			t.Fatalf("ParseDuration(FormatDuration(%v) = %q) = %v, %v", d, text, d2, err)
		}
	})
}

// FuzzConfigTOML feeds arbitrary bytes to the TOML reader. It must not panic;
// an accepted file must have valid values only, and writing those values as
// TOML again and reading that back must give the same configuration.
func FuzzConfigTOML(f *testing.F) {
	f.Add([]byte("domain = \"example.org\"\n[c2s]\nidle_timeout = \"1d\"\nmax_stanza_bytes = \"64KiB\"\n"))
	f.Add([]byte("[web]\nhosts = [\"a.example\", \"b.example\"]\n[log]\nstderr = true\n"))
	f.Add([]byte("[retention]\nuploads = \"30d\"\n[tls]\nacme_challenges = \"http-01\"\n"))
	f.Add([]byte("c2s.offline_max = 5\n[contact]\nadmin = [\"mailto:a@b.example\"]\n"))
	f.Add([]byte("[archive]\nmax_age = \"0\"\ndefault = \"roster\"\n"))
	f.Add([]byte("[[c2s]]\n"))
	f.Add([]byte("\"\" = 1\n"))
	f.Add([]byte("[c2s]\n\"\" = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := DefaultConfig()
		c.source = map[string]string{}
		if err := c.decodeTOML(data, "fuzz.toml"); err != nil {
			var ce *Error
			if errors.As(err, &ce) && ce.Key == "" {
				t.Fatalf("error without a key: %v", err)
			}
			return
		}
		for _, k := range configKeys {
			if err := k.check(k.field(&c).Interface()); err != nil && k.Kind != KindList && k.Kind != KindString {
				// Defaults of empty strings and lists are checked on load only.
				t.Fatalf("accepted invalid %s: %v", k.Name, err)
			}
		}
		// Round trip through our own TOML rendering.
		out := renderTOML(t, &c)
		c2 := DefaultConfig()
		c2.source = map[string]string{}
		if err := c2.decodeTOML(out, "rendered.toml"); err != nil {
			t.Fatalf("re-reading rendered TOML: %v\n%s", err, out)
		}
		for _, k := range configKeys {
			if a, b := k.Format(&c), k.Format(&c2); a != b {
				t.Fatalf("%s: %s after round trip, was %s\n%s", k.Name, b, a, out)
			}
		}
	})
}

// renderTOML writes every key of c as a TOML document.
func renderTOML(t *testing.T, c *Config) []byte {
	t.Helper()
	doc := map[string]any{}
	for _, k := range configKeys {
		table := doc
		name := k.Name
		if section, rest, ok := strings.Cut(k.Name, "."); ok {
			if _, ok := doc[section]; !ok {
				doc[section] = map[string]any{}
			}
			table, name = doc[section].(map[string]any), rest
		}
		v := k.field(c).Interface()
		switch x := v.(type) {
		case time.Duration:
			v = FormatDuration(x)
		case []string:
			if x == nil {
				v = []string{}
			}
		}
		table[name] = v
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(doc); err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b.Bytes()
}

// TestDefaultsFromParts checks that the keys configuring a part default to
// that part's own DefaultConfig, so that no default is written twice.
func TestDefaultsFromParts(t *testing.T) {
	t.Parallel()
	c := DefaultConfig()
	c2sDef, tlsDef, uploadDef := c2s.DefaultConfig(), certs.DefaultConfig(), upload.DefaultConfig("")
	retDef, guardDef, limits := retention.DefaultConfig(), guard.DefaultConfig(), store.DefaultLimits()
	tests := []struct {
		key       string
		got, want any
	}{
		{"c2s.listen", c.C2S.Listen, c2sDef.Listen},
		{"c2s.listen_tls", c.C2S.ListenTLS, c2sDef.ListenTLS},
		{"c2s.max_stanza_bytes", c.C2S.MaxStanzaBytes, c2sDef.MaxStanzaBytes},
		{"c2s.max_stanza_bytes (ws)", c.C2S.MaxStanzaBytes, ws.DefaultConfig().MaxStanzaBytes},
		{"c2s.offline_max", c.C2S.OfflineMax, c2sDef.OfflineMax},
		{"c2s.offline_bytes", int64(c.C2S.OfflineBytes), limits.OfflineBytes},
		{"c2s.roster_max", c.C2S.RosterMax, limits.RosterItems},
		{"c2s.idle_timeout", c.C2S.IdleTimeout, c2sDef.IdleTimeout},
		{"c2s.negotiation_timeout", c.C2S.NegotiationTimeout, c2sDef.NegotiationTimeout},
		{"c2s.conn_per_second", float64(c.C2S.ConnPerSecond), c2sDef.ConnPerSecond},
		{"c2s.conn_burst", c.C2S.ConnBurst, c2sDef.ConnBurst},
		{"c2s.auth_burst", c.C2S.AuthBurst, c2sDef.AuthFailBurst},
		{"c2s.queue_bytes", c.C2S.QueueBytes, c2sDef.QueueBytes},
		{"c2s.max_connections", c.C2S.MaxConnections, c2sDef.MaxConnections},
		{"c2s.max_unauthenticated", c.C2S.MaxUnauthenticated, c2sDef.MaxUnauthenticated},
		{"c2s.vcard_bytes", c.C2S.VCardBytes, vcard.DefaultConfig().MaxBytes},
		{"web.header_timeout", c.Web.HeaderTimeout, web.DefaultConfig().HeaderTimeout},
		{"web.max_connections", c.Web.MaxConnections, web.DefaultConfig().MaxConnections},
		{"web.max_connections_per_ip", c.Web.PerIPConnections, web.DefaultConfig().PerIPConnections},
		{"upload.max_per_day", c.Upload.MaxPerDay, uploadDef.MaxPerDay},
		{"tls.acme", c.TLS.ACME, tlsDef.ACME},
		{"tls.acme_directory", c.TLS.ACMEDirectory, tlsDef.Directory},
		{"tls.acme_challenges", strings.Join(c.TLS.ACMEChallenge, ","), strings.Join(tlsDef.Challenges, ",")},
		{"upload.max_file_size", int64(c.Upload.MaxFileSize), uploadDef.MaxFileSize},
		{"upload.quota", int64(c.Upload.Quota), uploadDef.Quota},
		{"retention.uploads", c.Retention.Uploads, retDef.Uploads},
		{"retention.connection_logs", c.Retention.ConnectionLogs, retDef.ConnectionLogs},
		{"retention.sweep", c.Retention.Sweep, retDef.Sweep},
		{"archive.default", c.Archive.Default, mam.DefaultConfig().Default},
		{"archive.max_bytes", int64(c.Archive.MaxBytes), limits.ArchiveBytes},
		{"accounts.registration", c.Accounts.Registration, register.DefaultConfig("").Registration},
		{"accounts.login_failures", c.Accounts.LoginFailures, guardDef.NetworkFree},
		{"accounts.login_max_backoff", c.Accounts.LoginMaxBackoff, guardDef.MaxBackoff},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: default %v, the part's default is %v", tc.key, tc.got, tc.want)
		}
	}
}
