package mam

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"chatbx/server/wire"
	"chatbx/store"
)

// The account pages' view of the archive (web/account.Archive): a switch,
// a purge button and the archive in the data export.

// ArchiveOn reports whether user's default preference is other than
// Never. It fails with store.ErrNotFound for an unknown user.
func (a *Archive) ArchiveOn(ctx context.Context, user string) (bool, error) {
	p, err := a.Prefs(ctx, user)
	if err != nil {
		return false, err
	}
	return p.Default != Never, nil
}

// SetArchiveOn sets user's default preference to Always (on) or Never.
// The always/never lists stay as they are.
func (a *Archive) SetArchiveOn(ctx context.Context, user string, on bool) error {
	mode := Never
	if on {
		mode = Always
	}
	return a.SetDefault(ctx, user, mode)
}

// PurgeArchive deletes user's archive like Purge and returns how many
// messages it held.
func (a *Archive) PurgeArchive(ctx context.Context, user string) (int, error) {
	n, err := a.db.ArchiveCount(ctx, user)
	if err != nil {
		return 0, fmt.Errorf("mam: purge: %w", err)
	}
	return n, a.Purge(ctx, user)
}

// exportPage is how many messages ExportArchive reads per transaction: it
// bounds the export's memory (a page of messages, each at most a stanza)
// whatever the archive's size.
const exportPage = 100

// exportedMessage is one message in the JSON export.
type exportedMessage struct {
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
	With      string    `json:"with"`
	Direction string    `json:"direction"` // "sent" or "received"
	Body      string    `json:"body,omitempty"`
	Stanza    string    `json:"stanza"`
}

// ExportArchive writes user's preferences and archive as JSON to w:
//
//	{"preferences":{"default":…,"always":[…],"never":[…]},
//	 "messages":[{"id":…,"time":…,"with":…,"direction":"sent"|"received",
//	              "body":…,"stanza":"<message…>"}, …]}
//
// Messages are in archive order; the archive is read in pages of 100, one
// transaction each, so a large archive does not hold a long transaction.
// It fails with store.ErrNotFound for an unknown user.
func (a *Archive) ExportArchive(ctx context.Context, user string, w io.Writer) error {
	prefs, err := a.Prefs(ctx, user)
	if err != nil {
		return err
	}
	if prefs.Always == nil {
		prefs.Always = []string{}
	}
	if prefs.Never == nil {
		prefs.Never = []string{}
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	head, err := json.Marshal(map[string]any{"default": prefs.Default, "always": prefs.Always, "never": prefs.Never})
	if err != nil {
		return err
	}
	fmt.Fprintf(bw, `{"preferences":%s,"messages":[`, head)
	after, first := "", true
	dropped := 0
	defer func() {
		if dropped > 0 {
			// Privacy: a count only, never the content.
			a.cfg.Log.Warn().Int("count", dropped).Msg("skipped malformed archived messages in export")
		}
	}()
	for {
		page, err := a.db.QueryArchive(ctx, user, store.ArchiveQuery{After: after, Max: exportPage})
		if err != nil {
			return fmt.Errorf("mam: export: %w", err)
		}
		for _, m := range page.Messages {
			el := wire.StoredMessage(m.Stanza)
			if el == nil {
				dropped++ // not well-formed (an older version's record)
				continue
			}
			// What the encoder writes, not the stored bytes as they are.
			x := exportedMessage{ID: m.ID, Time: m.At, With: m.With, Direction: "received", Stanza: string(el.Bytes(wire.NSClient))}
			if m.Outgoing {
				x.Direction = "sent"
			}
			x.Body = el.ChildText(wire.NSClient, "body")
			if !first {
				bw.WriteByte(',')
			}
			first = false
			if err := enc.Encode(x); err != nil {
				return err
			}
		}
		if page.Complete || len(page.Messages) == 0 {
			break
		}
		after = page.Messages[len(page.Messages)-1].ID
	}
	bw.WriteString("]}\n")
	return bw.Flush()
}
