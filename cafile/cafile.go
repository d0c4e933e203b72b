// Package cafile loads the PEM bundle of certificate authorities given with
// --ca-file, the one flag by which every part of Ward that makes TLS
// connections (nodes, the desktop client, `ward admin`, the coordinator's
// identity-provider client) is told to trust a private CA.
package cafile

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// ErrNoCertificate means the file holds no PEM certificate.
var ErrNoCertificate = errors.New("no PEM certificate")

// Load reads a PEM bundle of CA certificates. An empty path gives a nil
// pool, which crypto/tls reads as "the system's roots".
func Load(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ca file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("read ca file %s: %w", path, ErrNoCertificate)
	}
	return pool, nil
}

// Untrusted reports whether err is (or wraps) a TLS certificate that no
// trusted CA signed: the case for --ca-file.
func Untrusted(err error) bool {
	var ua x509.UnknownAuthorityError
	return errors.As(err, &ua)
}

// HTTPClient returns an HTTP client whose TLS connections (1.2 or later)
// trust the CAs of path (the system's when path is empty), with the given
// overall timeout per request (zero: none).
func HTTPClient(path string, timeout time.Duration) (*http.Client, error) {
	roots, err := Load(path)
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	return &http.Client{Transport: t, Timeout: timeout}, nil
}
