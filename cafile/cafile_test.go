package cafile

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestLoad(t *testing.T) {
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	tests := []struct {
		name, path string
		pool       bool
		wantErr    error
	}{
		{"none", "", false, nil},
		{"a CA", good, true, nil},
		{"not PEM", write("junk.pem", []byte("hello")), false, ErrNoCertificate},
		{"missing", filepath.Join(dir, "nope.pem"), false, os.ErrNotExist},
	}
	for _, tt := range tests {
		pool, err := Load(tt.path)
		if (pool != nil) != tt.pool || (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
			t.Errorf("%s: pool %v, err %v; want pool %v, err %v", tt.name, pool != nil, err, tt.pool, tt.wantErr)
		}
	}
	// The client trusts the CA it was given, and only it.
	hc, err := HTTPClient(good, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hc.Get(srv.URL); err != nil {
		t.Errorf("get with the server's CA: %v", err)
	}
	hc, _ = HTTPClient("", 0)
	_, err = hc.Get(srv.URL)
	if !Untrusted(err) {
		t.Errorf("get with the system's roots: %v, want an untrusted certificate", err)
	}
	if Untrusted(fmt.Errorf("x: %w", x509.CertificateInvalidError{})) || Untrusted(errors.New("x")) {
		t.Error("Untrusted took another error for an unknown authority")
	}
}
