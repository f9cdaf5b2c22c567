package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"chatbx/internal/config"
)

// chatbx check warns when push notifications carry sender or text, and
// never prints the TURN secret.
func TestCheckPushAndSecret(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.Sources{Flags: map[string]string{
		"domain": "example.org", "push.include_body": "true", "extdisco.turn_secret": "hunter2",
	}})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	writeCheck(&b, &c, time.Time{})
	if !strings.Contains(b.String(), "push.include_sender or push.include_body is on") {
		t.Errorf("no push warning:\n%s", b.String())
	}
	if strings.Contains(b.String(), "hunter2") {
		t.Errorf("check prints the TURN secret:\n%s", b.String())
	}
}
