package account

import "net/http"

// serveExport serves /account/export: username and password download a
// zip of everything stored about the account (accounts.Service.Export).
//
// The zip is streamed straight into the response (no Content-Length), so
// a large archive never sits in memory. A failure before the first byte
// still gets an error page; a failure after it aborts the connection, so
// the browser reports a failed download instead of saving a truncated zip.
func (p *Pages) serveExport(w http.ResponseWriter, r *http.Request) {
	if p.get(w, r, "export") {
		return
	}
	req := p.checkPost(w, r, "export", nil)
	if req == nil {
		return
	}
	sw := &startWriter{w: w, start: func() {
		h := w.Header()
		h.Set("Content-Type", "application/zip")
		h.Set("Content-Disposition", `attachment; filename="`+exportName(req.user)+`"`)
		w.WriteHeader(http.StatusOK)
	}}
	err := p.acc.Export(r.Context(), req.user, sw)
	if err == nil {
		return
	}
	if r.Context().Err() == nil { // not a download the browser gave up
		p.d.Log.Error().Err(err).Msg("account export failed")
	}
	if !sw.started {
		p.fail(w, r, req, http.StatusInternalServerError, msgInternal)
		return
	}
	panic(http.ErrAbortHandler)
}

// startWriter calls start before the first byte is written.
type startWriter struct {
	w       http.ResponseWriter
	start   func()
	started bool
}

func (s *startWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.started = true
		s.start()
	}
	return s.w.Write(p)
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
