// Package devidptest runs a devidp.Provider on 127.0.0.1 for tests and
// drives its HTML login form the way a person's browser would: open the
// authorization URL, fill in the form, answer the one-time code step and
// follow the redirects back to the client.
package devidptest

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/wardnet/ward/devidp"
)

// Server is a provider served by an httptest server on 127.0.0.1.
type Server struct {
	*devidp.Provider
	// URL is the server's base URL (http://127.0.0.1:PORT, or https with
	// StartTLS), without the provider's prefix; the issuer is URL plus the
	// prefix.
	URL string
	// CAFile is a PEM file holding the private CA that signed the
	// server's certificate, which no system trusts; empty unless StartTLS.
	CAFile string
	// transport trusts CAFile; nil for plain http.
	transport http.RoundTripper
}

// NewBrowser returns a Browser with an empty cookie jar that trusts the
// server's CA.
func (s *Server) NewBrowser() *Browser {
	b := NewBrowser()
	if s.transport != nil {
		b.Client.Transport = s.transport
	}
	return b
}

// Start serves a provider built from cfg under devidp.DefaultPrefix on a
// new 127.0.0.1 port. cfg.Issuer is set by Start. The server is closed when
// the test ends. Start fails the test if New refuses cfg.
func Start(t testing.TB, cfg devidp.Config) *Server {
	t.Helper()
	return StartAt(t, devidp.DefaultPrefix, cfg)
}

// StartAt is Start with another prefix ("" serves at the root).
func StartAt(t testing.TB, prefix string, cfg devidp.Config) *Server {
	t.Helper()
	return start(t, prefix, cfg, false)
}

// StartTLS is Start over https, with a certificate for 127.0.0.1 signed by
// a private CA (see Server.CAFile), as an IdP inside a company may be.
func StartTLS(t testing.TB, cfg devidp.Config) *Server {
	t.Helper()
	return start(t, devidp.DefaultPrefix, cfg, true)
}

func start(t testing.TB, prefix string, cfg devidp.Config, tls bool) *Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	scheme := map[bool]string{false: "http://", true: "https://"}[tls]
	base := scheme + srv.Listener.Addr().String()
	cfg.Issuer = base + prefix
	p, err := devidp.New(cfg)
	if err != nil {
		srv.Listener.Close()
		t.Fatalf("start devidp: %v", err)
	}
	srv.Config.Handler = p
	s := &Server{Provider: p, URL: base}
	if tls {
		srv.StartTLS()
		s.CAFile, s.transport = filepath.Join(t.TempDir(), "idp-ca.pem"), srv.Client().Transport
		ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if err := os.WriteFile(s.CAFile, ca, 0o600); err != nil {
			t.Fatal(err)
		}
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return s
}
