// Package devidptest runs a devidp.Provider on 127.0.0.1 for tests and
// drives its HTML login form the way a person's browser would: open the
// authorization URL, fill in the form, answer the one-time code step and
// follow the redirects back to the client.
package devidptest

import (
	"net/http/httptest"
	"testing"

	"github.com/wardnet/ward/devidp"
)

// Server is a provider served by an httptest server on 127.0.0.1.
type Server struct {
	*devidp.Provider
	// URL is the server's base URL (http://127.0.0.1:PORT), without the
	// provider's prefix; the issuer is URL plus the prefix.
	URL string
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
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	cfg.Issuer = base + prefix
	p, err := devidp.New(cfg)
	if err != nil {
		srv.Listener.Close()
		t.Fatalf("start devidp: %v", err)
	}
	srv.Config.Handler = p
	srv.Start()
	t.Cleanup(srv.Close)
	return &Server{Provider: p, URL: base}
}
