package mam_test

import (
	"bytes"
	"chatbx/internal/heappeak"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"chatbx/server/mam"
	"chatbx/store"
	"chatbx/store/storetest"
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

// TestExportLargeArchive: exporting a 50 MB archive reads it in pages: the
// heap grows by far less than the archive, and the JSON is complete.
// Fails on main before this change (pages of 1000 messages of 25 KB held
// about 25 MB at a time, plus their copies).
func TestExportLargeArchive(t *testing.T) {
	const (
		n    = 2000
		body = 25_000
	)
	db := storetest.OpenLimits(t, filepath.Join(t.TempDir(), "chatbx.db"), store.Limits{ArchiveBytes: -1})
	storetest.User(t, db, "alice")
	a := mam.New(db, domain, mam.Config{Default: "always"})
	ctx := t.Context()
	prefs, err := db.SetArchivePrefs(ctx, "alice", store.ArchivePrefs{Default: "always"})
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, body*3/4)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		rand.Read(raw)
		stanza := `<message xmlns='jabber:client' from='bob@example.org' to='alice@example.org' type='chat'><body>` + base64.StdEncoding.EncodeToString(raw) + `</body></message>`
		if _, err := db.AppendArchive(ctx, "alice", prefs, t0.Add(time.Duration(i)*time.Second), "bob@example.org", false, []byte(stanza)); err != nil {
			t.Fatal(err)
		}
	}
	size := int64(n * body)

	stopHeap := heappeak.Start()
	var count countingWriter
	err = a.ExportArchive(ctx, "alice", &count)
	if err != nil {
		t.Fatal(err)
	}
	growth := stopHeap()
	t.Logf("archive %d MB, export %d MB, heap growth at peak %.1f MB", size>>20, count.n>>20, float64(growth)/(1<<20))
	if growth > size/5 {
		t.Errorf("heap grew by %d bytes exporting a %d byte archive, want well under (paged)", growth, size)
	}
	if count.n < size || !bytes.HasSuffix(count.tail, []byte("]}\n")) {
		t.Errorf("export wrote %d bytes ending %q, want the whole archive", count.n, count.tail)
	}
}

// countingWriter counts what is written and keeps the last bytes.
type countingWriter struct {
	n    int64
	tail []byte
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	c.tail = append(c.tail, p...)
	if len(c.tail) > 16 {
		c.tail = append(c.tail[:0], c.tail[len(c.tail)-16:]...)
	}
	return len(p), nil
}
