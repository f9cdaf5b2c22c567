package config

import (
	"strings"
	"testing"
	"time"
)

// The push and extdisco sections: defaults, mapping, and service URIs
// checked when loaded.
func TestPushAndExtDisco(t *testing.T) {
	c, err := Load(Sources{Dev: true, Environ: []string{
		"CHATBX_PUSH_INCLUDE_SENDER=true", "CHATBX_PUSH_MAX_REGISTRATIONS=0",
		"CHATBX_EXTDISCO_SERVICES=stun:stun.example.org,turn:turn.example.org:3478?transport=udp",
		"CHATBX_EXTDISCO_TURN_SECRET=s",
	}})
	if err != nil {
		t.Fatal(err)
	}
	p := c.PushConfig()
	if !p.IncludeSender || p.IncludeBody || p.MaxRegistrations >= 0 || p.MinInterval != 2*time.Second {
		t.Errorf("PushConfig() = %+v", p)
	}
	if e := c.ExtDiscoConfig(); len(e.Services) != 2 || e.Secret != "s" || e.TTL != 6*time.Hour {
		t.Errorf("ExtDiscoConfig() = %+v", e)
	}
	_, err = Load(Sources{Dev: true, Environ: []string{"CHATBX_EXTDISCO_SERVICES=http://turn.example.org"}})
	if err == nil || !strings.Contains(err.Error(), "extdisco.services") {
		t.Errorf("bad service URI: %v", err)
	}
}

// Integer keys marked nonneg accept the 0 their documentation promises
// ("0 switches the cap off"); others still refuse it.
func TestNonnegIntegers(t *testing.T) {
	for _, env := range []string{"CHATBX_C2S_ROSTER_MAX=0", "CHATBX_PUSH_MAX_REGISTRATIONS=0", "CHATBX_UPLOAD_MAX_PER_DAY=0"} {
		if _, err := Load(Sources{Dev: true, Environ: []string{env}}); err != nil {
			t.Errorf("%s: %v", env, err)
		}
	}
	for _, env := range []string{"CHATBX_C2S_OFFLINE_MAX=0", "CHATBX_C2S_ROSTER_MAX=-1"} {
		if _, err := Load(Sources{Dev: true, Environ: []string{env}}); err == nil {
			t.Errorf("%s accepted", env)
		}
	}
}

// The TURN secret is never printed (chatbx check prints every key).
func TestSecretNotShown(t *testing.T) {
	c, err := Load(Sources{Dev: true, Environ: []string{"CHATBX_EXTDISCO_TURN_SECRET=hunter2"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys() {
		if strings.Contains(k.Format(&c), "hunter2") {
			t.Errorf("%s shows the secret", k.Name)
		}
	}
}
