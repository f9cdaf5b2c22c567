package upload

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"chatbx/store"
)

// put receives the file of a slot (XEP-0363 §6).
func (u *Uploads) put(w http.ResponseWriter, r *http.Request, path string) {
	id, name, ok := ParsePath(u.prefix, path)
	if !ok {
		fail(w, http.StatusNotFound)
		return
	}
	up, err := u.db.Upload(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || err == nil && up.Name != name {
		fail(w, http.StatusNotFound)
		return
	}
	if err != nil {
		u.log.Error().Err(err).Msg("upload lookup failed")
		fail(w, http.StatusInternalServerError)
		return
	}
	if !checkSecret(up.PutHash, r.URL.Query().Get(SecretParam)) {
		fail(w, http.StatusForbidden)
		return
	}
	if up.Complete {
		fail(w, http.StatusConflict)
		return
	}
	if !u.now().Before(up.PutBy) {
		fail(w, http.StatusNotFound) // the slot expired
		return
	}
	switch {
	case r.ContentLength < 0:
		fail(w, http.StatusLengthRequired)
		return
	case r.ContentLength > up.Size:
		fail(w, http.StatusRequestEntityTooLarge)
		return
	case r.ContentLength < up.Size:
		fail(w, http.StatusBadRequest)
		return
	}
	if !sameType(up.ContentType, r.Header.Get("Content-Type")) {
		fail(w, http.StatusUnsupportedMediaType)
		return
	}
	if status := u.write(w, r, up); status != http.StatusCreated {
		fail(w, status)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
}

// write stores the body as the file of up and marks the upload complete;
// it returns the status to answer.
//
// The body goes to <id>.part (created exclusively, mode 0600, so two PUTs
// cannot write at once), is synced, and is then hard-linked to <id>, which
// fails if a file is already there: a complete file is never replaced.
// Only then is the record marked complete; if the record vanished in the
// meantime (retention or account deletion), or the quota, checked again,
// no longer has room for it, the file is removed again.
func (u *Uploads) write(w http.ResponseWriter, r *http.Request, up store.Upload) int {
	final := u.file(up.ID)
	part := final + partSuffix
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return http.StatusConflict // another PUT is writing
	}
	if err != nil {
		u.log.Error().Err(err).Msg("upload create failed")
		return http.StatusInternalServerError
	}
	defer os.Remove(part)
	body := &idleReader{r: r.Body, rc: http.NewResponseController(w), idle: u.idle}
	n, err := io.Copy(f, io.LimitReader(body, up.Size+1))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil && isDiskFull(err):
		u.log.Error().Err(err).Msg("upload write failed")
		return http.StatusInsufficientStorage
	case err != nil:
		// Most often the client went away or stalled: not the operator's
		// concern, and nothing about it is logged.
		return http.StatusBadRequest
	case n != up.Size:
		return http.StatusBadRequest
	}
	if err := os.Link(part, final); errors.Is(err, fs.ErrExist) {
		return http.StatusConflict
	} else if err != nil {
		u.log.Error().Err(err).Msg("upload link failed")
		return http.StatusInternalServerError
	}
	switch err := u.db.CompleteUpload(r.Context(), up.ID, u.now(), u.quota); {
	case err == nil:
		u.met.Uploaded(up.Size)
		return http.StatusCreated
	case errors.Is(err, store.ErrQuota):
		os.Remove(final)
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, store.ErrNotFound):
		os.Remove(final)
		return http.StatusNotFound
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict
	default:
		os.Remove(final)
		u.log.Error().Err(err).Msg("upload complete failed")
		return http.StatusInternalServerError
	}
}

// checkSecret compares the secret from the URL with the stored hash in
// constant time.
func checkSecret(hash []byte, secret string) bool {
	if secret == "" || len(hash) != sha256.Size {
		return false
	}
	got := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(got[:], hash) == 1
}

// sameType reports whether a PUT's Content-Type fits the slot's: the media
// types must be equal (parameters such as charset may differ). A slot
// announced without a type accepts any, and a PUT without a Content-Type
// is accepted too (XEP-0363 §6 lets the service assume the announced one).
func sameType(slot, put string) bool {
	if put == "" || slot == "" || slot == "application/octet-stream" {
		return true
	}
	a, _, err1 := mime.ParseMediaType(slot)
	b, _, err2 := mime.ParseMediaType(put)
	return err1 == nil && err2 == nil && strings.EqualFold(a, b)
}

func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// idleReader extends the connection's read deadline before every read, so
// that a PUT may take as long as it needs but not stall for longer than
// idle.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
}

func (i *idleReader) Read(p []byte) (int, error) {
	if i.rc != nil {
		if err := i.rc.SetReadDeadline(time.Now().Add(i.idle)); err != nil {
			i.rc = nil // not supported (e.g. HTTP/2 without support): no deadline
		}
	}
	return i.r.Read(p)
}
