// Command loadserver runs chatbx's XMPP server alone for load measurements
// (docs/PERFORMANCE.md): the same server.New as `chatbx serve`, with a
// generated P-256 test certificate, a store file, the connection log in a
// file, optional pprof, and the per-IP connection throttle switched off so
// one load generator on 127.0.0.1 is not mistaken for an attack.
//
//	loadserver --data /tmp/lsrv --provision 5000 --users user --password secret \
//	    --addr 127.0.0.1:25222 --domain load.test --pprof 127.0.0.1:6060
//
// Clients trust <data>/ca.pem (or use --insecure). Only loopback addresses
// are accepted. SIGINT or SIGTERM shuts it down.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"chatbx/internal/load"
	"chatbx/retention/logs"
	"chatbx/server"
	"chatbx/store"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadserver:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:25222", "c2s STARTTLS listener (loopback only)")
	addrTLS := flag.String("addr-tls", "127.0.0.1:25223", "c2s direct TLS listener (loopback only)")
	domain := flag.String("domain", "load.test", "XMPP domain")
	data := flag.String("data", "", "data directory: chatbx.db, ca.pem, conn.log (required)")
	provision := flag.Int("provision", 0, "create accounts <users>0..<users>N-1 before serving")
	onlyProvision := flag.Bool("provision-only", false, "exit after provisioning")
	users := flag.String("users", "user", "account name prefix")
	password := flag.String("password", "secret", "password of the provisioned accounts")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this loopback address")
	pidFile := flag.String("pidfile", "", "write the process ID here once listening")
	plus := flag.Bool("sasl-plus", false, "offer the SCRAM -PLUS variants")
	flag.Parse()
	if *data == "" {
		return fmt.Errorf("--data is required")
	}
	for _, a := range []string{*addr, *addrTLS, *pprofAddr} {
		if err := loopback(a); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *provision > 0 {
		pdb, err := store.Open(filepath.Join(*data, "chatbx.db"), store.Options{NoSync: true})
		if err != nil {
			return err
		}
		t := time.Now()
		created, existed, err := load.Provision(ctx, pdb, *users, *password, *provision)
		if cerr := pdb.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "provisioned %d accounts (%d existed) in %s\n", created, existed, time.Since(t).Round(time.Millisecond))
		if *onlyProvision {
			return nil
		}
	}

	db, err := store.Open(filepath.Join(*data, "chatbx.db"), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	leaf, err := certificate(*domain, filepath.Join(*data, "ca.pem"))
	if err != nil {
		return err
	}
	tcfg := &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12}
	direct := tcfg.Clone()
	direct.NextProtos = []string{"xmpp-client"}
	connLog, err := os.OpenFile(filepath.Join(*data, "conn.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer connLog.Close()

	cfg := server.DefaultConfig()
	cfg.Domain = *domain
	cfg.C2SListen, cfg.C2SListenTLS = *addr, *addrTLS
	cfg.SASLPlus = *plus
	// The throttle is per anonymised network; every client of one load
	// generator comes from 127.0.0.0/24.
	cfg.ConnPerSecond, cfg.ConnBurst = 1e9, 1e9
	cfg.AuthFailBurst = 1 << 20 // load comes from one address
	// No connection caps: the load generator decides how many.
	cfg.MaxConnections, cfg.MaxUnauthenticated = 1<<30, 1<<30
	srv, err := server.New(cfg, server.Deps{
		DB:        db,
		Log:       zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Logger(),
		ConnLog:   zerolog.New(connLog).With().Timestamp().Logger(),
		Anon:      logs.NewAnonymizer(time.Now),
		StartTLS:  func(string) *tls.Config { return tcfg },
		DirectTLS: direct,
	})
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		hs := &http.Server{Addr: *pprofAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go hs.ListenAndServe()
		defer hs.Close()
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		return err
	}
	if *pidFile != "" {
		if err := os.WriteFile(*pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "loadserver: pid %d, c2s %s, direct tls %s, domain %s\n", os.Getpid(), srv.Addrs()[0], srv.Addrs()[1], *domain)
	return <-done
}

// loopback refuses listen addresses outside the loopback network.
func loopback(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%s: only loopback addresses", addr)
	}
	return nil
}

// certificate makes a P-256 test CA, writes its certificate to caFile and
// returns a leaf for domain signed by it.
func certificate(domain, caFile string) (tls.Certificate, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chatbx load CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: domain},
		DNSNames: []string{domain}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
