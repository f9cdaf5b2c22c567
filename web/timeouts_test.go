package web_test

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chatbx/store"
	"chatbx/store/storetest"
	"chatbx/web"
	"chatbx/web/upload"
)

// limitsServer serves w's Handler over TLS on loopback through
// w.Server and w.Listener, as main does. closed receives an event each
// time the server has closed a connection (and released its place).
func limitsServer(t *testing.T, w *web.Web) (ts *httptest.Server, closed <-chan struct{}) {
	t.Helper()
	ts = httptest.NewUnstartedServer(nil)
	ts.Listener = w.Listener(ts.Listener)
	ts.Config = w.Server(w.Handler())
	ch := make(chan struct{}, 64)
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	if !strings.HasPrefix(ts.URL, "https://127.0.0.1:") {
		t.Fatalf("test server at %s, want loopback", ts.URL)
	}
	return ts, ch
}

// dialTLS opens a TLS connection to ts from local (nil: any address).
func dialTLS(ts *httptest.Server, local net.Addr) (*tls.Conn, error) {
	cfg := ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	d := &net.Dialer{LocalAddr: local, Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", ts.Listener.Addr().String(), cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// readStatus reads the status line of a response from c, or returns the
// error that ended the connection.
func readStatus(c net.Conn) (int, error) {
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

// trickle writes body to c in chunks of size n with pause between them,
// until it is written or a write fails; it returns the bytes written.
func trickle(c net.Conn, body []byte, n int, pause time.Duration, stop <-chan struct{}) int {
	sent := 0
	for sent < len(body) {
		end := min(sent+n, len(body))
		c.SetWriteDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write(body[sent:end]); err != nil {
			return sent
		}
		sent = end
		if sent == len(body) {
			break
		}
		select { // a slow client necessarily pauses between writes
		case <-stop:
			return sent
		case <-time.After(pause):
		}
	}
	return sent
}

// TestSlowBodyCutOff: a client that sends a request body slowly but
// steadily is cut off after BodyTimeout, not when it pleases.
// Fails on main before this change (there was no body deadline).
func TestSlowBodyCutOff(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.BodyTimeout = 300 * time.Millisecond
	w, _ := newWeb(t, cfg)
	read := make(chan error, 1)
	w.Mount("POST /form", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		read <- err
		if err != nil {
			http.Error(rw, "slow", http.StatusRequestTimeout)
			return
		}
		rw.WriteHeader(http.StatusNoContent)
	}))
	ts, _ := limitsServer(t, w)

	// 1 byte every 20 ms: 2,000 bytes would take 40 s.
	body := []byte(strings.Repeat("x", 2000))
	c, err := dialTLS(ts, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The server's body deadline starts once it has read the header, so
	// after this: the cut-off is at least BodyTimeout from here.
	start := time.Now()
	if _, err := fmt.Fprintf(c, "POST /form HTTP/1.1\r\nHost: xmpp.test\r\nContent-Length: %d\r\n\r\n", len(body)); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	sent := make(chan int, 1)
	go func() { sent <- trickle(c, body, 1, 20*time.Millisecond, stop) }()
	defer close(stop)
	select {
	case err := <-read:
		if err == nil {
			t.Fatal("the handler read the whole slow body")
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("body read ended with %v, want a timeout", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("slow body not cut off after 20 s")
	}
	if d := time.Since(start); d < cfg.BodyTimeout || d > 15*time.Second {
		t.Errorf("cut off after %v, want about %v", d, cfg.BodyTimeout)
	}
	// The connection ends: an answer or a closed connection, no hang.
	if code, err := readStatus(c); err == nil && code < 400 {
		t.Errorf("slow body answered %d", code)
	}
}

// TestBodyDeadlineLifted: a body that arrives in time ends its deadline,
// so a response that takes longer than BodyTimeout to produce is not cut.
func TestBodyDeadlineLifted(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.BodyTimeout = 300 * time.Millisecond
	w, _ := newWeb(t, cfg)
	release := make(chan struct{})
	w.Mount("POST /slow-answer", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(rw, "body", http.StatusBadRequest)
			return
		}
		select {
		case <-release:
		case <-r.Context().Done(): // a deadline left behind would end it
			http.Error(rw, "cancelled", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(rw, "done")
	}))
	ts, _ := limitsServer(t, w)
	go func() {
		// Longer than the body timeout; not a synchronisation wait.
		time.Sleep(3 * cfg.BodyTimeout)
		close(release)
	}()
	res, err := ts.Client().Post(ts.URL+"/slow-answer", "text/plain", strings.NewReader("small"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if b, _ := io.ReadAll(res.Body); res.StatusCode != 200 || string(b) != "done" {
		t.Errorf("answer = %d %q, want 200 done", res.StatusCode, b)
	}
}

// uploadSite mounts web/upload on a site with a 300 ms body timeout and
// returns a function that records a slot of size bytes and returns its
// PUT path.
func uploadSite(t *testing.T, idle time.Duration) (*httptest.Server, *store.DB, func(size int64) (id, path string)) {
	t.Helper()
	cfg := testConfig()
	cfg.BodyTimeout = 300 * time.Millisecond
	w, _ := newWeb(t, cfg)
	ts, _ := limitsServer(t, w)
	data := t.TempDir()
	db := storetest.OpenPath(t, filepath.Join(data, "chatbx.db"))
	user := storetest.User(t, db, "alice")
	up, err := upload.New(upload.Config{Dir: filepath.Join(data, "uploads"), BaseURL: ts.URL + "/upload/", IdleTimeout: idle}, db)
	if err != nil {
		t.Fatal(err)
	}
	w.Mount(up.Pattern(), up)
	n := 0
	return ts, db, func(size int64) (string, string) {
		n++
		id := fmt.Sprintf("cd%030d", n)
		secret := "secret-" + id
		hash := sha256.Sum256([]byte(secret))
		now := time.Now()
		if err := db.PutUpload(t.Context(), user, store.Upload{
			ID: id, Name: "f.bin", Size: size, Created: now, Expires: now.Add(time.Hour),
			PutBy: now.Add(time.Hour), PutHash: hash[:],
		}, store.UploadLimits{}); err != nil {
			t.Fatal(err)
		}
		return id, "/upload/" + id + "/f.bin?s=" + secret
	}
}

// TestUploadProgressDeadline: an upload that keeps making progress may
// take longer than the site's body timeout (and longer than its own idle
// timeout in total); one that stalls is cut off after the idle timeout.
func TestUploadProgressDeadline(t *testing.T) {
	t.Parallel()
	const idle = time.Second
	ts, db, slot := uploadSite(t, idle)

	t.Run("steady", func(t *testing.T) {
		t.Parallel()
		// 20 chunks, 100 ms apart: 2 s in all, against a 300 ms body
		// timeout and a 1 s idle timeout.
		body := []byte(strings.Repeat("0123456789", 20))
		id, path := slot(int64(len(body)))
		c, err := dialTLS(ts, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: xmpp.test\r\nContent-Length: %d\r\n\r\n", path, len(body))
		start := time.Now()
		if n := trickle(c, body, 10, 100*time.Millisecond, nil); n != len(body) {
			t.Fatalf("wrote %d of %d bytes", n, len(body))
		}
		code, err := readStatus(c)
		if err != nil || code != http.StatusCreated {
			t.Fatalf("steady upload = %d, %v; want 201", code, err)
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("upload took %v; the test wants it slower than the timeouts", d)
		}
		if u, err := db.Upload(t.Context(), id); err != nil || !u.Complete {
			t.Errorf("upload record = %+v, %v; want complete", u, err)
		}
	})

	t.Run("stalled", func(t *testing.T) {
		t.Parallel()
		id, path := slot(100)
		c, err := dialTLS(ts, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: xmpp.test\r\nContent-Length: 100\r\n\r\n0123456789", path)
		start := time.Now()
		code, err := readStatus(c)
		if err == nil && code < 400 {
			t.Fatalf("stalled upload answered %d", code)
		}
		if d := time.Since(start); d < idle-100*time.Millisecond || d > 15*time.Second {
			t.Errorf("stalled upload ended after %v, want about %v", d, idle)
		}
		if u, err := db.Upload(t.Context(), id); err != nil || u.Complete {
			t.Errorf("stalled upload record = %+v, %v; want incomplete", u, err)
		}
	})
}

// TestConnectionLimits: connections beyond MaxConnections, or beyond
// PerIPConnections from one address, are closed at accept; a closed
// connection frees its place; another address is not affected by one
// address's limit. Fails on main before this change (no limit).
func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	other := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}
	for _, tc := range []struct {
		name       string
		max, perIP int
		otherIn    bool // a connection from 127.0.0.2 is let in
	}{
		{"total", 2, 64, false},
		{"per address", 64, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig()
			cfg.MaxConnections, cfg.PerIPConnections = tc.max, tc.perIP
			w, _ := newWeb(t, cfg)
			ts, closed := limitsServer(t, w)
			var held []*tls.Conn
			for range 2 {
				c, err := dialTLS(ts, nil)
				if err != nil {
					t.Fatalf("connection within the limit: %v", err)
				}
				held = append(held, c)
				// A request, so that the header timeout does not end it.
				if res, err := get2(c); err != nil || res != 200 {
					t.Fatalf("request on a held connection = %d, %v", res, err)
				}
			}
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			if c, err := dialTLS(ts, nil); err == nil {
				c.Close()
				t.Fatal("third connection from 127.0.0.1 was let in")
			}
			// (A refused connection never reaches the server: no event.)
			c, err := dialTLS(ts, other)
			if tc.otherIn != (err == nil) {
				t.Errorf("connection from 127.0.0.2: %v, want let in = %v", err, tc.otherIn)
			}
			if err == nil {
				if res, err := get2(c); err != nil || res != 200 {
					t.Errorf("request from 127.0.0.2 = %d, %v", res, err)
				}
				c.Close()
				<-closed
			}
			// A held connection works, and once closed frees its place.
			if res, err := get2(held[0]); err != nil || res != 200 {
				t.Errorf("request on a held connection = %d, %v", res, err)
			}
			held[0].Close()
			held = held[1:]
			select {
			case <-closed:
			case <-time.After(20 * time.Second):
				t.Fatal("the server did not close the released connection")
			}
			c, err = dialTLS(ts, nil)
			if err != nil {
				t.Fatalf("connection after one was released: %v", err)
			}
			held = append(held, c)
			if res, err := get2(c); err != nil || res != 200 {
				t.Errorf("request on the new connection = %d, %v", res, err)
			}
		})
	}
}

// get2 sends GET / on c and returns the status.
func get2(c net.Conn) (int, error) {
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: xmpp.test\r\n\r\n"); err != nil {
		return 0, err
	}
	return readStatus(c)
}

// TestWriteTimeout: a response the client stops reading ends after
// WriteTimeout; one the client reads slowly but steadily goes out in full
// however long it takes. Fails on main before this change (no write
// deadline: the stalled response blocked its handler for ever).
func TestWriteTimeout(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.WriteTimeout = time.Second
	w, _ := newWeb(t, cfg)
	const size = 32 << 20 // more than any loopback socket buffers hold
	chunk := make([]byte, 32<<10)
	done := make(chan error, 2)
	w.Mount("GET /big", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Length", fmt.Sprint(size))
		for n := 0; n < size; n += len(chunk) {
			if _, err := rw.Write(chunk); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}))
	ts, _ := limitsServer(t, w)

	t.Run("stalled", func(t *testing.T) {
		c, err := dialTLS(ts, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /big HTTP/1.1\r\nHost: xmpp.test\r\n\r\n")
		start := time.Now()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("the whole response went out to a client that reads nothing")
			}
		case <-time.After(30 * time.Second):
			t.Fatal("stalled response still blocked after 30 s")
		}
		if d := time.Since(start); d < cfg.WriteTimeout {
			t.Errorf("ended after %v, before the write timeout", d)
		}
	})
	t.Run("steady", func(t *testing.T) {
		c, err := dialTLS(ts, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET /big HTTP/1.1\r\nHost: xmpp.test\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(2 * time.Minute))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		// 1 MiB every 50 ms: 32 MiB take 1.6 s, longer than the timeout.
		start := time.Now()
		var got int64
		for {
			n, err := io.CopyN(io.Discard, res.Body, 1<<20)
			got += n
			if err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond) // a slow reader pauses
		}
		if got != size {
			t.Errorf("read %d of %d bytes", got, size)
		}
		if err := <-done; err != nil {
			t.Errorf("steady response ended with %v", err)
		}
		if d := time.Since(start); d < cfg.WriteTimeout {
			t.Logf("response took %v; the test wants it slower than the timeout", d)
		}
	})
}
