package retention_test

import (
	"strings"
	"testing"
	"time"

	"chatbx/retention"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	until := time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		edit      func(*retention.Config)
		in        retention.CheckInput
		wantWarns []string // substrings, one per warning, in order
		wantInfo  []string // substrings of some info line
	}{
		{
			name: "defaults",
			in:   retention.CheckInput{LogDir: "/data/logs"},
			wantInfo: []string{
				"retention.uploads = 30d", "retention.web_errors = 30d", "retention.connection_logs = 24h",
				"retention.offline = 30d", "retention.maintenance_max = 24h",
				"log files in /data/logs", "new file every 1h", "new file every 24h",
				"server log line is deleted at most 24h after it was written (worst case; at least 22h50m",
				"web error log line is deleted at most 30d after it was written (worst case; at least 28d23h50m",
				"offline message not picked up is deleted at most 30d after", "uploaded file is deleted at most 30d after",
				"nothing is logged to standard output", "IPv4 to /24, IPv6 to /48", "maintenance is off",
			},
		},
		{
			name:      "longer than promised",
			edit:      func(c *retention.Config) { c.ConnectionLogs = 48 * time.Hour; c.Uploads = 60 * day },
			wantWarns: []string{"retention.uploads = 60d is longer than the privacy policy's 30d", "retention.connection_logs = 2d is longer than the privacy policy's 24h"},
		},
		{
			name:     "shorter is fine",
			edit:     func(c *retention.Config) { c.ConnectionLogs = 5 * time.Second; c.WebErrors = 10 * time.Second },
			wantInfo: []string{"retention.connection_logs = 5s", "server log line is deleted at most 5s after it was written (worst case; at least 3s"},
		},
		{
			name:      "shorter than bucket plus tick",
			edit:      func(c *retention.Config) { c.ConnectionLogs = time.Second },
			wantWarns: []string{"retention.connection_logs = 1s is shorter than its file length plus sweep interval (1s + 1s)"},
			wantInfo:  []string{"server log line is deleted at most 1s after it was written (worst case; at least 0s"},
		},
		{
			name:      "invalid",
			edit:      func(c *retention.Config) { c.Offline = 0 },
			wantWarns: []string{"retention.offline = 0s is below one second"},
		},
		{
			name:      "stderr",
			in:        retention.CheckInput{Stderr: true},
			wantWarns: []string{"log.stderr is on"},
		},
		{
			name:     "stderr in dev",
			in:       retention.CheckInput{Stderr: true, Dev: true},
			wantInfo: []string{"standard error (--dev)"},
		},
		{
			name:      "maintenance on",
			in:        retention.CheckInput{MaintenanceOn: true, MaintenanceUntil: until},
			wantWarns: []string{"maintenance is on until 2026-11-27T18:00:00Z"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := retention.DefaultConfig()
			if tc.edit != nil {
				tc.edit(&cfg)
			}
			lines := retention.Check(cfg, tc.in)
			var warns, all []string
			for _, l := range lines {
				all = append(all, l.Text)
				if l.Warn {
					warns = append(warns, l.Text)
				}
			}
			if len(warns) != len(tc.wantWarns) {
				t.Errorf("Check warnings = %q, want %d", warns, len(tc.wantWarns))
			}
			for i, w := range tc.wantWarns {
				if i < len(warns) && !strings.Contains(warns[i], w) {
					t.Errorf("warning %d = %q, want it to contain %q", i, warns[i], w)
				}
			}
			text := strings.Join(all, "\n")
			for _, s := range tc.wantInfo {
				if !strings.Contains(text, s) {
					t.Errorf("Check output lacks %q:\n%s", s, text)
				}
			}
		})
	}
}
