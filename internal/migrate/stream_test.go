package migrate_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"chatbx/internal/heappeak"
	"chatbx/internal/migrate"
)

// The reader holds one account at a time: reading a 16 MB file of
// 50,000 users grows the heap by a few megabytes (measured: about 3 MB),
// well under half of the file.
func TestReaderStreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.xml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("<server-data xmlns='urn:xmpp:pie:0'><host jid='example.org'>")
	const users = 50_000
	for i := range users {
		fmt.Fprintf(w, "<user name='user%d' password='pw'><vCard xmlns='vcard-temp'><FN>User number %d with a longer name</FN><NOTE>%0200d</NOTE></vCard></user>", i, i, i)
	}
	w.WriteString("</host></server-data>")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	size, _ := f.Seek(0, io.SeekCurrent)
	f.Close()

	in, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	stop := heappeak.Start()
	r := migrate.NewReader(in, path, migrate.Limits{})
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			stop()
			t.Fatal(err)
		}
		n++
	}
	peak := stop()
	if n != users {
		t.Fatalf("read %d users, want %d", n, users)
	}
	t.Logf("file %d bytes, peak heap growth %d bytes", size, peak)
	if peak > size/2 {
		t.Errorf("peak heap growth %d bytes for a %d-byte file: the reader does not stream", peak, size)
	}
}
