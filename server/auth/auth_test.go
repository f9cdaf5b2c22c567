package auth

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"mellium.im/sasl"

	"chatbx/store"
)

type memCreds map[string]store.Credentials

func (m memCreds) Credentials(_ context.Context, u string) (store.Credentials, error) {
	c, ok := m[u]
	if !ok {
		return store.Credentials{}, store.ErrNotFound
	}
	return c, nil
}

func newServer(t testing.TB, plus bool) *Server {
	t.Helper()
	c, err := store.DeriveCredentials("pencil", 4096)
	if err != nil {
		t.Fatal(err)
	}
	return New(memCreds{"user": c}, "example.org", plus)
}

// run drives a mellium client mechanism against the server.
func run(t *testing.T, s *Server, m sasl.Mechanism, cs *tls.ConnectionState, user, pass string, opts ...sasl.Option) (string, error) {
	t.Helper()
	opts = append(opts, sasl.Credentials(func() ([]byte, []byte, []byte) { return []byte(user), []byte(pass), nil }))
	if cs != nil {
		opts = append(opts, sasl.TLSState(*cs))
	}
	c := sasl.NewClient(m, opts...)
	x, err := s.Start(m.Name, cs)
	if err != nil {
		return "", err
	}
	_, resp, err := c.Step(nil)
	if err != nil {
		t.Fatalf("client first step: %v", err)
	}
	for {
		out, done, err := x.Step(context.Background(), resp)
		if err != nil {
			return "", err
		}
		if done && m.Name == Plain {
			return x.User(), nil
		}
		_, resp, err = c.Step(out)
		if err != nil {
			return "", errors.New("client rejected server: " + err.Error())
		}
		if done {
			return x.User(), nil
		}
	}
}

func TestMechanisms(t *testing.T) {
	tls12 := &tls.ConnectionState{Version: tls.VersionTLS12}
	s := newServer(t, false)
	tests := []struct {
		name       string
		mech       sasl.Mechanism
		user, pass string
		want       error
	}{
		{"sha256", sasl.ScramSha256, "user", "pencil", nil},
		{"sha1", sasl.ScramSha1, "user", "pencil", nil},
		{"plain", sasl.Plain, "user", "pencil", nil},
		{"case mapped", sasl.ScramSha256, "USER", "pencil", nil},
		{"sha256 wrong", sasl.ScramSha256, "user", "pen", ErrNotAuthorized},
		{"sha1 unknown", sasl.ScramSha1, "nobody", "pencil", ErrNotAuthorized},
		{"plain wrong", sasl.Plain, "user", "x", ErrNotAuthorized},
		{"plain unknown", sasl.Plain, "nobody", "x", ErrNotAuthorized},
		{"plus not offered", sasl.ScramSha256Plus, "user", "pencil", ErrInvalidMechanism},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := run(t, s, tc.mech, tls12, tc.user, tc.pass)
			if !errors.Is(err, tc.want) {
				t.Fatalf("login(%s, %s) = %v, want %v", tc.mech.Name, tc.user, err, tc.want)
			}
			if err == nil && u != "user" {
				t.Errorf("User() = %q", u)
			}
		})
	}
	if m := s.Mechanisms(nil); m != nil {
		t.Errorf("Mechanisms(no TLS) = %v, want none", m)
	}
}

func TestPlus(t *testing.T) {
	cs := tls13State(t)
	s := newServer(t, true)
	for _, m := range []sasl.Mechanism{sasl.ScramSha256Plus, sasl.ScramSha1Plus} {
		if u, err := run(t, s, m, cs, "user", "pencil", sasl.RemoteMechanisms(s.Mechanisms(cs)...)); err != nil || u != "user" {
			t.Errorf("%s = %q, %v", m.Name, u, err)
		}
	}
	// A client that saw PLUS offered but claims "y" is a downgrade.
	x, _ := s.Start(ScramSHA256, cs)
	if _, _, err := x.Step(context.Background(), []byte("y,,n=user,r=abc")); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("downgrade = %v, want ErrNotAuthorized", err)
	}
	x, _ = s.Start(ScramSHA256Plus, cs)
	if _, _, err := x.Step(context.Background(), []byte("p=tls-unique,,n=user,r=abc")); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("tls-unique = %v, want ErrNotAuthorized", err)
	}
}

func FuzzSCRAM(f *testing.F) {
	f.Add([]byte("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), []byte("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="))
	f.Add([]byte("y,a=user,n=us=2Cer,r=x"), []byte("c=eSws,r=x,p=AAAA"))
	f.Add([]byte("\x00user\x00pencil"), []byte(""))
	s := newServer(f, false)
	cs := &tls.ConnectionState{Version: tls.VersionTLS12}
	f.Fuzz(func(t *testing.T, first, final []byte) {
		for _, m := range []string{ScramSHA256, ScramSHA1, Plain} {
			x, err := s.Start(m, cs)
			if err != nil {
				t.Fatal(err)
			}
			if _, done, err := x.Step(context.Background(), first); err == nil && !done {
				x.Step(context.Background(), final)
			}
		}
	})
}

func BenchmarkSCRAMLogin(b *testing.B) {
	s := newServer(b, false)
	cs := &tls.ConnectionState{Version: tls.VersionTLS12}
	// The client side computes its SaltedPassword once, like a real client
	// with a key cache: the benchmark measures the server's work.
	var salted []byte
	b.ReportAllocs()
	for b.Loop() {
		x, _ := s.Start(ScramSHA256, cs)
		first := "n=user,r=clientnonce"
		out, _, err := x.Step(context.Background(), []byte("n,,"+first))
		if err != nil {
			b.Fatal(err)
		}
		// server-first is "r=…,s=…,i=…" and, since XEP-0474, ",h=…".
		parts := strings.Split(string(out), ",")
		nonce, salt := parts[0][2:], parts[1][2:]
		rounds, _ := strconv.Atoi(parts[2][2:])
		if salted == nil {
			raw, _ := base64.StdEncoding.DecodeString(salt)
			salted, _ = pbkdf2.Key(sha256.New, "pencil", raw, rounds, sha256.Size)
		}
		final := "c=biws,r=" + nonce
		auth := first + "," + string(out) + "," + final
		mac := hmac.New(sha256.New, salted)
		mac.Write([]byte("Client Key"))
		clientKey := mac.Sum(nil)
		stored := sha256.Sum256(clientKey)
		mac = hmac.New(sha256.New, stored[:])
		mac.Write([]byte(auth))
		proof := mac.Sum(nil)
		for i := range proof {
			proof[i] ^= clientKey[i]
		}
		if _, done, err := x.Step(context.Background(), []byte(final+",p="+base64.StdEncoding.EncodeToString(proof))); err != nil || !done {
			b.Fatal(err)
		}
	}
}
