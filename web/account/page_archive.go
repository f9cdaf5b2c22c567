package account

import (
	"net/http"
)

const (
	msgArchiveUnavailable = "This server keeps no message archive."
	msgArchiveAction      = "Please choose one of the actions."
	msgConfirmPurge       = "Please tick the box to confirm that the archived messages are to be deleted."
	msgArchiveOn          = "Your message archive is on."
	msgArchiveOff         = "Your message archive is off."
	msgPurged             = "Deleted %d archived message(s)."
)

// serveArchive serves /account/archive: show the archive switch (the
// XEP-0313 default preference), switch it on or off, or purge the archive.
func (p *Pages) serveArchive(w http.ResponseWriter, r *http.Request) {
	if p.get(w, r, "archive") {
		return
	}
	arch := p.d.Archive
	if arch == nil {
		d := p.data("archive", pickLang(r))
		d.Error = tr(d.Lang, msgArchiveUnavailable)
		p.render(w, r, http.StatusNotFound, d)
		return
	}
	req := p.checkPost(w, r, "archive", func(f form) string {
		switch f["action"] {
		case "status", "on", "off":
		case "purge":
			if f["confirm"] != "yes" {
				return msgConfirmPurge
			}
		default:
			return msgArchiveAction
		}
		return ""
	})
	if req == nil {
		return
	}
	ctx, user := r.Context(), req.user
	var err error
	done := ""
	switch req.form["action"] {
	case "on", "off":
		err = arch.SetArchiveOn(ctx, user, req.form["action"] == "on")
	case "purge":
		var n int
		n, err = arch.PurgeArchive(ctx, user)
		done = tr(req.data.Lang, msgPurged, n) + " "
	}
	var on bool
	if err == nil {
		on, err = arch.ArchiveOn(ctx, user)
	}
	if err != nil {
		p.d.Log.Error().Err(err).Msg("archive action failed")
		p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
		return
	}
	if on {
		done += tr(req.data.Lang, msgArchiveOn)
	} else {
		done += tr(req.data.Lang, msgArchiveOff)
	}
	req.data.Done = done
	p.render(w, r, http.StatusOK, req.data)
}
