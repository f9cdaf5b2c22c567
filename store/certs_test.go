package store_test

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"chatbx/store/storetest"
)

func TestCertStorage(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t).CertStorage()
	ctx := t.Context()
	files := map[string]string{
		"certificates/acme/example.org/example.org.crt":  "CRT",
		"certificates/acme/example.org/example.org.key":  "KEY",
		"certificates/acme/example.org/example.org.json": "{}",
		"certificates/acme/other.org/other.org.crt":      "CRT2",
		"acme/ca/users/admin/admin.json":                 "USER",
		"last_clean.json":                                "{}",
		"certificatesX":                                  "not under certificates/",
	}
	before := time.Now()
	for k, v := range files {
		if err := s.Store(ctx, k, []byte(v)); err != nil {
			t.Fatalf("Store(%q) = %v", k, err)
		}
	}
	if err := s.Store(ctx, "", []byte("x")); err == nil {
		t.Errorf("Store(\"\") succeeded, want error")
	}

	t.Run("Load", func(t *testing.T) {
		for k, v := range files {
			if got, err := s.Load(ctx, k); err != nil || string(got) != v {
				t.Errorf("Load(%q) = %q, %v; want %q", k, got, err, v)
			}
		}
		for _, k := range []string{"nope", "certificates", "certificates/acme", ""} {
			if _, err := s.Load(ctx, k); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Load(%q) = %v, want fs.ErrNotExist", k, err)
			}
		}
	})

	t.Run("Exists", func(t *testing.T) {
		for k, want := range map[string]bool{
			"last_clean.json":           true,
			"certificates":              true,
			"certificates/acme":         true,
			"certificates/acme/":        true,
			"certificates/ac":           false,
			"certificates/acme/nope":    false,
			"certificates/acme/example": false,
			"nope":                      false,
		} {
			if got := s.Exists(ctx, k); got != want {
				t.Errorf("Exists(%q) = %v, want %v", k, got, want)
			}
		}
	})

	t.Run("Stat", func(t *testing.T) {
		info, err := s.Stat(ctx, "certificates/acme/other.org/other.org.crt")
		if err != nil || !info.IsTerminal || info.Size != 4 || info.Key != "certificates/acme/other.org/other.org.crt" {
			t.Errorf("Stat(file) = %+v, %v", info, err)
		}
		if info.Modified.Before(before.Add(-time.Second)) || info.Modified.After(time.Now().Add(time.Second)) {
			t.Errorf("Stat(file).Modified = %v, want about now", info.Modified)
		}
		info, err = s.Stat(ctx, "certificates/acme")
		if err != nil || info.IsTerminal || info.Key != "certificates/acme" {
			t.Errorf("Stat(dir) = %+v, %v", info, err)
		}
		if _, err := s.Stat(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(nope) = %v, want fs.ErrNotExist", err)
		}
	})

	t.Run("List", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			dir       string
			recursive bool
			want      []string
		}{
			{"direct children", "certificates", false, []string{"certificates/acme"}},
			{"direct children deeper", "certificates/acme/example.org", false, []string{
				"certificates/acme/example.org/example.org.crt",
				"certificates/acme/example.org/example.org.json",
				"certificates/acme/example.org/example.org.key",
			}},
			{"recursive", "certificates", true, []string{
				"certificates/acme",
				"certificates/acme/example.org",
				"certificates/acme/example.org/example.org.crt",
				"certificates/acme/example.org/example.org.json",
				"certificates/acme/example.org/example.org.key",
				"certificates/acme/other.org",
				"certificates/acme/other.org/other.org.crt",
			}},
			{"root", "", false, []string{"acme", "certificates", "certificatesX", "last_clean.json"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.List(ctx, tc.dir, tc.recursive)
				slices.Sort(got)
				slices.Sort(tc.want)
				if err != nil || !slices.Equal(got, tc.want) {
					t.Errorf("List(%q, %v) = %q, %v; want %q", tc.dir, tc.recursive, got, err, tc.want)
				}
			})
		}
		if _, err := s.List(ctx, "nope", true); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("List(nope) = %v, want fs.ErrNotExist", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		if err := s.Delete(ctx, "nope"); err != nil {
			t.Errorf("Delete(missing) = %v, want nil", err)
		}
		if err := s.Delete(ctx, "certificates/acme/example.org"); err != nil {
			t.Fatalf("Delete(dir) = %v", err)
		}
		if s.Exists(ctx, "certificates/acme/example.org") || s.Exists(ctx, "certificates/acme/example.org/example.org.key") {
			t.Errorf("directory still exists after Delete")
		}
		if !s.Exists(ctx, "certificates/acme/other.org/other.org.crt") || !s.Exists(ctx, "certificatesX") {
			t.Errorf("Delete removed keys outside the directory")
		}
		if err := s.Delete(ctx, "last_clean.json"); err != nil || s.Exists(ctx, "last_clean.json") {
			t.Errorf("Delete(file) = %v, still exists %v", err, s.Exists(ctx, "last_clean.json"))
		}
		if _, err := s.Stat(ctx, "last_clean.json"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(deleted) = %v, want fs.ErrNotExist", err)
		}
	})
}

func TestCertLocks(t *testing.T) {
	t.Parallel()
	s := storetest.Open(t).CertStorage()
	tl := s.(certmagic.TryLocker)
	ctx := t.Context()

	if err := s.Lock(ctx, "issue_cert_example.org"); err != nil {
		t.Fatal(err)
	}
	if ok, err := tl.TryLock(ctx, "issue_cert_example.org"); ok || err != nil {
		t.Errorf("TryLock(held) = %v, %v; want false", ok, err)
	}
	if ok, err := tl.TryLock(ctx, "other"); !ok || err != nil {
		t.Errorf("TryLock(free) = %v, %v; want true", ok, err)
	}
	// A waiter gives up when its context ends.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := s.Lock(short, "issue_cert_example.org"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock(held, short ctx) = %v, want DeadlineExceeded", err)
	}
	// A waiter gets the lock once it is released.
	got := make(chan error)
	go func() { got <- s.Lock(ctx, "issue_cert_example.org") }()
	if err := s.Unlock(ctx, "issue_cert_example.org"); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Errorf("waiting Lock = %v", err)
	}
	if err := s.Unlock(ctx, "issue_cert_example.org"); err != nil {
		t.Error(err)
	}
	if err := s.Unlock(ctx, "issue_cert_example.org"); err == nil {
		t.Errorf("Unlock(not held) = nil, want error")
	}
	if err := s.Unlock(ctx, "other"); err != nil {
		t.Error(err)
	}
}
