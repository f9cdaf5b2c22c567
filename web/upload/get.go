package upload

import (
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"strings"

	"chatbx/store"
)

// inlineTypes are shown in the browser; every other type is offered as a
// download (Content-Disposition: attachment), so that an uploaded HTML or
// SVG file is never rendered as a page of this site. The sandbox CSP and
// nosniff guard the inline ones too.
var inlineTypes = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/avif": true,
	"audio/mpeg": true, "audio/ogg": true, "audio/mp4": true, "audio/aac": true, "audio/opus": true,
	"audio/webm": true, "audio/wav": true, "audio/flac": true,
	"video/mp4": true, "video/webm": true, "video/ogg": true,
	"text/plain": true, "application/pdf": true,
}

// get serves a completed upload (XEP-0363 §6: anyone with the URL may
// read it). Range requests and conditional requests are served by
// http.ServeContent.
func (u *Uploads) get(w http.ResponseWriter, r *http.Request, path string) {
	id, name, ok := ParsePath(u.prefix, path)
	if !ok {
		fail(w, http.StatusNotFound)
		return
	}
	up, err := u.db.Upload(r.Context(), id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		u.log.Error().Err(err).Msg("upload lookup failed")
		fail(w, http.StatusInternalServerError)
		return
	}
	// Past its expiry a file is gone, even before the sweep removes it.
	if err != nil || up.Name != name || !up.Complete || !u.now().Before(up.Expires) {
		fail(w, http.StatusNotFound)
		return
	}
	f, err := os.Open(u.file(id))
	if errors.Is(err, fs.ErrNotExist) {
		fail(w, http.StatusNotFound)
		return
	}
	if err != nil {
		u.log.Error().Err(err).Msg("upload open failed")
		fail(w, http.StatusInternalServerError)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		u.log.Error().Err(err).Msg("upload stat failed")
		fail(w, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	ctype := up.ContentType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", disposition(ctype, up.Name))
	// The file never changes under its URL; caches may keep it until it
	// expires, browsers only (private).
	h.Set("Cache-Control", "private, max-age=86400, immutable")
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// disposition returns the Content-Disposition for a file of media type
// ctype named name: inline for inlineTypes, attachment otherwise, with
// the name encoded as RFC 2231 requires.
func disposition(ctype, name string) string {
	kind := "attachment"
	mt, _, _ := strings.Cut(ctype, ";")
	if inlineTypes[strings.ToLower(strings.TrimSpace(mt))] {
		kind = "inline"
	}
	if d := mime.FormatMediaType(kind, map[string]string{"filename": name}); d != "" {
		return d
	}
	return kind
}
