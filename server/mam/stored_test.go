package mam_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"chatbx/server/mam"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStoredMalformed: archived records an older version stored that are
// not well-formed are skipped when read, both by a query and by the
// export, and counted in the log without their content; the messages
// around them are returned. Fails on main before this change (the record
// was logged with the parser's error, and the export copied it verbatim).
func TestStoredMalformed(t *testing.T) {
	log := &lockedBuf{}
	e := newEnv(t, mam.Config{Default: "always", Log: zerolog.New(log)})
	ctx := t.Context()
	e.chat(t, "bob", "alice", "before")
	prefs, err := e.db.ArchivePrefs(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{
		`<message xmlns='jabber:client'><body>poison-marker</message>`,
		"<message xmlns='jabber:client'><body>poison-marker \xff</body></message>",
	} {
		if _, err := e.db.AppendArchive(ctx, "alice", prefs.Gen, e.now.Add(1), "bob@example.org", false, []byte(raw)); err != nil {
			t.Fatal(err)
		}
	}
	e.now = e.now.Add(10)
	e.chat(t, "bob", "alice", "after")

	msgs, r := e.ask(t, "alice", query("", ""))
	if got := bodies(t, msgs, "f27"); !slices.Equal(got, []string{"before", "after"}) {
		t.Errorf("query returned %q, want before and after", got)
	}
	fin(t, r)
	if l := log.String(); !strings.Contains(l, "skipped malformed archived messages") || !strings.Contains(l, `"count":2`) || strings.Contains(l, "poison-marker") {
		t.Errorf("log = %s, want a count of 2 and no content", l)
	}

	var out bytes.Buffer
	if err := e.a.ExportArchive(ctx, "alice", &out); err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Messages []struct{ Body, Stanza string }
	}
	if err := json.Unmarshal(out.Bytes(), &exp); err != nil {
		t.Fatal(err)
	}
	if len(exp.Messages) != 2 || strings.Contains(out.String(), "poison-marker") {
		t.Errorf("export = %s, want the two well-formed messages only", out.String())
	}
}
