//go:build tools

package main

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/caddyserver/certmagic"
	_ "github.com/chromedp/chromedp"
	_ "github.com/rs/zerolog"
	_ "github.com/yuin/goldmark"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/term"
	_ "golang.org/x/time/rate"
	_ "mellium.im/xmpp"
	_ "mellium.im/sasl"
	_ "golang.org/x/text/secure/precis"
	_ "github.com/skip2/go-qrcode"
)
