package config

import (
	"fmt"
	"strings"
)

// Docs renders docs/configuration.md from the key table.
func Docs() string {
	def, dev := DefaultConfig(), DevConfig()
	var b strings.Builder
	b.WriteString(`# Configuration

<!-- Generated from internal/config: run "go test -run TestConfigDocs -update ./internal/config" (or "chatbx config docs"). Do not edit by hand. -->

chatbx reads its configuration from four places; a later one wins:

1. built-in defaults (production, or development with ` + "`--dev`" + `),
2. one TOML file: ` + "`--config FILE`" + ` (or the environment variable ` + "`CHATBX_CONFIG`" + `),
3. environment variables ` + "`CHATBX_*`" + `,
4. command-line flags.

Every key has all three forms, by one mechanical rule: the key ` + "`a.b_c`" + ` is the flag
` + "`--a-b-c`" + ` and the environment variable ` + "`CHATBX_A_B_C`" + `. For example ` + "`c2s.listen_tls`" + ` is
` + "`--c2s-listen-tls`" + ` and ` + "`CHATBX_C2S_LISTEN_TLS`" + `, and ` + "`data_dir`" + ` is ` + "`--data-dir`" + `.
In the file, the part before the first dot is a table: ` + "`c2s.listen_tls`" + ` is ` + "`listen_tls`" + ` under ` + "`[c2s]`" + `.

Unknown keys in the file, unknown ` + "`CHATBX_*`" + ` variables (only ` + "`CHATBX_CONFIG`" + ` and
` + "`CHATBX_BENCH_PASSWORD`" + `, read by ` + "`chatbx bench`" + `, are not keys), unknown flags and invalid values are
errors that name the key; chatbx then exits with status 1 (2 for a mistake on the command line).
The user commands (` + "`chatbx user …`" + `) read the same configuration, so ` + "`--config`" + `, ` + "`--data-dir`" + `
and ` + "`--dev`" + ` work there too. ` + "`chatbx check`" + ` prints the effective value of every key and where it came from.

## Value syntax

- **string**: TOML string; flag and environment take the text as is.
- **list of strings**: TOML array of strings (` + "`[\"a\", \"b\"]`" + `); flags and environment variables separate the elements with commas (` + "`a,b`" + `).
- **integer**, **bool** (` + "`true`" + `/` + "`false`" + `).
- **duration**: a string in Go syntax plus days: ` + "`30d`" + `, ` + "`1d12h`" + `, ` + "`24h`" + `, ` + "`5m`" + `, ` + "`20s`" + `, ` + "`500ms`" + `. Must be greater than zero unless the key says otherwise.
- **size**: bytes, as an integer or a string with a unit: ` + "`262144`" + `, ` + "`\"256KiB\"`" + `, ` + "`\"1MiB\"`" + ` (also kB, MB, GB for powers of ten).

## Development mode

` + "`chatbx serve --dev`" + ` changes the defaults (every one can still be overridden): domain ` + "`localhost`" + `,
data directory ` + "`./chatbx-data`" + `, all listeners on 127.0.0.1 with unprivileged ports, no ACME (a
self-signed certificate for the domain and every web host is generated once) and logs also on
standard error.

## Keys

| key | type | default | default with ` + "`--dev`" + ` |
|---|---|---|---|
`)
	for _, k := range configKeys {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s | %s |\n", k.Name, anchor(k.Name), k.Kind, docDefault(k, &def), docDefault(k, &dev))
	}
	section := ""
	for _, k := range configKeys {
		if s, _, ok := strings.Cut(k.Name, "."); ok && s != section {
			section = s
			fmt.Fprintf(&b, "\n## [%s]\n", s)
		}
		fmt.Fprintf(&b, "\n### `%s`\n\n%s\n\n", k.Name, k.Doc)
		fmt.Fprintf(&b, "- type: %s", k.Kind)
		if len(k.Enum) > 0 {
			fmt.Fprintf(&b, ", one of `%s`", strings.Join(k.Enum, "`, `"))
		}
		fmt.Fprintf(&b, "\n- default: %s", docDefault(k, &def))
		if d1, d2 := docDefault(k, &def), docDefault(k, &dev); d1 != d2 {
			fmt.Fprintf(&b, "; with `--dev`: %s", d2)
		}
		fmt.Fprintf(&b, "\n- flag: `--%s`\n- environment: `%s`\n", k.Flag(), k.Env())
	}
	b.WriteString("\n## Example\n\nA production file (`/etc/chatbx/chatbx.toml`) needs only the domain and the contacts:\n\n```toml\n")
	b.WriteString(`domain = "example.org"
data_dir = "/var/lib/chatbx"

[contact]
admin = ["mailto:admin@example.org", "xmpp:operator@example.org"]
abuse = ["mailto:abuse@example.org"]

[tls]
acme_email = "admin@example.org"
`)
	b.WriteString("```\n")
	return b.String()
}

// docDefault renders a default for the documentation.
func docDefault(k Key, c *Config) string {
	if k.DefaultDoc != "" && !c.dev {
		return k.DefaultDoc
	}
	if k.DefaultDoc != "" && c.dev {
		// Derived defaults follow the dev domain.
		switch k.Name {
		case "web.hosts":
			return "`[\"" + devDomain + "\"]`"
		case "service_name":
			return "`\"" + devDomain + "\"`"
		}
	}
	return "`" + k.Format(c) + "`"
}

// anchor is the GitHub-style heading anchor of a key's section.
func anchor(name string) string {
	return strings.NewReplacer(".", "", "_", "_").Replace(name)
}
