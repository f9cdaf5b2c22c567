package accounts

import "testing"

func TestWellFormed(t *testing.T) {
	tests := map[string]bool{
		`<a/>`:                        true,
		` <a xmlns='x'><b>t</b></a> `: true,
		`<a/><b/>`:                    false,
		`text`:                        false,
		`<a>`:                         false,
		`<?pi x?><a/>`:                false,
		`<!DOCTYPE a><a/>`:            false,
		`<a/>tail`:                    false,
		"<a>\x00</a>":                 false,
		`<a></b>`:                     false,
	}
	for in, want := range tests {
		if got := wellFormed([]byte(in)); got != want {
			t.Errorf("wellFormed(%q) = %v, want %v", in, got, want)
		}
	}
}
