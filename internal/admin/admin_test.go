package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// lockedBuffer is a log sink the server's goroutines may write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testHandlers() *Handlers {
	h := NewHandlers()
	h.Add("echo", func(ctx context.Context, req Request) (Response, error) {
		return Response{Output: strings.Join(req.Args, " ") + ":" + req.Flags["x"], Data: []byte{0, 1, 0xff}}, nil
	})
	h.Add("fail", func(ctx context.Context, req Request) (Response, error) {
		return Response{Output: "dropped"}, errors.New("it failed")
	})
	h.Add("panic", func(ctx context.Context, req Request) (Response, error) {
		panic("boom " + req.Secret["password"])
	})
	return h
}

// serve starts a server on a fresh socket until the test ends and returns
// its path; stop ends it (once) and returns Run's error.
func serve(t *testing.T, h *Handlers, log io.Writer) (s *Server, path string, stop func() error) {
	t.Helper()
	path = SocketPath(t.TempDir())
	s, err := Listen(path, h, zerolog.New(log))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stop = sync.OnceValue(func() error {
		cancel()
		return <-done
	})
	t.Cleanup(func() { stop() })
	return s, path, stop
}

func TestSocketPath(t *testing.T) {
	if got, want := SocketPath("/var/lib/chatbx"), "/var/lib/chatbx/admin.sock"; got != want {
		t.Errorf("SocketPath = %q, want %q", got, want)
	}
}

func TestRoundtrip(t *testing.T) {
	t.Parallel()
	var logBuf lockedBuffer
	h := testHandlers()
	s, path, stop := serve(t, h, &logBuf)
	if s.Handlers() != h {
		t.Error("Server.Handlers is not the set given to Listen")
	}

	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&fs.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want a socket with 0600", fi.Mode())
	}

	resp, err := Call(t.Context(), path, Request{Cmd: "echo", Args: []string{"a", "b"}, Flags: map[string]string{"x": "y"}, Secret: map[string]string{"password": "hunter2-marker"}})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.OK || resp.Output != "a b:y" || !bytes.Equal(resp.Data, []byte{0, 1, 0xff}) {
		t.Errorf("echo = %+v", resp)
	}
	tests := []struct {
		name, cmd, want string
	}{
		{"handler error", "fail", "it failed"},
		{"panic", "panic", "internal error"},
		{"unknown command", "nope", `unknown command "nope"`},
		{"empty command", "", `unknown command ""`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := Call(t.Context(), path, Request{Cmd: tc.cmd, Secret: map[string]string{"password": "hunter2-marker"}})
			if err == nil || err.Error() != tc.want {
				t.Errorf("Call(%q) = %v, want error %q", tc.cmd, err, tc.want)
			}
			if resp.OK || resp.Output != "" {
				t.Errorf("Call(%q) response = %+v, want no output", tc.cmd, resp)
			}
		})
	}
	// Another server cannot take over a live socket.
	if _, err := Listen(path, nil, zerolog.Nop()); err == nil {
		t.Error("second Listen on a live socket succeeded")
	}

	if err := stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left behind after Run: %v", err)
	}
	if _, err := Call(t.Context(), path, Request{Cmd: "echo"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Call after shutdown = %v, want ErrUnavailable", err)
	}
	// Privacy: secrets and arguments never reach the log.
	l := logBuf.String()
	if strings.Contains(l, "hunter2-marker") || strings.Contains(l, `"a b`) {
		t.Errorf("log holds request data: %s", l)
	}
	for _, want := range []string{`"cmd":"echo"`, `"admin command panicked"`} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %s: %s", want, l)
		}
	}
}

// TestRawLines: what the server answers to raw lines on one connection;
// a malformed line gets an answer and the connection keeps serving.
func TestRawLines(t *testing.T) {
	t.Parallel()
	_, path, _ := serve(t, testHandlers(), io.Discard)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	tests := []struct {
		line, want string
	}{
		{"{not json\n", `{"ok":false,"error":"malformed request"}`},
		{"null\n", `{"ok":false,"error":"malformed request"}`},
		{`{"cmd":"echo"} {"cmd":"echo"}` + "\n", `{"ok":false,"error":"malformed request"}`},
		{`{"cmd":"echo","args":["x"]}` + "\n", `{"ok":true,"output":"x:","data":"AAH/"}`},
		{`{"cmd":"nope"}` + "\n", `{"ok":false,"error":"unknown command \"nope\""}`},
	}
	for _, tc := range tests {
		io.WriteString(c, tc.line)
		got, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", tc.line, err)
		}
		if strings.TrimSpace(got) != tc.want {
			t.Errorf("%q answered %s, want %s", tc.line, got, tc.want)
		}
	}
}

// TestOversizedRequest: a line over MaxRequest is refused with a clear
// error, Call reports it, and the server keeps serving others.
func TestOversizedRequest(t *testing.T) {
	t.Parallel()
	var logBuf lockedBuffer
	_, path, _ := serve(t, testHandlers(), &logBuf)
	big := strings.Repeat("a", 2*MaxRequest)
	_, err := Call(t.Context(), path, Request{Cmd: "echo", Args: []string{big}})
	if err == nil || err.Error() != ErrTooLarge.Error() {
		t.Errorf("Call with a %d-byte argument = %v, want %v", len(big), err, ErrTooLarge)
	}
	// A raw client that never ends its line gets the same answer.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for i := 0; i < 64; i++ { // 4 MiB, more than MaxRequest
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil || resp.Error != ErrTooLarge.Error() {
		t.Errorf("endless line answered %+v, %v; want %v", resp, err, ErrTooLarge)
	}
	if _, err := Call(t.Context(), path, Request{Cmd: "echo"}); err != nil {
		t.Errorf("Call after an oversized request = %v", err)
	}
	if !strings.Contains(logBuf.String(), "admin request refused") {
		t.Errorf("log lacks the refusal: %s", logBuf.String())
	}
}

// TestMaxConns: connections beyond MaxConns are answered ErrBusy; a slot
// frees when a connection ends.
func TestMaxConns(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{}, MaxConns)
	h := NewHandlers()
	h.Add("hold", func(ctx context.Context, req Request) (Response, error) {
		started <- struct{}{}
		<-release
		return Response{}, nil
	})
	h.Add("echo", func(ctx context.Context, req Request) (Response, error) { return Response{}, nil })
	s, path, stop := serve(t, h, io.Discard)
	errs := make(chan error, MaxConns)
	for range MaxConns {
		go func() {
			_, err := Call(t.Context(), path, Request{Cmd: "hold"})
			errs <- err
		}()
	}
	for range MaxConns {
		<-started
	}
	if _, err := Call(t.Context(), path, Request{Cmd: "echo"}); err == nil || err.Error() != ErrBusy.Error() {
		t.Errorf("Call beyond MaxConns = %v, want %v", err, ErrBusy)
	}
	close(release)
	for range MaxConns {
		if err := <-errs; err != nil {
			t.Errorf("held Call = %v", err)
		}
	}
	// Run waits for the connections, and each gives its slot back first.
	if err := stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
	if n := len(s.slots); n != 0 {
		t.Errorf("%d slots taken after Run, want 0", n)
	}
}

// TestIdleTimeout: a connection that sends nothing is closed, and its
// slot is given back.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	path := SocketPath(t.TempDir())
	s, err := Listen(path, testHandlers(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s.idle = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection: Read = %d, %v; want EOF", n, err)
	}
}

// TestShutdownWithIdleClient: Run returns when ctx ends although a client
// holds a connection open without sending.
func TestShutdownWithIdleClient(t *testing.T) {
	t.Parallel()
	_, path, stop := serve(t, testHandlers(), io.Discard)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// One request proves the connection is being served.
	io.WriteString(c, `{"cmd":"echo"}`+"\n")
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
}

func TestStaleSocket(t *testing.T) {
	t.Parallel()
	path := SocketPath(t.TempDir())
	// A crashed server leaves its socket file behind.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := Call(t.Context(), path, Request{Cmd: "x"}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Call on a stale socket = %v, want ErrUnavailable", err)
	}
	s, err := Listen(path, nil, zerolog.Nop())
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket over a stale one: %v, %v; want mode 0600", fi, err)
	}
	s.Close()
	// A regular file in the way is not removed.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path, nil, zerolog.Nop()); err == nil {
		t.Error("Listen replaced a regular file")
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("regular file: %v", err)
	}
}

// TestServe: Serve listens and runs until ctx ends, removing the socket;
// it reports Listen's errors.
func TestServe(t *testing.T) {
	t.Parallel()
	path := SocketPath(t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Serve(ctx, path, testHandlers(), zerolog.Nop()); err != nil {
		t.Errorf("Serve = %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left behind after Serve: %v", err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Serve(t.Context(), path, testHandlers(), zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("Serve over a regular file = %v", err)
	}
}

func TestHandlers(t *testing.T) {
	t.Parallel()
	h := testHandlers()
	if got := strings.Join(h.Names(), ","); got != "echo,fail,panic" {
		t.Errorf("Names = %s", got)
	}
	if _, ok := h.Lookup("echo"); !ok {
		t.Error("Lookup(echo) found nothing")
	}
	var none *Handlers
	if _, ok := none.Lookup("echo"); ok || none.Names() != nil {
		t.Error("a nil *Handlers has commands")
	}
	if _, err := none.Run(t.Context(), Request{Cmd: "echo"}); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("nil Run = %v, want ErrUnknownCommand", err)
	}
	tests := []struct {
		name    string
		add     func(*Handlers)
		wantErr bool
	}{
		{"duplicate", func(h *Handlers) {
			h.Add("echo", func(context.Context, Request) (Response, error) { return Response{}, nil })
		}, true},
		{"empty name", func(h *Handlers) {
			h.Add("", func(context.Context, Request) (Response, error) { return Response{}, nil })
		}, true},
		{"nil handler", func(h *Handlers) { h.Add("x", nil) }, true},
		{"AddAll duplicate", func(h *Handlers) {
			h.AddAll(map[string]Handler{"new": func(context.Context, Request) (Response, error) { return Response{}, nil }, "fail": nil})
		}, true},
		{"new name", func(h *Handlers) {
			h.Add("new", func(context.Context, Request) (Response, error) { return Response{}, nil })
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if p := recover(); (p != nil) != tc.wantErr {
					t.Errorf("panic = %v, want panic %v", p, tc.wantErr)
				}
			}()
			tc.add(testHandlers())
		})
	}
}

func TestReadRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     Request
		err      error
	}{
		{"simple", `{"cmd":"user list"}` + "\n", Request{Cmd: "user list"}, nil},
		{"full", `{"cmd":"user add","args":["bob"],"flags":{"allow-reserved":"true"},"secret":{"password":"pw"}}` + "\n",
			Request{Cmd: "user add", Args: []string{"bob"}, Flags: map[string]string{"allow-reserved": "true"}, Secret: map[string]string{"password": "pw"}}, nil},
		{"no newline at the end", `{"cmd":"status"}`, Request{Cmd: "status"}, nil},
		{"spaces", " \t{\"cmd\":\"status\"} \r\n", Request{Cmd: "status"}, nil},
		{"unknown field ignored", `{"cmd":"status","x":1}` + "\n", Request{Cmd: "status"}, nil},
		{"empty input", "", Request{}, io.EOF},
		{"empty line", "\n", Request{}, ErrMalformed},
		{"null", "null\n", Request{}, ErrMalformed},
		{"array", "[]\n", Request{}, ErrMalformed},
		{"string", `"cmd"` + "\n", Request{}, ErrMalformed},
		{"wrong type", `{"cmd":1}` + "\n", Request{}, ErrMalformed},
		{"trailing data", `{"cmd":"a"}x` + "\n", Request{}, ErrMalformed},
		{"too large", `{"cmd":"` + strings.Repeat("a", MaxRequest) + `"}` + "\n", Request{}, ErrTooLarge},
		{"just fits", `{"cmd":"` + strings.Repeat("a", MaxRequest-11) + `"}` + "\n", Request{Cmd: strings.Repeat("a", MaxRequest-11)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadRequest(bufio.NewReader(strings.NewReader(tc.in)))
			if !errors.Is(err, tc.err) {
				t.Fatalf("ReadRequest(%.40q) error = %v, want %v", tc.in, err, tc.err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tc.want)
			if !bytes.Equal(g, w) {
				t.Errorf("ReadRequest(%.40q) = %.80s, want %.80s", tc.in, g, w)
			}
		})
	}
}

// FuzzRequest: the request decoder never panics, never returns more than
// it read, and what it accepts survives an encode/decode round trip.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		`{"cmd":"user add","args":["bob"],"flags":{"allow-reserved":"true"},"secret":{"password":"pw"}}` + "\n",
		`{"cmd":"status"}`,
		`{"cmd":"a"}` + "\n" + `{"cmd":"b"}` + "\n",
		"{not json\n",
		"null\n",
		`{"cmd":"\ud800","args":null,"flags":{}}`,
		`{"CMD":"x","Args":["1"]}`,
		"\xff{\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		req, err := ReadRequest(bufio.NewReader(bytes.NewReader(in)))
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, io.EOF) {
				t.Fatalf("ReadRequest(%q) = %v: not a documented error", in, err)
			}
			return
		}
		enc1, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", req, err)
		}
		again, err := DecodeRequest(enc1)
		if err != nil {
			t.Fatalf("DecodeRequest(%s) = %v after ReadRequest(%q) accepted it", enc1, err, in)
		}
		enc2, _ := json.Marshal(again)
		if !bytes.Equal(enc1, enc2) {
			t.Errorf("round trip of %q: %s then %s", in, enc1, enc2)
		}
	})
}
