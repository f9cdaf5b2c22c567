package upload

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"chatbx/internal/accounts"
	"chatbx/store"
)

// sweepBatch is how many expired uploads Sweep handles per transaction.
const sweepBatch = 256

// Sweep deletes the uploads created at or before cutoff: first each file
// (and any partial file), then its record, so that a crash in between
// leaves a record the next sweep finds again. It returns how many uploads
// it deleted. It implements retention.Sweeper for retention.Deps.Uploads,
// which calls it with now minus retention.uploads.
func (u *Uploads) Sweep(ctx context.Context, cutoff time.Time) (int, error) {
	var n int
	for {
		ups, err := u.db.ExpiredUploads(ctx, cutoff, sweepBatch)
		if err != nil {
			return n, fmt.Errorf("upload: sweep: %w", err)
		}
		if len(ups) == 0 {
			return n, nil
		}
		for _, up := range ups {
			if err := u.unlink(up.ID); err != nil {
				return n, fmt.Errorf("upload: sweep: %w", err)
			}
			if err := u.db.DeleteUpload(ctx, up.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return n, fmt.Errorf("upload: sweep: %w", err)
			}
			n++
		}
	}
}

// SweepDeleted finishes account deletions: it unlinks the files whose
// records DeleteUser moved to the trash and clears those trash entries,
// then removes files in the directory that no record knows (left by a
// crash at the wrong moment). It returns how many files it removed. The
// cutoff is ignored; wire it as retention.Deps.Deletions with
// retention.SweeperFunc(u.SweepDeleted).
func (u *Uploads) SweepDeleted(ctx context.Context, _ time.Time) (int, error) {
	n, err := u.unlinkTrash(ctx)
	if err != nil {
		return n, err
	}
	m, err := u.removeOrphans(ctx)
	return n + m, err
}

// UnlinkDeleted unlinks the files of deleted accounts right after the
// deletion (accounts.Uploads) and scrubs the database, so that the trashed
// records (file names, sizes) are unreadable in its file at once.
func (u *Uploads) UnlinkDeleted(ctx context.Context) error {
	n, err := u.unlinkTrash(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		if err := u.db.Scrub(ctx); err != nil {
			return fmt.Errorf("upload: unlink deleted: %w", err)
		}
	}
	return nil
}

// unlinkTrash unlinks the trashed uploads' files and clears their entries.
func (u *Uploads) unlinkTrash(ctx context.Context) (int, error) {
	ids, err := u.db.TrashedUploads(ctx)
	if err != nil {
		return 0, fmt.Errorf("upload: trash: %w", err)
	}
	done := ids[:0:0]
	var errs []error
	for _, id := range ids {
		if err := u.unlink(id); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, id)
	}
	if err := u.db.ClearTrashedUploads(ctx, done); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return len(done), fmt.Errorf("upload: trash: %w", err)
	}
	return len(done), nil
}

// removeOrphans removes <id> files without a record and <id>.part files
// without a record or of a completed upload. Other names are left alone.
func (u *Uploads) removeOrphans(ctx context.Context) (int, error) {
	entries, err := os.ReadDir(u.dir)
	if err != nil {
		return 0, fmt.Errorf("upload: orphans: %w", err)
	}
	var n int
	for _, e := range entries {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		id, part := strings.CutSuffix(e.Name(), partSuffix)
		if !validID(id) || !e.Type().IsRegular() {
			continue
		}
		up, err := u.db.Upload(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return n, fmt.Errorf("upload: orphans: %w", err)
		case part && up.Complete:
		default:
			continue
		}
		if err := os.Remove(u.file(e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("upload: orphans: %w", err)
		}
		n++
	}
	return n, nil
}

// unlink removes an upload's file and partial file; missing ones are fine.
func (u *Uploads) unlink(id string) error {
	if !validID(id) {
		return nil // not a name this package ever wrote
	}
	var errs []error
	for _, p := range []string{u.file(id), u.file(id) + partSuffix} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// UserFiles returns user's uploads, oldest first (for the admin CLI and
// the account pages).
func (u *Uploads) UserFiles(ctx context.Context, user string) ([]store.Upload, error) {
	ups, err := u.db.UserUploads(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("upload: user files: %w", err)
	}
	return ups, nil
}

// DeleteFiles deletes the given uploads, file first and then record.
// Unknown ids are ignored. The records stay readable in the database
// file's free pages until the next scrub.
func (u *Uploads) DeleteFiles(ctx context.Context, ids []string) error {
	for _, id := range ids {
		if err := u.unlink(id); err != nil {
			return fmt.Errorf("upload: delete: %w", err)
		}
		if err := u.db.DeleteUpload(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("upload: delete: %w", err)
		}
	}
	return nil
}

// Account returns the view of the uploads that the account operations
// (internal/accounts: deletion and export) use.
func (u *Uploads) Account() accounts.Uploads { return accountUploads{u} }

type accountUploads struct{ u *Uploads }

// UserUploads lists user's uploads with their URLs and expiry dates for
// the export. Slots that never received a file are listed too: their
// records are stored data as well.
func (a accountUploads) UserUploads(ctx context.Context, user string) ([]accounts.Upload, error) {
	ups, err := a.u.UserFiles(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]accounts.Upload, 0, len(ups))
	for _, up := range ups {
		out = append(out, accounts.Upload{
			URL: a.u.URL(up), Name: up.Name, Type: up.ContentType, Size: up.Size,
			Uploaded: up.Created, Expires: up.Expires,
		})
	}
	return out, nil
}

func (a accountUploads) UnlinkDeleted(ctx context.Context) error { return a.u.UnlinkDeleted(ctx) }
