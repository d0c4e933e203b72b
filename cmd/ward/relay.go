//go:build !ward_omit_relay

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/cafile"
	"github.com/wardnet/ward/relay/relayd"
	"github.com/wardnet/ward/wire"
)

// relayFlags are `ward relay`'s flags.
type relayFlags struct {
	coordinator, listen, name  string
	tlsCert, tlsKey            string
	credentialFile, caFile     string
	stunListen                 string
	dev, insecureHTTP, verbose bool
}

func newRelayCmd() *cobra.Command {
	var f relayFlags
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Run a standalone relay registered with a coordinator (ward admin relays add)",
		Long: "Runs a relay for nodes that cannot reach each other directly, in another region\n" +
			"than the coordinator. It is closed by default: it admits a node only with a token\n" +
			"the coordinator signed, and forwards a packet only between nodes the coordinator\n" +
			"says are peers, over a feed it holds to the coordinator with its relay credential\n" +
			"(--credential-file, or WARD_RELAY_CREDENTIAL). While that feed is down it refuses.\n" +
			"Plain HTTP needs --dev and a loopback --listen address; otherwise give --tls-cert\n" +
			"and --tls-key.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRelay(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.coordinator, "coordinator", envOr("WARD_COORDINATOR", ""), "coordinator URL (https://host[:port])")
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8443", "address to serve the relay on ("+wire.PathRelay+")")
	fl.StringVar(&f.name, "name", "", "the relay's registered name, checked against the coordinator's (optional)")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate (PEM)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "TLS private key (PEM)")
	fl.StringVar(&f.credentialFile, "credential-file", "", "file holding the relay credential (default: WARD_RELAY_CREDENTIAL)")
	fl.StringVar(&f.caFile, "ca-file", os.Getenv("WARD_CA_FILE"), "PEM CA certificates that verify the coordinator (default: WARD_CA_FILE, else the system's)")
	fl.StringVar(&f.stunListen, "stun-listen", "", "UDP address to answer STUN Binding requests on (\"\": off)")
	fl.BoolVar(&f.dev, "dev", false, "development mode: allow plain HTTP on a loopback --listen address")
	fl.BoolVar(&f.insecureHTTP, "dev-insecure-http", false, "allow a plain-http coordinator that is not on loopback; the credential crosses the network in clear (development only)")
	fl.BoolVar(&f.verbose, "verbose", false, "log debug events")
	return cmd
}

// runRelay runs `ward relay` until a signal.
func runRelay(cmd *cobra.Command, f relayFlags) error {
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := f.config(log)
	if err != nil {
		return usageError{cmd, err}
	}
	r, err := relayd.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.stunListen != "" {
		if _, err := serveSTUN(ctx, []string{f.stunListen}, log); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	if f.tlsCert != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS13}
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	go r.Run(ctx)
	log.Info("relay listening", "addr", ln.Addr().String(), "tls", f.tlsCert != "", "name", f.name)
	if f.tlsCert != "" {
		err = srv.ServeTLS(ln, f.tlsCert, f.tlsKey)
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// config checks the flags and makes the relay's configuration.
func (f relayFlags) config(log *slog.Logger) (relayd.Config, error) {
	if f.coordinator == "" {
		return relayd.Config{}, errors.New("--coordinator is required")
	}
	base, err := adminBaseURL(f.coordinator, f.insecureHTTP)
	if err != nil {
		return relayd.Config{}, err
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return relayd.Config{}, errors.New("--tls-cert and --tls-key go together")
	}
	host, _, err := net.SplitHostPort(f.listen)
	if err != nil {
		return relayd.Config{}, fmt.Errorf("--listen %q: %w", f.listen, err)
	}
	if f.tlsCert == "" && (!f.dev || !loopbackHost(host)) {
		return relayd.Config{}, fmt.Errorf("--listen %s without TLS: node tokens would cross the network in clear; give --tls-cert and --tls-key (or, on loopback, --dev)", f.listen)
	}
	cred, err := readCredential(f.credentialFile)
	if err != nil {
		return relayd.Config{}, err
	}
	// No overall timeout: the feed is one long-lived request.
	hc, err := cafile.HTTPClient(f.caFile, 0)
	if err != nil {
		return relayd.Config{}, fmt.Errorf("--ca-file: %w", err)
	}
	hc.CheckRedirect = refuseRedirect
	return relayd.Config{Coordinator: base, Credential: cred, HTTPClient: hc, Name: f.name, Logger: log}, nil
}

// readCredential reads the relay credential from path, else from
// WARD_RELAY_CREDENTIAL.
func readCredential(path string) (string, error) {
	if path == "" {
		if c := strings.TrimSpace(os.Getenv("WARD_RELAY_CREDENTIAL")); c != "" {
			return c, nil
		}
		return "", errors.New("no relay credential: give --credential-file or set WARD_RELAY_CREDENTIAL (ward admin relays add prints it once)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--credential-file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
