package main

import (
	"slices"
	"testing"

	"chatbx/internal/config"
)

// TestAdminHandlersOneConstructor: serve and direct mode get their admin
// commands from newAdminHandlers alone, so direct mode has every command
// of the running server but the ones that read its memory.
func TestAdminHandlersOneConstructor(t *testing.T) {
	t.Parallel()
	a := startTestServer(t, t.TempDir())
	served := a.admin.Handlers().Names()

	cfg, err := config.Load(config.Sources{Dev: true, Flags: map[string]string{
		"data_dir": t.TempDir(), "log.stderr": "false",
	}})
	if err != nil {
		t.Fatal(err)
	}
	direct, closeFn, err := openDirectHandlers(t.Context(), cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	want := slices.DeleteFunc(slices.Clone(served), func(name string) bool {
		return name == "status" || name == "spam-reports" // the running server's memory
	})
	if got := direct.Names(); !slices.Equal(got, want) {
		t.Errorf("direct mode commands = %q, want the served ones %q without status and spam-reports", got, want)
	}
	for _, name := range []string{"status", "user add", "user lock", "invite create", "backup", "import", "maintenance on"} {
		if !slices.Contains(served, name) {
			t.Errorf("serve lacks the admin command %q (has %q)", name, served)
		}
	}
}
