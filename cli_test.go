package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/internal/admin"
	"chatbx/internal/certs"
	"chatbx/internal/config"
	"chatbx/server/wire"
	"chatbx/server/xmpptest"
	"chatbx/store"
)

// TestMain lets a test re-execute this binary as the real chatbx command.
func TestMain(m *testing.M) {
	if os.Getenv("CHATBXTEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// testEnv is a command environment with captured output and no process
// environment; the accounts come from the real store unless replaced.
type testEnv struct {
	cmdEnv
	out, errOut *lockedBuffer
}

func newTestEnv(t *testing.T, environ ...string) *testEnv {
	t.Helper()
	te := &testEnv{out: &lockedBuffer{}, errOut: &lockedBuffer{}}
	te.cmdEnv = cmdEnv{
		ctx:        t.Context(),
		stdin:      strings.NewReader(""),
		stdout:     te.out,
		stderr:     te.errOut,
		environ:    environ,
		openDirect: openDirectHandlers,
		serve:      runServer,
	}
	return te
}

// runWith runs one command line with stdin and returns the exit status.
func (te *testEnv) runWith(stdin string, args ...string) int {
	te.out.Reset()
	te.errOut.Reset()
	te.stdin = strings.NewReader(stdin)
	return te.run(args)
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lockedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lockedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *lockedBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  int
		inErr string // expected in stderr
	}{
		{"no command", "", nil, exitUsage, "missing command"},
		{"unknown command", "", []string{"frobnicate"}, exitUsage, "unknown command"},
		{"version", "", []string{"version"}, exitOK, ""},
		{"version with argument", "", []string{"version", "x"}, exitUsage, ""},
		{"help", "", []string{"help"}, exitOK, ""},
		{"unknown flag", "", []string{"check", "--dev", "--no-such-flag"}, exitUsage, "--no-such-flag"},
		{"flag without value", "", []string{"check", "--domain"}, exitUsage, "needs a value"},
		{"check without domain", "", []string{"check"}, exitError, "domain"},
		{"check dev", "", []string{"check", "--dev", "--data-dir", dir}, exitOK, ""},
		{"check invalid duration", "", []string{"check", "--dev", "--c2s-idle-timeout", "soon"}, exitError, "c2s.idle_timeout"},
		{"check positional", "", []string{"check", "--dev", "extra"}, exitUsage, ""},
		{"serve invalid config", "", []string{"serve", "--retention-uploads=0"}, exitError, "retention.uploads"},
		{"serve positional", "", []string{"serve", "--dev", "now"}, exitUsage, ""},
		{"user without subcommand", "", []string{"user"}, exitUsage, ""},
		{"user unknown subcommand", "", []string{"user", "rename", "a"}, exitUsage, ""},
		{"user add without name", "", []string{"user", "add", "--data-dir", dir}, exitUsage, "NAME"},
		{"user add password in argv", "", []string{"user", "add", "--data-dir", dir, "alice", "secret"}, exitUsage, "NAME"},
		{"user add no password", "", []string{"user", "add", "--data-dir", dir, "alice"}, exitError, "password"},
		{"user add invalid name", "pw\n", []string{"user", "add", "--data-dir", dir, "a@b"}, exitError, "invalid username"},
		{"user add reserved", "pw\n", []string{"user", "add", "--data-dir", dir, "Admin"}, exitError, "reserved"},
		{"user list with name", "", []string{"user", "list", "--data-dir", dir, "x"}, exitUsage, ""},
		{"user list no database", "", []string{"user", "list", "--data-dir", filepath.Join(dir, "none")}, exitError, "no database"},
		{"user bad env", "", []string{"user", "list"}, exitError, "CHATBX_NOPE"},
		{"config docs", "", []string{"config", "docs"}, exitOK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			te := newTestEnv(t)
			if tc.name == "user bad env" {
				te.environ = []string{"CHATBX_NOPE=1"}
			}
			got := te.runWith(tc.stdin, tc.args...)
			if got != tc.want {
				t.Errorf("run(%q) = %d, want %d\nstderr: %s", tc.args, got, tc.want, te.errOut)
			}
			if !strings.Contains(te.errOut.String(), tc.inErr) {
				t.Errorf("run(%q) stderr = %q, want it to mention %q", tc.args, te.errOut, tc.inErr)
			}
		})
	}
}

// TestMainExitStatus runs the real binary entry point in a child process.
func TestMainExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"version"}, 0},
		{[]string{"check", "--data-dir", t.TempDir()}, 1}, // no domain
		{[]string{"bogus"}, 2},
	}
	for _, tc := range tests {
		cmd := exec.CommandContext(t.Context(), os.Args[0], tc.args...)
		cmd.Env = append(os.Environ(), "CHATBXTEST_MAIN=1")
		out, err := cmd.CombinedOutput()
		got := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			got = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("chatbx %q exited %d, want %d\n%s", tc.args, got, tc.want, out)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	te := newTestEnv(t)
	if code := te.runWith("", "version"); code != 0 || !strings.HasPrefix(te.out.String(), "chatbx ") {
		t.Errorf("version = %d, %q", code, te.out)
	}
}

func TestParseArgs(t *testing.T) {
	t.Parallel()
	p, err := parseArgs([]string{"alice", "--data-dir=/d", "--dev", "-log-stderr", "--c2s-listen", ":1", "--", "--x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !p.dev || p.keys["data_dir"] != "/d" || p.keys["log.stderr"] != "true" || p.keys["c2s.listen"] != ":1" {
		t.Errorf("parseArgs: %+v", p)
	}
	if len(p.pos) != 2 || p.pos[0] != "alice" || p.pos[1] != "--x" {
		t.Errorf("positional = %q, want [alice --x]", p.pos)
	}
	if _, err := parseArgs([]string{"--dev=perhaps"}, nil); err == nil {
		t.Error("parseArgs(--dev=perhaps) succeeded")
	}
}

func TestCheckUsername(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		add   bool
		allow string
		want  string
		err   bool
	}{
		{"alice", false, "", "alice", false},
		{"Alice", false, "", "alice", false},
		{"alice@example.org", false, "", "alice", false},
		{"alice@other.example", false, "", "", true},
		{"ÅSA", false, "", "åsa", false},
		{"bob.smith-1", true, "", "bob.smith-1", false},
		{"", false, "", "", true},
		{"a b", false, "", "", true},
		{"a/b", false, "", "", true},
		{"a:b", false, "", "", true},
		{"a<b", false, "", "", true},
		{strings.Repeat("x", 65), false, "", "", true},
		{"\u0000", false, "", "", true},
		{"Admin", false, "", "admin", false}, // existing role accounts can be managed
		{"Admin", true, "", "", true},
		{"Admin", true, "true", "admin", false},
		{"postmaster", true, "", "", true},
		{"abuse", true, "", "", true},
	}
	for _, tc := range tests {
		got, err := checkUsername(tc.in, "example.org", tc.add, tc.allow)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("checkUsername(%q, add %v, allow %q) = %q, %v; want %q, error %v", tc.in, tc.add, tc.allow, got, err, tc.want, tc.err)
		}
	}
}

func TestReadPassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		err            bool
	}{
		{"first line", "s3cret\nsecond line\n", "s3cret", false},
		{"crlf", "s3cret\r\n", "s3cret", false},
		{"no newline", "s3cret", "s3cret", false},
		{"spaces kept", " pass word \n", " pass word ", false},
		{"empty", "", "", true},
		{"empty line", "\nlater\n", "", true},
		{"too long", strings.Repeat("x", maxPasswordBytes+1) + "\n", "", true},
		{"too long without newline", strings.Repeat("x", maxPasswordBytes+10), "", true},
		{"invalid utf-8", "\xff\xfe\n", "", true},
	}
	for _, tc := range tests {
		got, err := readPassword(strings.NewReader(tc.in), io.Discard)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: readPassword(%q) = %q, %v; want %q, error %v", tc.name, tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestUserCommandsDirect runs the user commands with no server: they open
// the database themselves.
func TestUserCommandsDirect(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	te := newTestEnv(t, "CHATBX_DOMAIN=example.org")
	steps := []struct {
		stdin string
		args  []string
		want  int
		out   string
	}{
		{"", []string{"user", "list", "--data-dir", dir}, exitError, ""}, // no database yet
		{"correct horse\n", []string{"user", "add", "--data-dir", dir, "Alice"}, exitOK, "user alice added\n"},
		{"other\n", []string{"user", "add", "alice", "--data-dir", dir}, exitError, ""},
		{"pw\n", []string{"user", "add", "--data-dir", dir, "--allow-reserved", "admin"}, exitOK, "user admin added\n"},
		{"", []string{"user", "list", "--data-dir", dir}, exitOK, "admin\nalice\n"},
		{"battery staple\n", []string{"user", "passwd", "--data-dir", dir, "ALICE"}, exitOK, "password of alice changed\n"},
		{"x\n", []string{"user", "passwd", "--data-dir", dir, "bob"}, exitError, ""},
		{"", []string{"user", "delete", "--data-dir", dir, "admin"}, exitOK, ""},
		{"", []string{"user", "delete", "--data-dir", dir, "admin"}, exitError, ""},
		{"", []string{"user", "list", "--data-dir", dir}, exitOK, "alice\n"},
	}
	for _, s := range steps {
		if got := te.runWith(s.stdin, s.args...); got != s.want {
			t.Fatalf("run(%q) = %d, want %d\nstderr: %s", s.args, got, s.want, te.errOut)
		}
		if s.out != "" && te.out.String() != s.out {
			t.Errorf("run(%q) printed %q, want %q", s.args, te.out, s.out)
		}
	}
	// Only verifiers are stored, and the changed password is the one that works.
	db, err := store.Open(filepath.Join(dir, dbFileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Credentials(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !c.VerifyPlain("battery staple") || c.VerifyPlain("correct horse") {
		t.Error("alice's credentials do not match the changed password")
	}
	if c.SHA256.Iterations < store.MinIterations {
		t.Errorf("iterations = %d", c.SHA256.Iterations)
	}
	// The data directory is private.
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode = %v, want 0700", fi.Mode().Perm())
	}
}

// TestUserCommandLocked: a database held by another process with no admin
// socket gives a clear error.
func TestUserCommandLocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, dbFileName), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The lock is per process on Linux (flock on a second descriptor of the
	// same process also conflicts), so this stands in for a second process.
	te := newTestEnv(t)
	if got := te.runWith("", "user", "list", "--data-dir", dir); got != exitError {
		t.Fatalf("user list on a locked database = %d, want 1", got)
	}
	if !strings.Contains(te.errOut.String(), "locked by another process and no admin socket answers") {
		t.Errorf("stderr = %q", te.errOut)
	}
}

// startTestServer starts the app as `serve --dev` would, on free loopback
// ports, runs it until the test ends, and returns it once every part is ready.
func startTestServer(t *testing.T, dir string) *app {
	t.Helper()
	a, _ := runTestServer(t, dir, nil)
	return a
}

// runTestServer is startTestServer that also returns a function stopping
// the server and waiting until it has shut down (also run at cleanup).
func runTestServer(t *testing.T, dir string, extra map[string]string) (*app, func()) {
	t.Helper()
	flags := map[string]string{
		"data_dir":         dir,
		"c2s.listen":       "127.0.0.1:0",
		"c2s.listen_tls":   "127.0.0.1:0",
		"s2s.listen":       "127.0.0.1:0",
		"s2s.listen_tls":   "127.0.0.1:0",
		"web.listen_https": "127.0.0.1:0",
		"web.listen_http":  "127.0.0.1:0",
		"log.stderr":       "false",
	}
	maps.Copy(flags, extra)
	cfg, err := config.Load(config.Sources{Dev: true, Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	a, err := startApp(ctx, cfg, io.Discard)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.run(ctx, io.Discard) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	for _, p := range a.parts {
		if p.ready == nil {
			continue
		}
		select {
		case <-p.ready:
		case err := <-done:
			done <- err
			t.Fatalf("server stopped before %s was ready: %v", p.name, err)
		}
	}
	return a, stop
}

// TestServeWiring checks that the dev certificate reaches every listener
// and that the web site and account pages are mounted.
func TestServeWiring(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := startTestServer(t, dir)
	pemBytes, err := os.ReadFile(filepath.Join(dir, certs.DevCertFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatal("dev certificate does not parse")
	}
	tlsCfg := &tls.Config{RootCAs: roots, ServerName: "localhost"}
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: tlsCfg},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	base := "https://" + a.addrs.https.String()
	tests := []struct {
		url    string
		status int
		header string // must be present
	}{
		{base + "/", http.StatusOK, "Strict-Transport-Security"},
		{base + "/privacy", http.StatusOK, "Content-Security-Policy"},
		{base + "/account/", http.StatusOK, "Cache-Control"},
		{base + "/no-such-page", http.StatusNotFound, ""},
		{"http://" + a.addrs.http.String() + "/privacy", http.StatusMovedPermanently, "Location"},
	}
	for _, tc := range tests {
		resp, err := client.Get(tc.url)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s = %d, want %d", tc.url, resp.StatusCode, tc.status)
		}
		if tc.header != "" && resp.Header.Get(tc.header) == "" {
			t.Errorf("GET %s: no %s header", tc.url, tc.header)
		}
		if c := resp.Header.Values("Set-Cookie"); len(c) > 0 {
			t.Errorf("GET %s set cookies %q", tc.url, c)
		}
	}
	// Direct TLS (XEP-0368) with the same certificate and ALPN xmpp-client.
	xmpp := a.addrs.xmpp()
	if len(xmpp) != 2 {
		t.Fatalf("xmpp addresses = %v, want STARTTLS and direct TLS", xmpp)
	}
	direct := tlsCfg.Clone()
	direct.NextProtos = []string{"xmpp-client"}
	c, err := tls.Dial("tcp", xmpp[1].String(), direct)
	if err != nil {
		t.Fatalf("direct TLS handshake: %v", err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "xmpp-client" {
		t.Errorf("direct TLS ALPN = %q, want xmpp-client", p)
	}
}

// TestUserCommandsThroughServer: while the server holds the database, the
// user commands go through the admin socket.
func TestUserCommandsThroughServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	startTestServer(t, dir)
	te := newTestEnv(t)
	// Direct access would fail: the server holds the lock.
	te.openDirect = func(context.Context, Config, bool) (*admin.Handlers, func() error, error) {
		t.Error("user command opened the database while the server runs")
		return nil, nil, errLocked
	}
	steps := []struct {
		stdin string
		args  []string
		want  int
		out   string
	}{
		{"pw-one\n", []string{"user", "add", "--data-dir", dir, "bob"}, exitOK, "user bob added\n"},
		{"pw-two\n", []string{"user", "add", "--data-dir", dir, "bob"}, exitError, ""},
		{"", []string{"user", "list", "--data-dir", dir}, exitOK, "bob\n"},
		{"pw-three\n", []string{"user", "passwd", "--data-dir", dir, "bob"}, exitOK, "password of bob changed\n"},
		{"", []string{"user", "delete", "--data-dir", dir, "bob"}, exitOK, "user bob deleted (0 roster items"},
		{"", []string{"user", "list", "--data-dir", dir}, exitOK, ""},
	}
	for _, s := range steps {
		if got := te.runWith(s.stdin, s.args...); got != s.want {
			t.Fatalf("run(%q) = %d, want %d\nstderr: %s", s.args, got, s.want, te.errOut)
		}
		if !strings.HasPrefix(te.out.String(), s.out) || (s.out == "" && te.out.String() != "") {
			t.Errorf("run(%q) printed %q, want %q", s.args, te.out, s.out)
		}
	}
	// Privacy: the server log holds no password.
	scanDir(t, filepath.Join(dir, logsDir), "pw-one", "pw-three")
}

// TestDataDirLayout: a served data directory holds nothing but the promised files.
func TestDataDirLayout(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	startTestServer(t, dir)
	te := newTestEnv(t)
	if got := te.runWith("pw\n", "user", "add", "--data-dir", dir, "carol"); got != exitOK {
		t.Fatalf("user add = %d: %s", got, te.errOut)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{dbFileName: true, uploadsDir: true, logsDir: true, admin.SocketName: true,
		certs.DevCertFile: true, certs.DevKeyFile: true} // --dev only
	for _, e := range entries {
		if !allowed[e.Name()] {
			t.Errorf("unexpected %s in the data directory", e.Name())
		}
	}
}

// TestServeCommand runs `chatbx serve --dev` through the command line and
// stops it with its context, as a signal would.
func TestServeCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ready := make(chan struct{})
	te := newTestEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	te.ctx = ctx
	te.stdout = &notifyWriter{w: te.out, match: "development mode", ch: ready}
	done := make(chan int)
	go func() {
		done <- te.run([]string{"serve", "--dev", "--data-dir", dir, "--log-stderr=false",
			"--c2s-listen", "127.0.0.1:0", "--c2s-listen-tls", "127.0.0.1:0", "--s2s-listen", "127.0.0.1:0", "--s2s-listen-tls", "127.0.0.1:0",
			"--web-listen-https", "127.0.0.1:0", "--web-listen-http", "127.0.0.1:0"})
	}()
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("serve exited %d before it was ready: %s", code, te.errOut)
	}
	if !strings.Contains(te.out.String(), "user add --dev --data-dir "+dir+" alice") {
		t.Errorf("dev instructions do not say how to add a user:\n%s", te.out)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("serve exited %d after shutdown: %s", code, te.errOut)
	}
	// The store was closed: a direct open works.
	db, err := store.Open(filepath.Join(dir, dbFileName), store.Options{})
	if err != nil {
		t.Fatalf("store after shutdown: %v", err)
	}
	db.Close()
}

// notifyWriter closes ch once a write contains match.
type notifyWriter struct {
	w     io.Writer
	match string
	ch    chan struct{}
	once  sync.Once
}

func (n *notifyWriter) Write(p []byte) (int, error) {
	k, err := n.w.Write(p)
	if bytes.Contains(p, []byte(n.match)) {
		n.once.Do(func() { close(n.ch) })
	}
	return k, err
}

// scanDir fails if any file under dir contains one of the markers.
func scanDir(t *testing.T, dir string, markers ...string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range markers {
			if bytes.Contains(data, []byte(m)) {
				t.Errorf("%s contains %q", path, m)
			}
		}
		return nil
	})
}

func TestCheckWarnings(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.Sources{Flags: map[string]string{
		"domain": "example.org", "log.stderr": "true", "retention.uploads": "60d",
		"archive.default": "always", "accounts.registration": "open",
	}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	writeCheck(&b, &c, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	for _, want := range []string{"log.stderr is on", "retention.uploads = 60d is longer", "archive.default", "registration is open", "contact.admin is empty", "2030-01-02", `retention.uploads            = "60d"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, b.String())
		}
	}
}

func TestDropLevel(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	log := zerolog.New(dropLevel{&b})
	log.Info().Str("event", "login").Str("user", "alice").Str("ip_anon", "192.0.2.0").Msg("")
	log.Warn().Msg("x")
	want := `{"event":"login","user":"alice","ip_anon":"192.0.2.0"}` + "\n" + `{"message":"x"}` + "\n"
	if b.String() != want {
		t.Errorf("dropLevel wrote %q, want %q", b.String(), want)
	}
}

// TestAdminCommandsDirect covers export and the maintenance switch without a server.
func TestAdminCommandsDirect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	te := newTestEnv(t, "CHATBX_DOMAIN=example.org")
	if code := te.runWith("secret-pw\n", "user", "add", "dora", "--data-dir", dir); code != exitOK {
		t.Fatalf("user add = %d: %s", code, te.errOut)
	}
	if code := te.runWith("", "user", "export", "dora", "--data-dir", dir); code != exitOK {
		t.Fatalf("user export = %d: %s", code, te.errOut)
	}
	if !strings.HasPrefix(te.out.String(), "PK") {
		t.Errorf("user export printed %.20q, want a zip", te.out)
	}
	if code := te.runWith("", "user", "export", "nobody", "--data-dir", dir); code != exitError {
		t.Errorf("user export of an unknown user = %d, want 1", code)
	}
	steps := []struct {
		args []string
		want int
		out  string
	}{
		{[]string{"maintenance", "status", "--data-dir", dir}, exitOK, "maintenance off"},
		{[]string{"maintenance", "on", "--data-dir", dir}, exitError, ""},
		{[]string{"maintenance", "on", "--for", "48h", "--data-dir", dir}, exitError, ""},
		{[]string{"maintenance", "on", "--for", "2h", "--data-dir", dir}, exitOK, maintenanceOnPrefix},
		{[]string{"maintenance", "status", "--data-dir", dir}, exitOK, maintenanceOnPrefix},
		{[]string{"check", "--dev", "--data-dir", dir}, exitOK, "configuration"},
		{[]string{"maintenance", "off", "--data-dir", dir}, exitOK, "maintenance off"},
		{[]string{"maintenance", "status", "--data-dir", dir}, exitOK, "maintenance off"},
		{[]string{"maintenance", "reboot", "--data-dir", dir}, exitUsage, ""},
	}
	for _, s := range steps {
		if got := te.runWith("", s.args...); got != s.want {
			t.Fatalf("run(%q) = %d, want %d\nstderr: %s", s.args, got, s.want, te.errOut)
		}
		if !strings.HasPrefix(te.out.String(), s.out) {
			t.Errorf("run(%q) printed %q, want prefix %q", s.args, te.out, s.out)
		}
		if s.args[0] == "check" && strings.Contains(te.out.String(), "maintenance is off") {
			t.Errorf("check does not show the open maintenance window:\n%s", te.out)
		}
	}
	// Without any domain, delete and export are refused rather than done
	// without cleaning contacts' rosters.
	te2 := newTestEnv(t)
	d2 := t.TempDir()
	if code := te2.runWith("pw\n", "user", "add", "erin", "--data-dir", d2); code != exitOK {
		t.Fatalf("user add = %d: %s", code, te2.errOut)
	}
	if code := te2.runWith("", "user", "delete", "erin", "--data-dir", d2); code != exitError || !strings.Contains(te2.errOut.String(), "needs the domain") {
		t.Errorf("user delete without domain = %d: %s", code, te2.errOut)
	}
}

// TestServeStartFailure: a part that fails to build stops serve with exit
// status 1 and leaves the database closed.
func TestServeStartFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	te := newTestEnv(t)
	code := te.runWith("", "serve", "--dev", "--data-dir", dir, "--log-stderr=false",
		"--c2s-listen", "127.0.0.1:0", "--c2s-listen-tls", "127.0.0.1:0", "--s2s-listen", "127.0.0.1:0", "--s2s-listen-tls", "127.0.0.1:0",
		"--web-listen-https", "127.0.0.1:0", "--web-listen-http", "not-an-address:x")
	if code != exitError {
		t.Fatalf("serve with a bad address = %d, want 1: %s", code, te.errOut)
	}
	code = te.runWith("", "serve", "--dev", "--data-dir", dir, "--log-stderr=false",
		"--c2s-listen", "127.0.0.1:0", "--c2s-listen-tls", "127.0.0.1:0", "--s2s-listen", "127.0.0.1:0", "--s2s-listen-tls", "127.0.0.1:0",
		"--web-listen-https", "127.0.0.1:0", "--web-listen-http", "127.0.0.1:0",
		"--web-content-dir", filepath.Join(dir, "no-such-dir"))
	if code != exitError || !strings.Contains(te.errOut.String(), "web") {
		t.Fatalf("serve with a missing content directory = %d: %s", code, te.errOut)
	}
	// A part that fails while running (its port is taken) stops the others.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	code = te.runWith("", "serve", "--dev", "--data-dir", dir, "--log-stderr=false",
		"--c2s-listen", busy.Addr().String(), "--c2s-listen-tls", "127.0.0.1:0", "--s2s-listen", "127.0.0.1:0", "--s2s-listen-tls", "127.0.0.1:0",
		"--web-listen-https", "127.0.0.1:0", "--web-listen-http", "127.0.0.1:0")
	if code != exitError || !strings.Contains(te.errOut.String(), "xmpp:") {
		t.Fatalf("serve with a busy c2s port = %d: %s", code, te.errOut)
	}
	db, err := store.Open(filepath.Join(dir, dbFileName), store.Options{})
	if err != nil {
		t.Fatalf("store after a failed start: %v", err)
	}
	db.Close()
	if _, err := os.Lstat(admin.SocketPath(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("admin socket left behind: %v", err)
	}
}

// TestServeEndToEnd runs the wired server with real XMPP logins: users made
// with the CLI log in over STARTTLS and direct TLS, exchange messages, and
// get what was stored offline after a restart. The connection log holds
// exactly time, event, user and the anonymised address, and no log file
// holds a message body, a password or a full IP address.
func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	const (
		alicePW = "alice-pw-8c1f"
		bobPW   = "bob-pw-77d2"
		body1   = "marker-online-51a9"
		body2   = "marker-offline-e03b"
	)
	dir := t.TempDir()
	// The failed login below leaves a stream in negotiation, which the
	// server's shutdown waits out (up to the negotiation timeout).
	extra := map[string]string{"c2s.negotiation_timeout": "2s"}
	a, stop := runTestServer(t, dir, extra)
	te := newTestEnv(t)
	for _, u := range []struct{ name, pw string }{{"alice", alicePW}, {"bob", bobPW}} {
		if code := te.runWith(u.pw+"\n", "user", "add", "--dev", "--data-dir", dir, u.name); code != exitOK {
			t.Fatalf("user add %s = %d: %s", u.name, code, te.errOut)
		}
	}
	pemBytes, err := os.ReadFile(filepath.Join(dir, certs.DevCertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	xmpp := a.addrs.xmpp()
	alice := xmpptest.Login(t, xmpp[0].String(), "localhost", "alice", alicePW, xmpptest.Options{Pool: pool})
	bob := xmpptest.Login(t, xmpp[1].String(), "localhost", "bob", bobPW, xmpptest.Options{Pool: pool, Direct: true})
	bob.SendRaw(`<presence/>`)
	// A ping round trip makes sure the server has processed the presence.
	bob.IQ(`<iq type='get' id='p0' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	alice.SendRaw(`<message to='bob@localhost' type='chat'><body>` + body1 + `</body></message>`)
	bob.Expect("message", func(e *wire.Element) bool {
		return e.Local == "message" && e.ChildText("jabber:client", "body") == body1
	})
	bob.Close()
	if _, err := xmpptest.Dial(t, xmpp[0].String(), "localhost", "alice", "wrong-password", xmpptest.Options{Pool: pool}); err == nil {
		t.Error("login with a wrong password succeeded")
	}
	alice.SendRaw(`<message to='bob@localhost' type='chat'><body>` + body2 + `</body></message>`)
	// A ping round trip orders the message before the shutdown.
	alice.IQ(`<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	alice.Close()
	stop()

	// After a restart, bob gets the message stored while he was away.
	a, stop = runTestServer(t, dir, extra)
	xmpp = a.addrs.xmpp()
	bob = xmpptest.Login(t, xmpp[0].String(), "localhost", "bob", bobPW, xmpptest.Options{Pool: pool})
	bob.SendRaw(`<presence/>`)
	bob.Expect("offline message", func(e *wire.Element) bool {
		return e.Local == "message" && e.ChildText("jabber:client", "body") == body2
	})
	// Deleting bob while he is online ends his stream and removes his
	// lines from the connection log.
	if code := te.runWith("", "user", "delete", "--dev", "--data-dir", dir, "bob"); code != exitOK {
		t.Fatalf("user delete bob = %d: %s", code, te.errOut)
	}
	bob.Expect("stream error", func(e *wire.Element) bool { return e.Local == "error" })
	bob.Close()
	if _, err := xmpptest.Dial(t, xmpp[1].String(), "localhost", "bob", bobPW, xmpptest.Options{Pool: pool, Direct: true}); err == nil {
		t.Error("deleted bob can still log in")
	}
	stop()
	for _, f := range mustGlob(t, filepath.Join(dir, logsDir, "conn-*.log")) {
		if data, _ := os.ReadFile(f); bytes.Contains(data, []byte(`"user":"bob"`)) {
			t.Errorf("%s still names bob after his deletion", f)
		}
	}

	// The connection log: exactly time, event, user (not on auth failures)
	// and the anonymised address.
	files, err := filepath.Glob(filepath.Join(dir, logsDir, "conn-*.log"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no connection log: %v", err)
	}
	events := map[string]int{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("connection log line %q: %v", line, err)
			}
			ev, _ := m["event"].(string)
			events[ev]++
			want := []string{"event", "ip_anon", "time", "user"}
			if ev == "auth-failure" {
				want = []string{"event", "ip_anon", "time"}
			}
			got := slices.Sorted(maps.Keys(m))
			if !slices.Equal(got, want) {
				t.Errorf("connection log line %s has fields %v, want %v", line, got, want)
			}
			if m["ip_anon"] != "127.0.0.0" {
				t.Errorf("connection log line %s: ip_anon = %v, want 127.0.0.0", line, m["ip_anon"])
			}
		}
	}
	if events["login"] < 1 || events["logout"] < 1 || events["auth-failure"] < 2 {
		t.Errorf("connection log events = %v, want alice's login and logout, two auth failures", events)
	}
	// Privacy: no log holds a body, a password or a full address.
	scanDir(t, filepath.Join(dir, logsDir), body1, body2, alicePW, bobPW, "127.0.0.1")
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil || len(m) == 0 {
		t.Fatalf("no files match %s: %v", pattern, err)
	}
	return m
}

func TestBackup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := t.TempDir()
	te := newTestEnv(t, "CHATBX_DOMAIN=example.org")
	if code := te.runWith("pw-frank\n", "user", "add", "--data-dir", dir, "frank"); code != exitOK {
		t.Fatalf("user add = %d: %s", code, te.errOut)
	}
	direct := filepath.Join(out, "direct.db")
	served := filepath.Join(out, "served.db")
	steps := []struct {
		args []string
		want int
	}{
		{[]string{"backup", "--data-dir", dir}, exitUsage},
		{[]string{"backup", "--data-dir", dir, direct}, exitOK},
		{[]string{"backup", "--data-dir", dir, direct}, exitError},                              // exists
		{[]string{"backup", "--data-dir", dir, filepath.Join(dir, "copy.db")}, exitError},       // inside the data dir
		{[]string{"backup", "--data-dir", dir, filepath.Join(out, "no", "such.db")}, exitError}, // no directory
	}
	for _, s := range steps {
		if got := te.runWith("", s.args...); got != s.want {
			t.Errorf("run(%q) = %d, want %d: %s", s.args, got, s.want, te.errOut)
		}
	}
	// The same through a running server.
	startTestServer(t, dir)
	if got := te.runWith("", "backup", "--data-dir", dir, served); got != exitOK {
		t.Fatalf("backup through the server = %d: %s", got, te.errOut)
	}
	for _, p := range []string{direct, served} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", p, fi.Mode().Perm())
		}
		db, err := store.Open(p, store.Options{})
		if err != nil {
			t.Fatalf("open backup %s: %v", p, err)
		}
		ok, err := db.UserExists(t.Context(), "frank")
		db.Close()
		if err != nil || !ok {
			t.Errorf("backup %s: frank exists = %v, %v", p, ok, err)
		}
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".chatbx-backup-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

type fakeResolver struct {
	srv   map[string][]*net.SRV
	hosts map[string][]string
}

func (f fakeResolver) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	s := f.srv["_"+service+"._"+proto+"."+name]
	if s == nil {
		return "", nil, errors.New("no such record")
	}
	return "", s, nil
}

func (f fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if a := f.hosts[host]; a != nil {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func TestDNSCheck(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.Sources{Flags: map[string]string{"domain": "example.org", "web.hosts": "example.org,www.example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	r := fakeResolver{
		srv: map[string][]*net.SRV{
			"_xmpp-client._tcp.example.org":  {{Target: "chat.example.org.", Port: 5222}},
			"_xmpps-client._tcp.example.org": {{Target: "chat.example.org.", Port: 443}},
		},
		hosts: map[string][]string{
			"chat.example.org": {"192.0.2.10", "2001:db8::10"},
			"example.org":      {"192.0.2.1"},
		},
	}
	var b bytes.Buffer
	writeDNSCheck(t.Context(), &b, &c, r)
	for _, want := range []string{
		"_xmpp-client._tcp.example.org: chat.example.org port 5222",
		"SRV port 443 differs from the listener's port 5223",
		"_xmpp-server._tcp.example.org: no SRV record",
		"_xmpps-server._tcp.example.org: no SRV record (clients fall back to example.org:5270)",
		"chat.example.org: 192.0.2.10, 2001:db8::10",
		"www.example.org has no address record",
		"conference.example.org has no address record", // group chats (muc.domain)
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("DNS check lacks %q:\n%s", want, b.String())
		}
	}
}

func TestCertCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The development certificate, as a stand-in for an operator's files.
	src, err := certs.New(certs.Config{Dev: true, DataDir: dir, Names: []string{"example.org"}}, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	src.Close()
	c, err := config.Load(config.Sources{Flags: map[string]string{
		"domain": "example.org", "web.hosts": "example.org,www.example.org",
		"tls.cert_file": filepath.Join(dir, certs.DevCertFile), "tls.key_file": filepath.Join(dir, certs.DevKeyFile),
	}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := writeCertCheck(&b, &c, time.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "does not cover www.example.org") || strings.Contains(b.String(), "does not cover example.org") ||
		!strings.Contains(b.String(), "does not cover conference.example.org") {
		t.Errorf("certificate check:\n%s", b.String())
	}
	b.Reset()
	if err := writeCertCheck(&b, &c, time.Now().Add(360*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "expires in") {
		t.Errorf("certificate check near expiry:\n%s", b.String())
	}
	// A missing file is an error naming the key.
	c.TLS.KeyFile = filepath.Join(dir, "missing.pem")
	if err := writeCertCheck(&b, &c, time.Now()); err == nil || !strings.Contains(err.Error(), "tls.cert_file") {
		t.Errorf("writeCertCheck with a missing key = %v", err)
	}
}

// TestS2SReach: check --dns reports whether the federation port answers.
func TestS2SReach(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.Sources{Flags: map[string]string{"domain": "example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	r := fakeResolver{
		srv:   map[string][]*net.SRV{"_xmpp-server._tcp.example.org": {{Target: "chat.example.org.", Port: 5269}}},
		hosts: map[string][]string{"chat.example.org": {"192.0.2.10", "192.0.2.11"}},
	}
	dial := func(_ context.Context, _, addr string) (net.Conn, error) {
		if addr == "192.0.2.10:5269" {
			a, b := net.Pipe()
			b.Close()
			return a, nil
		}
		return nil, errors.New("connection refused")
	}
	var b bytes.Buffer
	writeS2SReach(t.Context(), &b, &c, r, dial)
	for _, want := range []string{"federation port 192.0.2.10:5269 reachable", "federation port 192.0.2.11:5269 not reachable"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("reach check lacks %q:\n%s", want, b.String())
		}
	}
}
