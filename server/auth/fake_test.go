package auth

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"mellium.im/sasl"

	"chatbx/store"
)

// serverFirst runs the client-first step of mech for user and returns the
// server-first message's salt and iteration count, failing on any other
// shape than r=<nonce>,s=<salt>,i=<count>.
func serverFirst(t *testing.T, s *Server, mech, user string) (salt []byte, iter int) {
	t.Helper()
	x, err := s.Start(mech, tlsState())
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := x.Step(context.Background(), []byte("n,,n="+user+",r=clientnonce"))
	if err != nil {
		t.Fatalf("%s %s: %v", mech, user, err)
	}
	f := strings.Split(string(out), ",")
	// r, s, i and XEP-0474's h.
	if len(f) != 4 || !strings.HasPrefix(f[0], "r=clientnonce") || !strings.HasPrefix(f[1], "s=") || !strings.HasPrefix(f[2], "i=") || !strings.HasPrefix(f[3], "h=") {
		t.Fatalf("%s %s: server-first %q", mech, user, out)
	}
	salt, err = base64.StdEncoding.DecodeString(f[1][2:])
	if err != nil {
		t.Fatal(err)
	}
	iter, err = strconv.Atoi(f[2][2:])
	if err != nil {
		t.Fatal(err)
	}
	return salt, iter
}

// TestUnknownUserLooksReal checks that an unknown user's SCRAM challenge
// has the shape of a real one: a salt per mechanism (they were equal
// before: fails on main before this change), of a real salt's length, the
// iteration count of new accounts, stable across a restart and different
// for another name.
func TestUnknownUserLooksReal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chatbx.db")
	db, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := store.DeriveCredentials("pencil", store.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateUser(context.Background(), "user", c); err != nil {
		t.Fatal(err)
	}
	s := New(db, "example.org", false)
	type first struct {
		salt []byte
		iter int
	}
	got := map[string]first{}
	for _, mech := range []string{ScramSHA1, ScramSHA256} {
		for _, u := range []string{"user", "nobody", "nobody2"} {
			salt, iter := serverFirst(t, s, mech, u)
			got[mech+" "+u] = first{salt, iter}
		}
	}
	for _, mech := range []string{ScramSHA1, ScramSHA256} {
		real := got[mech+" user"]
		for _, u := range []string{"nobody", "nobody2"} {
			f := got[mech+" "+u]
			if len(f.salt) != len(real.salt) || f.iter != real.iter {
				t.Errorf("%s %s: salt of %d bytes, %d iterations; a real user has %d bytes, %d", mech, u, len(f.salt), f.iter, len(real.salt), real.iter)
			}
		}
		if string(got[mech+" nobody"].salt) == string(got[mech+" nobody2"].salt) {
			t.Errorf("%s: two unknown users share a salt", mech)
		}
	}
	if string(got[ScramSHA1+" nobody"].salt) == string(got[ScramSHA256+" nobody"].salt) {
		t.Error("an unknown user has one salt for both mechanisms; real users have one each")
	}
	// Real users' salts differ per mechanism too (the tell being removed).
	if string(got[ScramSHA1+" user"].salt) == string(got[ScramSHA256+" user"].salt) {
		t.Error("real user's salts equal")
	}

	// A restart (reopened store) gives the same fake salts.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s = New(db, "example.org", false)
	for _, mech := range []string{ScramSHA1, ScramSHA256} {
		salt, _ := serverFirst(t, s, mech, "nobody")
		if string(salt) != string(got[mech+" nobody"].salt) {
			t.Errorf("%s: unknown user's salt changed across a restart", mech)
		}
	}
}

func TestFakeCredentialsShape(t *testing.T) {
	real, err := store.DeriveCredentials("pencil", FakeIterations)
	if err != nil {
		t.Fatal(err)
	}
	fake := New(memCreds{}, "example.org", false).fakeCredentials("nobody")
	for _, k := range []struct {
		name       string
		real, fake store.SCRAMKeys
	}{{"SHA-1", real.SHA1, fake.SHA1}, {"SHA-256", real.SHA256, fake.SHA256}} {
		if len(k.fake.Salt) != len(k.real.Salt) || len(k.fake.StoredKey) != len(k.real.StoredKey) ||
			len(k.fake.ServerKey) != len(k.real.ServerKey) || k.fake.Iterations != k.real.Iterations {
			t.Errorf("%s: fake %d/%d/%d/%d, real %d/%d/%d/%d (salt/stored/server/iterations)", k.name,
				len(k.fake.Salt), len(k.fake.StoredKey), len(k.fake.ServerKey), k.fake.Iterations,
				len(k.real.Salt), len(k.real.StoredKey), len(k.real.ServerKey), k.real.Iterations)
		}
	}
}

// TestGate checks that the gate is consulted before the verdict, that a
// closed gate fails with temporary-auth-failure without the password
// being looked at, and that the verdict is reported.
func TestGate(t *testing.T) {
	s := newServer(t, false)
	tests := []struct {
		name       string
		mech       sasl.Mechanism
		user, pass string
		open       bool
		want       error
		verdict    string // "" (done not called), "ok", "fail"
	}{
		{"scram right", sasl.ScramSha256, "user", "pencil", true, nil, "ok"},
		{"scram wrong", sasl.ScramSha256, "user", "nope", true, ErrNotAuthorized, "fail"},
		{"scram unknown", sasl.ScramSha1, "nobody", "nope", true, ErrNotAuthorized, "fail"},
		{"scram closed, right password", sasl.ScramSha256, "user", "pencil", false, ErrTemporary, ""},
		{"plain right", sasl.Plain, "user", "pencil", true, nil, "ok"},
		{"plain wrong", sasl.Plain, "user", "nope", true, ErrNotAuthorized, "fail"},
		{"plain closed, right password", sasl.Plain, "user", "pencil", false, ErrTemporary, ""},
	}
	tls13 := tlsState()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			verdict := ""
			gate := func(user string) (func(bool), bool) {
				asked = append(asked, user)
				return func(ok bool) {
					if verdict != "" {
						t.Error("done called twice")
					}
					verdict = map[bool]string{true: "ok", false: "fail"}[ok]
				}, tc.open
			}
			_, err := runGated(t, s, tc.mech, tls13, tc.user, tc.pass, gate)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if len(asked) != 1 || asked[0] != tc.user {
				t.Errorf("gate asked for %q, want [%s]", asked, tc.user)
			}
			if !tc.open {
				verdict = "" // done of a closed gate is never needed
			}
			if verdict != tc.verdict {
				t.Errorf("verdict %q, want %q", verdict, tc.verdict)
			}
		})
	}
}

func tlsState() *tls.ConnectionState { return &tls.ConnectionState{Version: tls.VersionTLS12} }

// runGated is run with a gate on the exchange.
func runGated(t *testing.T, s *Server, m sasl.Mechanism, cs *tls.ConnectionState, user, pass string, gate Gate) (string, error) {
	t.Helper()
	c := sasl.NewClient(m, sasl.Credentials(func() ([]byte, []byte, []byte) { return []byte(user), []byte(pass), nil }))
	x, err := s.Start(m.Name, cs)
	if err != nil {
		return "", err
	}
	x.Gate = gate
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
