package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"chatbx/internal/accounts"
	"chatbx/internal/admin"
	"chatbx/internal/migrate"
	"chatbx/server/pep"
	"chatbx/server/vcard"
	"chatbx/store"
)

// Migration commands (package internal/migrate):
//
//	chatbx import [--dry-run] PATH...   XEP-0227 files or directories of them
//	chatbx user export --all FILE       every account as one XEP-0227 file
//
// Both run through the admin socket while the server runs, or on the
// database directly: the server process reads and writes the files, so
// the paths are made absolute here.

// cmdImport runs `chatbx import`.
func (e *cmdEnv) cmdImport(args []string) error {
	p, err := parseArgs(args, map[string]bool{"dry-run": true})
	if err != nil {
		return err
	}
	if p.helpReq {
		fmt.Fprint(e.stdout, usageText)
		return nil
	}
	if len(p.pos) == 0 {
		return usagef("import: want one or more XEP-0227 files or directories")
	}
	cfg, err := e.loadConfig(p)
	if err != nil {
		return err
	}
	req := admin.Request{Cmd: "import"}
	for _, path := range p.pos {
		abs, err := filepath.Abs(path)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		req.Args = append(req.Args, abs)
	}
	if v, ok := p.opts["dry-run"]; ok {
		on, err := parseBoolOption("dry-run", v)
		if err != nil {
			return err
		}
		if on {
			req.Flags = map[string]string{"dry-run": "true"}
		}
	}
	resp, err := e.callOrDirect(cfg, req, true)
	if resp.Output != "" {
		io.WriteString(e.stdout, resp.Output)
	}
	return err
}

// cmdExportAll runs `chatbx user export --all FILE`.
func (e *cmdEnv) cmdExportAll(args []string) error {
	p, err := parseArgs(args, map[string]bool{"all": true})
	if err != nil {
		return err
	}
	if len(p.pos) != 1 {
		return usagef("user export --all: want exactly one FILE")
	}
	cfg, err := e.loadConfig(p)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(p.pos[0])
	if err != nil {
		return err
	}
	resp, err := e.callOrDirect(cfg, admin.Request{Cmd: "user export --all", Args: []string{abs}}, false)
	if err != nil {
		return err
	}
	io.WriteString(e.stdout, resp.Output)
	return nil
}

// isExportAll reports whether the arguments after `user` ask for
// `export --all`.
func isExportAll(args []string) bool {
	return len(args) > 0 && args[0] == "export" &&
		slices.ContainsFunc(args[1:], func(a string) bool {
			return a == "--all" || a == "-all" || strings.HasPrefix(a, "--all=")
		})
}

// importParts are what the migration commands need.
type importParts struct {
	domain  string
	db      *store.DB
	acc     *accounts.Service
	dataDir string
	limits  migrate.Options
}

// importLimits are the caps of the configuration that an imported
// account meets like any other: c2s.vcard_bytes and the PEP limits.
func importLimits(cfg *Config) migrate.Options {
	pc, def := cfg.PEPConfig(), pep.DefaultConfig()
	lim := store.PEPLimits{Items: pc.MaxItems, Bytes: pc.MaxBytes, Nodes: pc.MaxNodes}
	if lim.Items == 0 {
		lim.Items = def.MaxItems
	}
	if lim.Bytes == 0 {
		lim.Bytes = def.MaxBytes
	}
	if lim.Nodes == 0 {
		lim.Nodes = def.MaxNodes
	}
	o := migrate.Options{VCardMaxBytes: cfg.C2S.VCardBytes, PEPLimits: lim, PEPNodeItems: pc.MaxNodeItems, PEPItemBytes: pc.MaxItemBytes}
	if o.VCardMaxBytes <= 0 {
		o.VCardMaxBytes = vcard.DefaultConfig().MaxBytes
	}
	if o.PEPNodeItems <= 0 {
		o.PEPNodeItems = def.MaxNodeItems
	}
	if o.PEPItemBytes <= 0 {
		o.PEPItemBytes = def.MaxItemBytes
	}
	return o
}

// importHandlers returns the admin commands `import` and
// `user export --all`.
func importHandlers(p importParts) map[string]admin.Handler {
	return map[string]admin.Handler{
		"import": func(ctx context.Context, req admin.Request) (admin.Response, error) {
			if len(req.Args) == 0 {
				return admin.Response{}, errors.New("import: want one or more files")
			}
			for _, a := range req.Args {
				if !filepath.IsAbs(a) {
					return admin.Response{}, errors.New("import: want absolute file names")
				}
			}
			opt := p.limits
			opt.Domain, opt.DryRun, opt.Iterations = p.domain, req.Flags["dry-run"] == "true", scramIterations
			rep, err := migrate.Import(ctx, p.db, req.Args, opt)
			if errors.Is(err, accounts.ErrNoDomain) {
				return admin.Response{}, errors.New("import needs the domain: pass --domain or --config (or run it while the server runs)")
			}
			if err != nil {
				if rep != nil {
					return admin.Response{}, fmt.Errorf("import stopped: %w\n%s", err, rep)
				}
				return admin.Response{}, fmt.Errorf("import: nothing imported: %w", err)
			}
			return admin.Response{Output: rep.String()}, nil
		},
		"user export --all": func(ctx context.Context, req admin.Request) (admin.Response, error) {
			if len(req.Args) != 1 || !filepath.IsAbs(req.Args[0]) {
				return admin.Response{}, errors.New("user export --all: want one absolute file name")
			}
			var n int
			err := writeNewFile(req.Args[0], p.dataDir, func(w io.Writer) (err error) {
				n, err = p.acc.ExportAll(ctx, w)
				return err
			})
			if err != nil {
				return admin.Response{}, fmt.Errorf("user export --all: %w", cliError(err))
			}
			return admin.Response{Output: fmt.Sprintf("wrote %s: %d accounts (XEP-0227 with password verifiers: keep it as safe as the database)\n", req.Args[0], n)}, nil
		},
	}
}

// writeNewFile writes path (mode 0600) through a temporary file that is
// renamed into place; an existing file is not replaced, and nothing is
// written inside the data directory.
func writeNewFile(path, dataDir string, fill func(io.Writer) error) error {
	path = filepath.Clean(path)
	if d, err := filepath.Abs(dataDir); err == nil {
		if rel, err := filepath.Rel(d, path); err == nil && !strings.HasPrefix(rel, "..") {
			return errors.New("write the file outside the data directory")
		}
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s exists", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".chatbx-export-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
