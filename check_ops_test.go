package main

import (
	"strings"
	"testing"

	"chatbx/internal/config"
)

func opsConfig(t *testing.T, flags map[string]string) Config {
	t.Helper()
	cfg, err := config.Load(config.Sources{Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestMetricsWarnings(t *testing.T) {
	tests := []struct {
		listen string
		want   []string
	}{
		{"", nil},
		{"127.0.0.1:9100", nil},
		{"[::1]:9100", nil},
		{"localhost:9100", nil},
		{":9100", []string{"every interface"}},
		{"0.0.0.0:9100", []string{"every interface"}},
		{"[::]:9100", []string{"every interface"}},
		{"192.0.2.7:9100", []string{"not a loopback address"}},
		{"127.0.0.1:5222", []string{"like c2s.listen"}},
	}
	for _, tc := range tests {
		t.Run(tc.listen, func(t *testing.T) {
			cfg := opsConfig(t, map[string]string{"domain": "example.org", "metrics.listen": tc.listen})
			got := metricsWarnings(&cfg)
			if len(got) != len(tc.want) {
				t.Fatalf("metricsWarnings(%q) = %q, want %d warning(s)", tc.listen, got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("metricsWarnings(%q)[%d] = %q, want %q in it", tc.listen, i, got[i], w)
				}
			}
		})
	}
}

func TestOpsCheck(t *testing.T) {
	cfg := opsConfig(t, map[string]string{
		"domain": "example.org", "web.hosts": "chat.example.org,example.org", "tls.acme": "true",
		"archive.max_age": "90d", "metrics.listen": "127.0.0.1:9100",
	})
	var b strings.Builder
	writeOpsCheck(&b, &cfg)
	out := b.String()
	for _, want := range []string{
		"ACME (tls.acme) orders a certificate for each:\n    example.org\n    chat.example.org\n\n",
		"an archived message is deleted at most 90d after it was archived",
		"user invitations 7d",
		"a locked account's data is kept",
		"http://127.0.0.1:9100/metrics",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
}

// TestOpsConfigKeys: metrics.listen accepts "" and addresses only, and
// accounts.user_invites 0 and positive numbers only.
func TestOpsConfigKeys(t *testing.T) {
	for _, tc := range []struct {
		key, value, want string
	}{
		{"metrics.listen", "nonsense", "invalid listen address"},
		{"metrics.listen", "127.0.0.1:99999", "invalid port"},
		{"accounts.user_invites", "-1", "must not be negative"},
	} {
		_, err := config.Load(config.Sources{Flags: map[string]string{"domain": "example.org", tc.key: tc.value}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s = %q: %v, want an error with %q", tc.key, tc.value, err, tc.want)
		}
	}
	for _, ok := range []map[string]string{{"metrics.listen": ""}, {"accounts.user_invites": "0"}, {"accounts.user_invites": "5"}} {
		ok["domain"] = "example.org"
		if _, err := config.Load(config.Sources{Flags: ok}); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
}
