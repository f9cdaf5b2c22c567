package account

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tk := tokens{key: []byte("0123456789abcdef0123456789abcdef"), ttl: time.Hour}
	other := tokens{key: []byte("fedcba9876543210fedcba9876543210"), ttl: time.Hour}
	long := tokens{key: tk.key, ttl: 48 * time.Hour}
	good := tk.issue("delete", now)
	tests := []struct {
		name, form, tok string
		at              time.Time
		want            error
	}{
		{"valid", "delete", good, now.Add(59 * time.Minute), nil},
		{"missing", "delete", "", now, errTokenMissing},
		{"expired", "delete", good, now.Add(time.Hour), errTokenExpired},
		{"other form", "export", good, now, errTokenForged},
		{"other key", "delete", other.issue("delete", now), now, errTokenForged},
		{"too far ahead", "delete", long.issue("delete", now), now, errTokenForged},
		{"truncated", "delete", good[:len(good)-2], now, errTokenForged},
		{"not base64", "delete", strings.Repeat("*", 54), now, errTokenForged},
		{"too long", "delete", strings.Repeat("A", 200), now, errTokenForged},
	}
	for _, tc := range tests {
		if err := tk.check(tc.form, tc.tok, tc.at); err != tc.want {
			t.Errorf("%s: check(%q, %q) = %v, want %v", tc.name, tc.form, tc.tok, err, tc.want)
		}
	}
}

func TestSameOrigin(t *testing.T) {
	tests := []struct {
		name       string
		site, orig string
		want       bool
	}{
		{"no headers", "", "", true},
		{"same-origin", "same-origin", "", true},
		{"none", "none", "", true},
		{"same-site", "same-site", "", false},
		{"cross-site", "cross-site", "", false},
		{"origin null", "same-origin", "null", true},
		{"origin same", "", "http://example.test", true},
		{"origin same, upper case", "", "http://EXAMPLE.test", true},
		{"origin https on http", "", "https://example.test", false},
		{"origin other", "", "http://evil.test", false},
		{"origin other port", "", "http://example.test:8080", false},
		{"origin with path", "", "http://example.test/x", false},
		{"origin garbage", "", "::", false},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("POST", "http://example.test/account/delete", nil)
		if tc.site != "" {
			r.Header.Set("Sec-Fetch-Site", tc.site)
		}
		if tc.orig != "" {
			r.Header.Set("Origin", tc.orig)
		}
		if got := sameOrigin(r); got != tc.want {
			t.Errorf("%s: sameOrigin(Sec-Fetch-Site %q, Origin %q) = %v, want %v", tc.name, tc.site, tc.orig, got, tc.want)
		}
	}
}

func TestIPKey(t *testing.T) {
	tests := map[string]string{
		"192.0.2.7:1234":            "192.0.2.7",
		"[2001:db8:1:2:3::4]:443":   "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::]:443": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.7]:1":      "192.0.2.7",
		"garbage":                   "garbage",
	}
	for in, want := range tests {
		if got := ipKey(in); got != want {
			t.Errorf("ipKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestThrottleForgets(t *testing.T) {
	now := time.Unix(0, 0)
	th := newThrottle(time.Minute, 2)
	for i := range maxThrottleEntries + 10 {
		if done, _, blocked := th.begin("ip"+string(rune(i)), "u"+string(rune(i)), now); !blocked {
			done(true)
		}
	}
	if len(th.ips) > maxThrottleEntries || len(th.users) > maxThrottleEntries {
		t.Errorf("%d ip limiters kept, want at most %d", len(th.ips), maxThrottleEntries)
	}
}

func FuzzParseForm(f *testing.F) {
	f.Add([]byte("token=abc&username=alice&password=x%20y&confirm=yes"))
	f.Add([]byte("a=1&a=2"))
	f.Add([]byte("%zz=1"))
	f.Add([]byte("&&=&"))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := parseForm(body)
		if err != nil {
			return
		}
		if len(got) > maxFields {
			t.Fatalf("parseForm kept %d fields", len(got))
		}
		// Round trip: encoding the result parses to the same form.
		v := url.Values{}
		for k, x := range got {
			if len(x) > maxFieldBytes {
				t.Fatalf("value of %d bytes kept", len(x))
			}
			v.Set(k, x)
		}
		again, err := parseForm([]byte(v.Encode()))
		if err != nil && len(v.Encode()) <= maxFormBytes {
			t.Fatalf("re-encoded form %q: %v", v.Encode(), err)
		}
		if err == nil {
			for k, x := range got {
				if again[k] != x {
					t.Fatalf("round trip of %q: %q, want %q", k, again[k], x)
				}
			}
		}
	})
}

func FuzzToken(f *testing.F) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tk := tokens{key: []byte("0123456789abcdef0123456789abcdef"), ttl: time.Hour}
	good := tk.issue("delete", now)
	f.Add(good)
	f.Add("")
	f.Add(good[:10])
	f.Add(strings.Repeat("A", tokenLen*4/3+1))
	f.Fuzz(func(t *testing.T, s string) {
		err := tk.check("delete", s, now)
		if err == nil && s != good {
			// Only the issued token (or an encoding of the same bytes) passes.
			exp, mac, perr := parseToken(s)
			gexp, gmac, _ := parseToken(good)
			if perr != nil || exp != gexp || string(mac) != string(gmac) {
				t.Fatalf("check accepted %q", s)
			}
		}
	})
}

func TestThrottleBegin(t *testing.T) {
	now := time.Unix(1000, 0)
	th := newThrottle(time.Minute, 2)
	// Successes cost nothing.
	for i := range 10 {
		done, _, blocked := th.begin("ip", "alice", now)
		if blocked {
			t.Fatalf("success %d blocked", i)
		}
		done(true)
	}
	// Two failures use the allowance up, for the account and the address.
	for i := range 2 {
		done, _, blocked := th.begin("ip", "alice", now)
		if blocked {
			t.Fatalf("failure %d blocked", i)
		}
		done(false)
	}
	if _, wait, blocked := th.begin("ip2", "alice", now); !blocked || wait != time.Minute {
		t.Errorf("account after 2 failures: blocked %v, wait %v; want true, 1m", blocked, wait)
	}
	if _, _, blocked := th.begin("ip", "bob", now); !blocked {
		t.Error("address after 2 failures not blocked")
	}
	// Pending attempts count: with one left, the second parallel one waits.
	done, _, blocked := th.begin("ip3", "carol", now)
	if blocked {
		t.Fatal("first attempt blocked")
	}
	done2, _, blocked2 := th.begin("ip3", "carol", now)
	if blocked2 {
		t.Fatal("second attempt blocked")
	}
	if _, _, blocked := th.begin("ip3", "carol", now); !blocked {
		t.Error("third parallel attempt not blocked")
	}
	done(false)
	done2(false)
	if _, _, blocked := th.begin("ip", "alice", now.Add(time.Minute)); blocked {
		t.Error("still blocked after a minute")
	}
}

// TestTranslations checks that every public message has a German text
// with the same format verbs.
func TestTranslations(t *testing.T) {
	all := []string{msgCrossSite, msgBadForm, msgNoToken, msgForged, msgExpired, msgAuth, msgThrottled,
		msgInternal, msgConfirmDelete, msgMismatch, msgPasswordRule, msgPasswordDone, msgArchiveUnavailable,
		msgArchiveAction, msgConfirmPurge, msgArchiveOn, msgArchiveOff, msgPurged, msgInviteInvalid,
		msgUsernameRule, msgUsernameTaken, msgCreated, msgRegThrottled, "%d minutes", "1 second", "%d seconds"}
	for _, v := range titles {
		all = append(all, v)
	}
	verbs := func(s string) string {
		var b strings.Builder
		for i := 0; i+1 < len(s); i++ {
			if s[i] == '%' {
				b.WriteString(s[i : i+2])
			}
		}
		return b.String()
	}
	for _, m := range all {
		de, ok := german[m]
		if !ok {
			t.Errorf("no German text for %q", m)
			continue
		}
		if verbs(de) != verbs(m) {
			t.Errorf("German %q has verbs %q, English %q has %q", de, verbs(de), m, verbs(m))
		}
	}
}

func TestPickLang(t *testing.T) {
	tests := []struct{ query, accept, want string }{
		{"", "", "en"},
		{"", "de", "de"},
		{"", "de-DE,de;q=0.9,en;q=0.8", "de"},
		{"", "en-US,en;q=0.9,de;q=0.8", "en"},
		{"", "fr, de;q=0.5", "de"},
		{"", "de;q=bogus, en;q=0.1", "en"},
		{"lang=de", "en", "de"},
		{"lang=xx", "de", "de"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/account/?"+tc.query, nil)
		r.Header.Set("Accept-Language", tc.accept)
		if got := pickLang(r); got != tc.want {
			t.Errorf("pickLang(?%s, %q) = %q, want %q", tc.query, tc.accept, got, tc.want)
		}
	}
}
