package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wardnet/ward/apicall"
	"github.com/wardnet/ward/cafile"
)

// adminClient calls the coordinator's admin API with an API key.
type adminClient struct {
	base string
	key  string
	http *http.Client
}

// adminFlags are the connection flags every `ward admin` command shares.
type adminFlags struct {
	coordinator string
	keyFile     string
	caFile      string
	asJSON      bool
	// insecureHTTP allows plain http to a coordinator not on loopback
	// (--dev-insecure-http).
	insecureHTTP bool
	// dial, when not nil, replaces the client's dialer (tests: to see
	// that nothing is dialled).
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// client builds an adminClient. The API key comes from WARD_API_KEY or a
// file (never a flag, which ps would show). A plain http coordinator URL
// is refused before anything is read or sent unless it is on loopback or
// --dev-insecure-http is given: the key would cross the network in clear.
func (f *adminFlags) client() (*adminClient, error) {
	base, err := adminBaseURL(f.coordinator, f.insecureHTTP)
	if err != nil {
		return nil, err
	}
	key := strings.TrimSpace(os.Getenv("WARD_API_KEY"))
	if key == "" {
		path := f.keyFile
		if path == "" {
			path = defaultAdminKeyFile()
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("no API key: set WARD_API_KEY or --api-key-file (%w)", err)
		}
		key = strings.TrimSpace(string(b))
	}
	hc, err := cafile.HTTPClient(f.caFile, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	// The admin API never redirects; following one would carry the API key
	// (Go keeps Authorization on a same-host redirect) wherever it points,
	// plain http included.
	hc.CheckRedirect = refuseRedirect
	if t, ok := hc.Transport.(*http.Transport); ok && f.dial != nil {
		t.DialContext = f.dial
	}
	return &adminClient{base: base, key: key, http: hc}, nil
}

// adminBaseURL checks the --coordinator URL: https, or plain http to a
// loopback host, or to any host with insecureHTTP (--dev-insecure-http).
func adminBaseURL(raw string, insecureHTTP bool) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("--coordinator %q: want https://host[:port]", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !insecureHTTP && !loopbackHost(u.Hostname()) {
			return "", fmt.Errorf("--coordinator %s: refusing plain http to %s, which is not loopback: the API key would cross the network in clear; "+
				"use https (or, for development only, --dev-insecure-http)", raw, u.Hostname())
		}
	default:
		return "", fmt.Errorf("--coordinator %q: want an https:// URL", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// loopbackHost reports whether host is "localhost" or a loopback address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// maxAdminAnswer bounds an admin API answer (the audit log, the fleet).
const maxAdminAnswer = 64 << 20

// do sends a JSON request and decodes a JSON answer into out (if non-nil).
// A refusal is an *apicall.Error with the coordinator's message and, for a
// policy, its problems.
func (c *adminClient) do(ctx context.Context, method, path string, in, out any) error {
	return apicall.Do(ctx, c.http, apicall.Request{Method: method, URL: c.base + path, Token: c.key, Body: in,
		MaxAnswer: maxAdminAnswer, Server: "coordinator"}, out)
}

// sentPolicyName is what the coordinator calls a policy text sent to it,
// in its problems ("policy:3:7: ...").
const sentPolicyName = "policy"

// inFile returns err, when it is a refused policy, with its problems placed
// in file, the file the text came from, so that an editor can jump to
// them; any other error as it is.
func inFile(err error, file string) error { return inFileNamed(err, file, sentPolicyName) }

// inFileNamed is inFile for a text the coordinator calls sent in its
// problems.
func inFileNamed(err error, file, sent string) error {
	var ae *apicall.Error
	if !errors.As(err, &ae) || len(ae.Problems) == 0 {
		return err
	}
	out := *ae
	out.Message, out.Problems = file+": "+ae.Message, nil
	for _, p := range ae.Problems {
		if rest, ok := strings.CutPrefix(p, sent+":"); ok {
			p = file + ":" + rest
		}
		out.Problems = append(out.Problems, p)
	}
	return &out
}

// refuseRedirect makes an HTTP client return a redirect as the answer,
// never follow it.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// run wraps an admin action with client setup.
func run(f *adminFlags, fn func(cmd *cobra.Command, c *adminClient, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := f.client()
		if err != nil {
			return err
		}
		return fn(cmd, c, args)
	}
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// addFlags adds the flags that reach the admin API to fs.
func (f *adminFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.coordinator, "coordinator", envOr("WARD_COORDINATOR", "http://127.0.0.1:8080"), "coordinator URL")
	fs.StringVar(&f.keyFile, "api-key-file", "", "file holding the API key (default: WARD_API_KEY, else the coordinator's bootstrap key file)")
	fs.StringVar(&f.caFile, "ca-file", os.Getenv("WARD_CA_FILE"), "PEM CA certificates that verify the coordinator (default: WARD_CA_FILE, else the system's)")
	fs.BoolVar(&f.asJSON, "json", false, "print results as JSON")
	fs.BoolVar(&f.insecureHTTP, "dev-insecure-http", false,
		"allow a plain-http coordinator that is not on loopback; the API key crosses the network in clear (development only)")
}
