package web

import (
	"fmt"

	"chatbx/web/site"
)

// newSite opens the content directory and checks that every page renders.
func newSite(f site.Facts, contentDir string) (*site.Site, error) {
	s, err := site.New(f, contentDir)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if err := s.Check(); err != nil {
		s.Close()
		return nil, fmt.Errorf("web: %w", err)
	}
	return s, nil
}

// Reload re-opens the operator's content directory (web.content_dir) and
// checks every page again, then serves the new site (SIGHUP). Pages are
// read from the directory on each request anyway; Reload makes a replaced
// directory take effect and reports a page that no longer renders. On
// error the old site stays in service. Safe for concurrent use with
// requests.
func (w *Web) Reload() error {
	s, err := newSite(w.facts, w.cfg.ContentDir)
	if err != nil {
		return err
	}
	// Requests in flight keep the old site's pages; its directory handle
	// is closed at once, so one of them may fail to read an override and
	// answer 500 once.
	if old := w.site.Swap(s); old != nil {
		old.Close()
	}
	return nil
}
