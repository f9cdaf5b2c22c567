package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"chatbx/internal/admin"
	"chatbx/store"
)

// Backups and restore.
//
//	chatbx backup FILE              the database alone (bbolt file)
//	chatbx backup --uploads FILE    a tar archive: chatbx.db and uploads/
//	chatbx restore [--force] BACKUP either kind, into the data directory
//
// restore runs only while no server runs (bbolt's lock and the admin
// socket tell), checks the backup with bbolt's consistency check before
// it moves anything, and refuses to replace an existing database without
// --force; with --force the replaced database (and uploads directory) is
// kept beside it under a dated name for the operator to delete.

// backupTarDB and backupTarUploads are the entries of a backup with uploads.
const (
	backupTarDB      = dbFileName
	backupTarUploads = uploadsDir + "/"
)

// backupWithUploads wraps the backup handler: with the flag uploads it
// writes a tar archive of a consistent database copy and the upload files.
func backupWithUploads(plain admin.Handler, dataDir string, backup func(ctx context.Context, w io.Writer) (int64, error)) admin.Handler {
	return func(ctx context.Context, req admin.Request) (admin.Response, error) {
		if req.Flags["uploads"] != "true" {
			return plain(ctx, req)
		}
		if len(req.Args) != 1 || !filepath.IsAbs(req.Args[0]) {
			return admin.Response{}, errors.New("backup: want one absolute file name")
		}
		files := 0
		err := writeNewFile(req.Args[0], dataDir, func(w io.Writer) error {
			// The database first, through a temporary copy: a tar header
			// needs the size before the content.
			tmp, err := os.CreateTemp(filepath.Dir(req.Args[0]), ".chatbx-backup-db-*")
			if err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			defer tmp.Close()
			n, err := backup(ctx, tmp)
			if err != nil {
				return err
			}
			if _, err := tmp.Seek(0, io.SeekStart); err != nil {
				return err
			}
			tw := tar.NewWriter(w)
			now := time.Now()
			if err := tw.WriteHeader(&tar.Header{Name: backupTarDB, Mode: 0o600, Size: n, ModTime: now, Typeflag: tar.TypeReg}); err != nil {
				return err
			}
			if _, err := io.CopyN(tw, tmp, n); err != nil {
				return err
			}
			// Then the upload files. One that is deleted meanwhile is
			// left out; one added after the copy has no record and the
			// retention sweep removes it after a restore.
			updir := filepath.Join(dataDir, uploadsDir)
			ents, err := os.ReadDir(updir)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			for _, e := range ents {
				if !e.Type().IsRegular() {
					continue
				}
				if err := addTarFile(tw, filepath.Join(updir, e.Name()), backupTarUploads+e.Name()); err != nil {
					if errors.Is(err, fs.ErrNotExist) {
						continue
					}
					return err
				}
				files++
			}
			return tw.Close()
		})
		if err != nil {
			return admin.Response{}, fmt.Errorf("backup: %w", err)
		}
		return admin.Response{Output: fmt.Sprintf("wrote %s: the database and %d upload files (tar)\n", req.Args[0], files)}, nil
	}
}

func addTarFile(tw *tar.Writer, path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: fi.Size(), ModTime: fi.ModTime(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.CopyN(tw, f, fi.Size())
	return err
}

// cmdRestore runs `chatbx restore [--force] BACKUP`.
func (e *cmdEnv) cmdRestore(args []string) error {
	p, err := parseArgs(args, map[string]bool{"force": true})
	if err != nil {
		return err
	}
	if p.helpReq {
		fmt.Fprint(e.stdout, usageText)
		return nil
	}
	if len(p.pos) != 1 {
		return usagef("restore: want exactly one BACKUP file")
	}
	force := false
	if v, ok := p.opts["force"]; ok {
		if force, err = parseBoolOption("force", v); err != nil {
			return err
		}
	}
	cfg, err := e.loadConfig(p)
	if err != nil {
		return err
	}
	out, err := restore(e.ctx, p.pos[0], cfg.DataDir, force, time.Now())
	if out != "" {
		io.WriteString(e.stdout, out)
	}
	return err
}

// restore puts the backup at src into dataDir and returns the text for
// the operator.
func restore(ctx context.Context, src, dataDir string, force bool, now time.Time) (string, error) {
	if _, err := admin.Call(ctx, admin.SocketPath(dataDir), admin.Request{Cmd: "maintenance status"}); !errors.Is(err, admin.ErrUnavailable) {
		return "", errors.New("restore: a server runs on this data directory: stop it first")
	}
	in, err := os.Open(src)
	if err != nil {
		return "", fmt.Errorf("restore: %w", err)
	}
	defer in.Close()
	dbPath := filepath.Join(dataDir, dbFileName)
	_, err = os.Stat(dbPath)
	exists := err == nil
	if exists && !force {
		return "", fmt.Errorf("restore: %s exists: pass --force to replace it (it is kept as %s.replaced-DATE)", dbPath, dbFileName)
	}
	if exists {
		// A server that holds the lock without a socket is running too.
		db, err := store.Open(dbPath, store.Options{})
		if errors.Is(err, store.ErrLocked) {
			return "", errors.New("restore: the database is in use: stop the server first")
		}
		if err == nil {
			db.Close()
		}
	}
	if err := prepareDataDir(dataDir); err != nil {
		return "", err
	}
	// Unpack into temporary names inside the data directory.
	tmpDB := filepath.Join(dataDir, ".restore-"+dbFileName)
	tmpUp := filepath.Join(dataDir, ".restore-"+uploadsDir)
	os.Remove(tmpDB)
	os.RemoveAll(tmpUp)
	cleanup := func() { os.Remove(tmpDB); os.RemoveAll(tmpUp) }
	head := make([]byte, 512)
	n, _ := io.ReadFull(in, head)
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	withUploads := n >= 262 && bytes.HasPrefix(head[257:], []byte("ustar"))
	uploads := 0
	if withUploads {
		uploads, err = untarBackup(in, tmpDB, tmpUp)
	} else {
		err = copyFile(in, tmpDB)
	}
	if err != nil {
		cleanup()
		return "", fmt.Errorf("restore: %w", err)
	}
	if err := checkBackup(ctx, tmpDB); err != nil {
		cleanup()
		return "", fmt.Errorf("restore: the backup fails the consistency check, nothing changed: %w", err)
	}
	var b strings.Builder
	stamp := now.UTC().Format("20060102T150405Z")
	if exists {
		aside := dbPath + ".replaced-" + stamp
		if err := os.Rename(dbPath, aside); err != nil {
			cleanup()
			return "", fmt.Errorf("restore: %w", err)
		}
		fmt.Fprintf(&b, "the replaced database is %s: delete it when the restore is confirmed\n", aside)
	}
	if err := os.Rename(tmpDB, dbPath); err != nil {
		cleanup()
		return b.String(), fmt.Errorf("restore: %w", err)
	}
	if withUploads {
		updir := filepath.Join(dataDir, uploadsDir)
		if ents, _ := os.ReadDir(updir); len(ents) > 0 {
			aside := updir + ".replaced-" + stamp
			if err := os.Rename(updir, aside); err != nil {
				return b.String(), fmt.Errorf("restore: uploads: %w", err)
			}
			fmt.Fprintf(&b, "the replaced uploads are in %s: delete them when the restore is confirmed\n", aside)
		} else {
			os.Remove(updir)
		}
		if err := os.Rename(tmpUp, updir); err != nil {
			return b.String(), fmt.Errorf("restore: uploads: %w", err)
		}
	}
	fmt.Fprintf(&b, "restored %s from %s", dbPath, src)
	if withUploads {
		fmt.Fprintf(&b, " with %d upload files", uploads)
	}
	b.WriteString("\ndata deleted since the backup was taken is back: accounts deleted since then must be deleted again\n")
	return b.String(), nil
}

// checkBackup opens the restored file and runs bbolt's consistency check.
func checkBackup(ctx context.Context, path string) (err error) {
	defer func() {
		// bbolt may panic on a damaged file.
		if p := recover(); p != nil {
			err = fmt.Errorf("damaged database: %v", p)
		}
	}()
	db, err := store.Open(path, store.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	err = db.Check(ctx)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

func copyFile(r io.Reader, dst string) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// untarBackup unpacks a backup with uploads: exactly one chatbx.db and
// regular files directly under uploads/; any other entry is an error.
func untarBackup(r io.Reader, dbDst, upDst string) (int, error) {
	if err := os.Mkdir(upDst, dirMode); err != nil {
		return 0, err
	}
	tr := tar.NewReader(r)
	files, haveDB := 0, false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return files, fmt.Errorf("backup archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			return files, fmt.Errorf("backup archive: %s is not a regular file", h.Name)
		}
		switch name := h.Name; {
		case name == backupTarDB && !haveDB:
			if err := copyFile(tr, dbDst); err != nil {
				return files, err
			}
			haveDB = true
		case strings.HasPrefix(name, backupTarUploads) && validUploadName(strings.TrimPrefix(name, backupTarUploads)):
			if err := copyFile(tr, filepath.Join(upDst, strings.TrimPrefix(name, backupTarUploads))); err != nil {
				return files, err
			}
			files++
		default:
			return files, fmt.Errorf("backup archive: unexpected entry %q", name)
		}
	}
	if !haveDB {
		return files, fmt.Errorf("backup archive: no %s", backupTarDB)
	}
	return files, nil
}

// validUploadName accepts one path element without tricks.
func validUploadName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\\x00") && filepath.Base(s) == s
}
