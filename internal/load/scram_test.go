package load

import (
	"testing"
)

// TestSCRAMVectors checks the client against RFC 5802 §5 (SHA-1) and
// RFC 7677 §3 (SHA-256).
func TestSCRAMVectors(t *testing.T) {
	tests := []struct {
		mech, nonce, serverFirst, final, serverFinal string
	}{
		{"SCRAM-SHA-1", "fyko+d2lbbFgONRv9qkxdawL",
			"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
			"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="},
		{"SCRAM-SHA-256", "rOprNGfwEbeRWgbNEkqO",
			"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
	}
	cache := &scramCache{}
	for _, tc := range tests {
		t.Run(tc.mech, func(t *testing.T) {
			for round := range 2 { // the second round uses the cache
				s, err := newSCRAM(tc.mech, "user", "pencil", cache)
				if err != nil {
					t.Fatal(err)
				}
				s.nonce, s.first = tc.nonce, "n=user,r="+tc.nonce
				got, err := s.clientFinal([]byte(tc.serverFirst))
				if err != nil || string(got) != tc.final {
					t.Fatalf("round %d: clientFinal = %q, %v; want %q", round, got, err, tc.final)
				}
				if err := s.verify([]byte(tc.serverFinal)); err != nil {
					t.Errorf("verify: %v", err)
				}
				if err := s.verify([]byte("v=AAAA")); err == nil {
					t.Errorf("verify accepted a wrong signature")
				}
			}
		})
	}
	if len(cache.m) != 2 {
		t.Errorf("cache holds %d entries, want 2", len(cache.m))
	}
}

func TestSCRAMBadServerFirst(t *testing.T) {
	for _, in := range []string{
		"r=other,s=QSXCR+Q6sek8bf92,i=4096",
		"r=NONCE,s=QSXCR+Q6sek8bf92,i=4096", // not extended
		"r=NONCEx,s=!!,i=4096",
		"r=NONCEx,s=QSXCR+Q6sek8bf92,i=zero",
	} {
		s, _ := newSCRAM("SCRAM-SHA-1", "user", "pencil", nil)
		s.nonce = "NONCE"
		if _, err := s.clientFinal([]byte(in)); err == nil {
			t.Errorf("clientFinal(%q) succeeded, want an error", in)
		}
	}
}
