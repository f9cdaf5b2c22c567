package account

import (
	"bytes"
	"net/http"
	"strconv"
)

// serveExport serves /account/export: username and password download a
// zip of everything stored about the account (Manager.Export).
func (p *Pages) serveExport(w http.ResponseWriter, r *http.Request) {
	if p.get(w, r, "export") {
		return
	}
	req := p.checkPost(w, r, "export", nil)
	if req == nil {
		return
	}
	// Built in memory first, so that a failure still gets a page.
	var buf bytes.Buffer
	if err := p.m.Export(r.Context(), req.user, &buf); err != nil {
		p.m.d.Log.Error().Err(err).Msg("account export failed")
		p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", `attachment; filename="`+exportName(req.user)+`"`)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

// exportName returns the download's file name: the username when it is
// plain ASCII, a fixed name otherwise (no header quoting problems).
func exportName(user string) string {
	for i := 0; i < len(user); i++ {
		c := user[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "account-export.zip"
		}
	}
	return user + "-export.zip"
}
