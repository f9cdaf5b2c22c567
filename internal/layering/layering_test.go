package layering

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// rule forbids packages under from (the path or below it) to depend,
// directly or not, on packages under any of to.
type rule struct {
	from string
	to   []string
}

var rules = []rule{
	{"chatbx/web", []string{"chatbx/server"}},
	{"chatbx/server", []string{"chatbx/web"}},
	{"chatbx/store", []string{"chatbx/server", "chatbx/web", "chatbx/retention"}},
	// The admin socket protocol is shared by serve and direct mode; the
	// parts' commands are wired in main.
	{"chatbx/internal/admin", []string{"chatbx/server", "chatbx/web"}},
}

// under reports whether pkg is path or a package below it.
func under(pkg, path string) bool { return pkg == path || strings.HasPrefix(pkg, path+"/") }

// violations returns the broken rules in deps (package → its
// dependencies, from go list -deps) and the importers of main.
func violations(deps map[string][]string, mains map[string]bool) []string {
	var out []string
	for pkg, ds := range deps {
		for _, d := range ds {
			if mains[d] {
				out = append(out, pkg+" imports package main "+d)
			}
			for _, r := range rules {
				if !under(pkg, r.from) {
					continue
				}
				for _, to := range r.to {
					if under(d, to) {
						out = append(out, pkg+" depends on "+d+" ("+r.from+" must not import "+to+")")
					}
				}
			}
		}
	}
	return out
}

// TestImportRules fails on a forbidden import, direct or indirect, of any
// package of the module. Test files are not checked: integration tests
// beside the code (web/upload's end-to-end test drives server/upload's
// slots) may join the parts, as main does.
func TestImportRules(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed: %v", err)
	}
	// One line per package of the module: path, name, then its
	// dependencies.
	cmd := exec.Command(goBin, "list", "-deps", "-f",
		`{{if .Module}}{{if eq .Module.Path "chatbx"}}{{.ImportPath}} {{.Name}}{{range .Deps}} {{.}}{{end}}{{end}}{{end}}`,
		"chatbx/...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	deps := map[string][]string{}
	mains := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(outb))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		pkg, name := f[0], f[1]
		if name == "main" {
			mains[pkg] = true
		}
		deps[pkg] = append(deps[pkg], f[2:]...)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"chatbx", "chatbx/store", "chatbx/web/account", "chatbx/server/register", "chatbx/internal/admin"} {
		if _, ok := deps[want]; !ok {
			t.Fatalf("go list did not list %s: the walk is broken", want)
		}
	}
	for _, v := range violations(deps, mains) {
		t.Error(v)
	}
}

// TestViolations: the checker finds each kind of forbidden import, and
// passes allowed ones (web/upload on internal/accounts, a command's main
// on server, a prefix that is not a path below: chatbx/serverless).
func TestViolations(t *testing.T) {
	deps := map[string][]string{
		"chatbx/web/account":      {"chatbx/server/wire"},
		"chatbx/server/register":  {"chatbx/web/account"},
		"chatbx/store":            {"chatbx/retention/logs"},
		"chatbx/retention":        {"chatbx"},
		"chatbx/web/upload":       {"chatbx/internal/accounts", "chatbx/store"},
		"chatbx/server/load/cmd":  {"chatbx/server"},
		"chatbx/web/serverless":   {"chatbx/serverless"},
		"chatbx/internal/admin":   {"chatbx/store", "chatbx/web/account"},
		"chatbx/server/disco":     {"chatbx/server/wire"},
		"chatbx/store/storetest":  {"chatbx/store"},
		"chatbx/server/xmpptest":  {"chatbx/server/wire"},
		"chatbx/web/browsertest":  {"chatbx/web"},
		"chatbx/server/c2s":       {"chatbx/store", "chatbx/internal/guard"},
		"chatbx/internal/layerng": {"chatbx/server/xmpptest"},
	}
	mains := map[string]bool{"chatbx": true, "chatbx/server/load/cmd": true}
	got := violations(deps, mains)
	want := []string{
		"chatbx/web/account depends on chatbx/server/wire",
		"chatbx/server/register depends on chatbx/web/account",
		"chatbx/store depends on chatbx/retention/logs",
		"chatbx/retention imports package main chatbx",
		"chatbx/internal/admin depends on chatbx/web/account",
	}
	if len(got) != len(want) {
		t.Errorf("violations = %q, want %d", got, len(want))
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || strings.HasPrefix(g, w)
		}
		if !found {
			t.Errorf("violations %q lack %q", got, w)
		}
	}
}
