package account

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"chatbx/store"
)

// Uploads are the user's uploaded files (XEP-0363) as the uploads page
// sees them (*web/upload.Uploads).
type Uploads interface {
	// UserFiles lists user's uploads, oldest first.
	UserFiles(ctx context.Context, user string) ([]store.Upload, error)
	// DeleteUserFiles deletes those of ids that are user's uploads, as an
	// account deletion does (records to the trash, files unlinked), and
	// returns how many it deleted.
	DeleteUserFiles(ctx context.Context, user string, ids []string) (int, error)
}

// Messages of the uploads page.
const (
	msgUploadDeleted = "The file was deleted."
	msgUploadGone    = "That file was not found; it may have expired or been deleted already."
	msgNoUploads     = "You have no uploaded files on this server."
)

// uploadRow is one line of the uploads page.
type uploadRow struct {
	ID, Name, Size, Expires string
	Complete                bool
}

// serveUploads serves /account/uploads: with the password, the user sees
// their uploaded files (the name as their client sent it, size, the date
// retention deletes it) and can delete each one at once; each delete
// button sends the form again, so the password is asked for every time,
// as on every account page.
func (p *Pages) serveUploads(w http.ResponseWriter, r *http.Request) {
	if p.get(w, r, "uploads") {
		return
	}
	req := p.checkPost(w, r, "uploads", nil)
	if req == nil {
		return
	}
	ctx := r.Context()
	d := req.data
	if id := req.form["delete"]; id != "" {
		n, err := p.d.Uploads.DeleteUserFiles(ctx, req.user, []string{id})
		switch {
		case err != nil:
			p.d.Log.Error().Err(err).Msg("upload deletion failed")
			p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
			return
		case n == 0:
			d.Error = tr(d.Lang, msgUploadGone)
		default:
			d.Done = tr(d.Lang, msgUploadDeleted)
		}
	}
	ups, err := p.d.Uploads.UserFiles(ctx, req.user)
	if err != nil {
		p.d.Log.Error().Err(err).Msg("upload list failed")
		p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
		return
	}
	d.Listed = true
	for _, u := range ups {
		d.Uploads = append(d.Uploads, uploadRow{
			ID: u.ID, Name: u.Name, Size: sizeText(u.Size), Complete: u.Complete,
			Expires: u.Expires.UTC().Format(time.DateOnly),
		})
	}
	if len(ups) == 0 && d.Done == "" {
		d.Done = tr(d.Lang, msgNoUploads)
	}
	p.render(w, r, http.StatusOK, d)
}

// sizeText formats a byte count for people.
func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
