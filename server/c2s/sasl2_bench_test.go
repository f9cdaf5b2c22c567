package c2s

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/server/auth"
	"chatbx/server/wire"
	"chatbx/store"
	"chatbx/store/storetest"
)

// Server CPU of one SASL2 login, TLS excluded (the handshake costs the
// same for both and is measured by BenchmarkLogin in package server):
// SCRAM-SHA-256 (two round trips; the server reads the verifiers and
// computes the proof check and its signature) against a FAST token
// (HT-SHA-256-NONE: one message; the server reads the token record and
// computes two HMACs). The client's side is scripted with precomputed
// keys, so its share of the time is a few HMACs. Figures in
// docs/PERFORMANCE.md.

// scriptTransport answers the server's SASL2 challenges with respond.
type scriptTransport struct {
	fuzzTransport
	respond func(challenge []byte) string
}

func (t *scriptTransport) WriteRaw(p []byte) error {
	el, err := wire.Parse(p)
	if err != nil || el.Local != "challenge" || t.respond == nil {
		return nil
	}
	ch, _ := base64.StdEncoding.DecodeString(el.Text())
	r, _ := wire.Parse([]byte(`<response xmlns='urn:xmpp:sasl:2'>` + t.respond(ch) + `</response>`))
	t.els = append(t.els, r)
	return nil
}

func benchServer(b *testing.B) (*Server, *store.DB) {
	db := storetest.Open(b)
	c, err := store.DeriveCredentials("bench-secret", store.MinIterations)
	if err != nil {
		b.Fatal(err)
	}
	if err := db.CreateUser(context.Background(), "alice", c); err != nil {
		b.Fatal(err)
	}
	return New(Config{Domain: "bench.test", AuthFailBurst: 1 << 30}, Deps{DB: db, Log: zerolog.Nop(), ConnLog: zerolog.Nop()}), db
}

func parseEl(b *testing.B, s string) *wire.Element {
	el, err := wire.Parse([]byte(s))
	if err != nil {
		b.Fatal(err)
	}
	return el
}

func BenchmarkSASL2SCRAMLogin(b *testing.B) {
	s, db := benchServer(b)
	creds, err := db.Credentials(context.Background(), "alice")
	if err != nil {
		b.Fatal(err)
	}
	salted, err := pbkdf2.Key(sha256.New, "bench-secret", creds.SHA256.Salt, creds.SHA256.Iterations, sha256.Size)
	if err != nil {
		b.Fatal(err)
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	const firstBare = "n=alice,r=benchnonce"
	auth := parseEl(b, `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>`+
		base64.StdEncoding.EncodeToString([]byte("n,,"+firstBare))+`</initial-response></authenticate>`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tr := &scriptTransport{respond: func(ch []byte) string {
			serverFirst := string(ch)
			nonce, _, _ := strings.Cut(strings.TrimPrefix(serverFirst, "r="), ",")
			final := "c=biws,r=" + nonce
			sig := mac(storedKey[:], firstBare+","+serverFirst+","+final)
			for i := range sig {
				sig[i] ^= clientKey[i]
			}
			return base64.StdEncoding.EncodeToString([]byte(final + ",p=" + base64.StdEncoding.EncodeToString(sig)))
		}}
		ss := s.newSession(tr)
		if _, err := ss.authenticate2(ctx, auth); err != nil || ss.user != "alice" {
			b.Fatalf("SCRAM login: %v", err)
		}
	}
}

func BenchmarkFASTLogin(b *testing.B) {
	s, db := benchServer(b)
	const token = "bench-token-0123456789-0123456789-0123456789-0123456789-0123456789-0123456789-01"
	err := db.UpdateFast(context.Background(), "alice", fastDevice("bench-device"), 0, time.Now(), func(r *store.FastRecord, _ bool) (bool, error) {
		r.Current = store.FastSlot{Hash: auth.TokenHash(token), Mech: auth.HTNone, Expiry: time.Now().Add(14 * 24 * time.Hour)}
		return true, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("Initiator"))
	ir := base64.StdEncoding.EncodeToString(append([]byte("alice\x00"), m.Sum(nil)...))
	el := parseEl(b, `<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>`+ir+
		`</initial-response><user-agent id='bench-device'/><fast xmlns='urn:xmpp:fast:0'/></authenticate>`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ss := s.newSession(&scriptTransport{})
		if _, err := ss.authenticate2(ctx, el); err != nil || ss.user != "alice" {
			b.Fatalf("FAST login: %v", err)
		}
	}
}
