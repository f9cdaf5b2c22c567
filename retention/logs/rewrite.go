package logs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Rewrite removes from every log file of prefix in dir the lines for which
// drop returns true. Account deletion uses it so that a deleted user's
// connection lines vanish at once rather than when their files expire.
//
// Each changed file is replaced atomically: the kept lines go to a temporary
// file in dir (mode 0600), which is synced and renamed over the original,
// so a crash leaves either the old or the new file, never a mix. Files with
// nothing to drop are left untouched. drop must not retain line.
// It returns the number of lines dropped.
//
// While a Sink writes into dir, use Sink.Rewrite instead: a file replaced
// under an open Sink would swallow the Sink's later writes.
func Rewrite(dir, prefix string, drop func(line []byte) bool) (int, error) {
	files, err := Files(dir, prefix)
	if err != nil {
		return 0, err
	}
	var total int
	for _, f := range files {
		n, err := rewriteFile(f.Path, drop)
		total += n
		if err != nil {
			return total, err
		}
	}
	if total > 0 {
		// The renames are durable only once the directory is synced.
		if err := syncDir(dir); err != nil {
			return total, err
		}
	}
	return total, nil
}

// rewriteFile rewrites one file as Rewrite describes.
func rewriteFile(path string, drop func([]byte) bool) (dropped int, err error) {
	in, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil // expired meanwhile
		}
		return 0, fmt.Errorf("logs: rewrite: %w", err)
	}
	defer in.Close()

	tmpPath := filepath.Join(filepath.Dir(path), tempName(filepath.Base(path)))
	tmp, err := os.OpenFile(tmpPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fmt.Errorf("logs: rewrite: %w", err)
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmpPath)
		}
	}()

	r := bufio.NewReader(in)
	w := bufio.NewWriter(tmp)
	for {
		line, rerr := r.ReadBytes('\n')
		if len(line) > 0 {
			if drop(line) {
				dropped++
			} else if _, err := w.Write(line); err != nil {
				return 0, fmt.Errorf("logs: rewrite: %w", err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, fmt.Errorf("logs: rewrite: %w", rerr)
		}
	}
	if dropped == 0 {
		return 0, nil // the deferred cleanup removes the unused copy
	}
	if err := w.Flush(); err != nil {
		return 0, fmt.Errorf("logs: rewrite: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("logs: rewrite: %w", err)
	}
	if err := tmp.Close(); err != nil {
		tmp = nil
		os.Remove(tmpPath)
		return 0, fmt.Errorf("logs: rewrite: %w", err)
	}
	tmp = nil
	if err := os.Rename(tmpPath, path); err != nil {
		os.Remove(tmpPath)
		return 0, fmt.Errorf("logs: rewrite: %w", err)
	}
	return dropped, nil
}

// syncDir makes renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("logs: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("logs: sync dir: %w", err)
	}
	return nil
}

// DropUser returns a drop function for Rewrite that matches the JSON log
// lines whose "user" field is exactly user (the localpart, as the server
// logs it). Lines that are not JSON objects are kept.
func DropUser(user string) func(line []byte) bool {
	return func(line []byte) bool {
		if !bytes.Contains(line, []byte(`"user"`)) {
			return false
		}
		var v struct {
			User *string `json:"user"`
		}
		if json.Unmarshal(line, &v) != nil || v.User == nil {
			return false
		}
		return *v.User == user
	}
}
