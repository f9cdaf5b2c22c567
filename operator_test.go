package main

import (
	"bytes"
	"context"
	"io"
	"maps"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"chatbx/internal/config"
)

// TestOperatorErrors: only error lines that name no user or address
// reach standard error.
func TestOperatorErrors(t *testing.T) {
	var b bytes.Buffer
	log := zerolog.New(zerolog.MultiLevelWriter(io.Discard, operatorErrors{&b}))
	log.Info().Msg("serving")
	log.Warn().Msg("queue full")
	log.Error().Str("component", "certs").Err(io.ErrUnexpectedEOF).Msg("certificate order failed")
	log.Error().Str("user", "alice").Msg("store offline message")
	log.Error().Str("ip_anon", "192.0.2.0").Msg("something")
	got := b.String()
	if !strings.Contains(got, "certificate order failed") {
		t.Errorf("operator error missing: %q", got)
	}
	for _, no := range []string{"serving", "queue full", "alice", "192.0.2"} {
		if strings.Contains(got, no) {
			t.Errorf("standard error has %q: %q", no, got)
		}
	}
}

// TestStartBanner: `chatbx serve` says what runs where on standard error.
func TestStartBanner(t *testing.T) {
	dir := t.TempDir()
	flags := map[string]string{
		"data_dir":         dir,
		"c2s.listen":       "127.0.0.1:0",
		"c2s.listen_tls":   "127.0.0.1:0",
		"s2s.listen":       "127.0.0.1:0",
		"s2s.listen_tls":   "127.0.0.1:0",
		"web.listen_https": "127.0.0.1:0",
		"web.listen_http":  "127.0.0.1:0",
		"log.stderr":       "false",
	}
	cfg, err := config.Load(config.Sources{Dev: true, Flags: maps.Clone(flags)})
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	ctx, cancel := context.WithCancel(t.Context())
	a, err := startApp(ctx, cfg, &stderr)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.run(ctx, io.Discard) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-a.served:
	case err := <-done:
		t.Fatalf("server ended before serving: %v", err)
	}
	got := stderr.String()
	for _, want := range []string{"serving localhost", a.addrs.xmpp()[0].String() + " (STARTTLS)",
		a.addrs.https.String(), "/xmpp-websocket", dir, "24h",
		a.addrs.s2s()[0].String() + " (STARTTLS)", "(federation)", "group chat:   conference.localhost"} {
		if !strings.Contains(got, want) {
			t.Errorf("banner lacks %q:\n%s", want, got)
		}
	}
}
