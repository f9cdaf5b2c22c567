package upload_test

import (
	"net/url"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"chatbx/server/upload"
	"chatbx/server/wire"
)

func TestSanitizeName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("ä", 100) + ".jpeg"
	for _, tc := range []struct{ in, want string }{
		{"my-juliet.jpg", "my-juliet.jpg"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\romeo\photo.png`, "photo.png"},
		{".htaccess", "htaccess"},
		{"..", ""},
		{"", ""},
		{"dir/", ""},
		{"  spaced \t\n name . ", "spaced name"},
		{"a\x00b\x1fc", "abc"},
		{"invoice\u202egpj.exe", "invoicegpj.exe"},
		{"zero\u200bwidth", "zerowidth"},
		{"q?x#y%z&w;v.txt", "q_x_y_z_w_v.txt"},
		{`a:b*c"d<e>f|g`, "a_b_c_d_e_f_g"},
		{"e\u0301t\u00e9.txt", "\u00e9t\u00e9.txt"}, // NFC
		{"bad\xff\xfeutf8", "badutf8"},
		{"\ufffdx", "x"},
		{long, strings.Repeat("ä", 61) + ".jpeg"},
		{strings.Repeat("x", 200), strings.Repeat("x", upload.MaxNameBytes)},
	} {
		if got := upload.SanitizeName(tc.in); got != tc.want {
			t.Errorf("SanitizeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzSanitizeName checks the properties every sanitised name has.
func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{"a.jpg", "../x", "\u202e", "e\u0301", strings.Repeat("ä", 300) + ".x", ". .", "a\\b/c", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := upload.SanitizeName(in)
		if got == "" {
			return
		}
		if !utf8.ValidString(got) {
			t.Fatalf("SanitizeName(%q) = %q: invalid UTF-8", in, got)
		}
		if len(got) > upload.MaxNameBytes {
			t.Fatalf("SanitizeName(%q) = %q: %d bytes", in, got, len(got))
		}
		if strings.ContainsAny(got, `/\?#%`) || got == "." || got == ".." ||
			strings.HasPrefix(got, ".") || strings.HasSuffix(got, ".") || strings.TrimSpace(got) != got {
			t.Fatalf("SanitizeName(%q) = %q: unsafe", in, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
				t.Fatalf("SanitizeName(%q) = %q: contains %U", in, got, r)
			}
		}
		if again := upload.SanitizeName(got); again != got {
			t.Fatalf("SanitizeName not idempotent: %q → %q → %q", in, got, again)
		}
		u := upload.URL("https://x.example/upload/", "id", got)
		p, err := url.Parse(u)
		if err != nil || p.Path != "/upload/id/"+got {
			t.Fatalf("URL(%q) = %q parses to %q, %v", got, u, p.Path, err)
		}
	})
}

// FuzzParseRequest feeds arbitrary attribute values to the request parser:
// it never panics, and what it accepts is well-formed.
func FuzzParseRequest(f *testing.F) {
	f.Add("a.jpg", "100", "image/jpeg")
	f.Add("", "-1", "")
	f.Add("x", "+5", "text/plain; charset=utf-8")
	f.Add("..", "99999999999999999999", "a/b; c")
	f.Fuzz(func(t *testing.T, name, size, ctype string) {
		p := wire.New(upload.NS, "request", "filename", name, "size", size, "content-type", ctype)
		r, reason := upload.ParseRequest(p)
		if reason != "" {
			return
		}
		if r.Name == "" || r.Name != upload.SanitizeName(r.Name) || r.Size < 0 {
			t.Fatalf("ParseRequest(%q, %q, %q) = %+v", name, size, ctype, r)
		}
		if again, ok := upload.NormalizeContentType(r.ContentType); !ok || again != r.ContentType {
			t.Fatalf("content type %q does not normalise to itself (%q, %v)", r.ContentType, again, ok)
		}
	})
}
