package devidp_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/devidp"
)

var okClients = []devidp.Client{{ID: "ward", Secret: "s", RedirectURIs: []string{"http://127.0.0.1:8080/cb"}}}

func TestNewRefusesNonLoopback(t *testing.T) {
	tests := []struct {
		issuer, listen string
	}{
		{"http://10.0.0.1/dev-idp", ""},
		{"http://192.168.1.10:8080/dev-idp", ""},
		{"https://idp.example.com", ""},
		{"http://0.0.0.0:8080", ""},
		{"http://[::]:8080", ""},
		{"http://localhost.example.com", ""},
		{"http://127.0.0.1:8080/dev-idp", ":8080"},
		{"http://127.0.0.1:8080/dev-idp", "0.0.0.0:8080"},
		{"http://127.0.0.1:8080/dev-idp", "[::]:8080"},
		{"http://127.0.0.1:8080/dev-idp", "100.64.0.1:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.issuer+" "+tt.listen, func(t *testing.T) {
			_, err := devidp.New(devidp.Config{Issuer: tt.issuer, ListenAddr: tt.listen, Clients: okClients})
			if !errors.Is(err, devidp.ErrNotLoopback) {
				t.Fatalf("New: err = %v, want ErrNotLoopback", err)
			}
			if !strings.Contains(err.Error(), "not loopback") {
				t.Errorf("error %q does not say why", err)
			}
		})
	}
}

func TestNewAcceptsLoopback(t *testing.T) {
	for _, iss := range []string{"http://127.0.0.1:8080/dev-idp", "http://127.0.0.2", "http://[::1]:9/x", "http://localhost:8080/dev-idp/", "https://LOCALHOST"} {
		p, err := devidp.New(devidp.Config{Issuer: iss, ListenAddr: "127.0.0.1:8080", Clients: okClients})
		if err != nil {
			t.Errorf("New(%q): %v", iss, err)
			continue
		}
		if p.Issuer() != strings.TrimSuffix(iss, "/") {
			t.Errorf("Issuer() = %q", p.Issuer())
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	iss := "http://127.0.0.1:8080/dev-idp"
	tests := []struct {
		name string
		cfg  devidp.Config
	}{
		{"no issuer", devidp.Config{Clients: okClients}},
		{"query in issuer", devidp.Config{Issuer: iss + "?a=b", Clients: okClients}},
		{"ftp issuer", devidp.Config{Issuer: "ftp://127.0.0.1", Clients: okClients}},
		{"no clients", devidp.Config{Issuer: iss}},
		{"client without id", devidp.Config{Issuer: iss, Clients: []devidp.Client{{RedirectURIs: []string{"http://127.0.0.1/cb"}}}}},
		{"client without redirect", devidp.Config{Issuer: iss, Clients: []devidp.Client{{ID: "a"}}}},
		{"relative redirect", devidp.Config{Issuer: iss, Clients: []devidp.Client{{ID: "a", RedirectURIs: []string{"/cb"}}}}},
		{"duplicate client", devidp.Config{Issuer: iss, Clients: append(okClients, okClients...)}},
		{"negative lifetime", devidp.Config{Issuer: iss, Clients: okClients, TokenLifetime: -time.Second}},
		{"bad listen addr", devidp.Config{Issuer: iss, Clients: okClients, ListenAddr: "127.0.0.1"}},
		{"duplicate user", devidp.Config{Issuer: iss, Clients: okClients, Users: append(devidp.DefaultUsers(), devidp.DefaultUsers()[0])}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := devidp.New(tt.cfg); err == nil {
				t.Fatal("New succeeded, want an error")
			}
		})
	}
}

func TestParseUsers(t *testing.T) {
	src := `{
		// demo fleet operators
		"users": [
			{"username": "alice", "password": "pw", "email": "alice@corp.example", "groups": ["ops"], "mfa": true},
			{"username": "bob", "password": "pw", "email": "bob@corp.example", "name": "Bob", "subject": "u-2",
			 "email_verified": false, "mfa": true, "otp": "24681357"},
			{"username": "carol", "password": "pw", "email": "carol@corp.example", "mfa": true, "totp_secret": "JBSWY3DPEHPK3PXP"},
		],
	}`
	got, err := devidp.ParseUsers([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tru, fls := true, false
	want := []devidp.User{
		{Username: "alice", Password: "pw", Subject: "alice", Email: "alice@corp.example", EmailVerified: &tru, Name: "alice", Groups: []string{"ops"}, MFA: true, OTP: devidp.DefaultOTP},
		{Username: "bob", Password: "pw", Subject: "u-2", Email: "bob@corp.example", EmailVerified: &fls, Name: "Bob", Groups: []string{}, MFA: true, OTP: "24681357"},
		{Username: "carol", Password: "pw", Subject: "carol", Email: "carol@corp.example", EmailVerified: &tru, Name: "carol", Groups: []string{}, MFA: true, TOTPSecret: "JBSWY3DPEHPK3PXP"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
}

func TestParseUsersRejects(t *testing.T) {
	tests := map[string]string{
		"not json":          `{users: [`,
		"unknown field":     `{"users": [{"username": "a", "password": "p", "email": "a@x", "admin": true}]}`,
		"no users":          `{"users": []}`,
		"no password":       `{"users": [{"username": "a", "email": "a@x"}]}`,
		"bad email":         `{"users": [{"username": "a", "password": "p", "email": "a"}]}`,
		"empty group":       `{"users": [{"username": "a", "password": "p", "email": "a@x", "groups": [""]}]}`,
		"otp without mfa":   `{"users": [{"username": "a", "password": "p", "email": "a@x", "otp": "123456"}]}`,
		"short otp":         `{"users": [{"username": "a", "password": "p", "email": "a@x", "mfa": true, "otp": "123"}]}`,
		"otp and totp":      `{"users": [{"username": "a", "password": "p", "email": "a@x", "mfa": true, "otp": "123456", "totp_secret": "JBSWY3DPEHPK3PXP"}]}`,
		"bad totp secret":   `{"users": [{"username": "a", "password": "p", "email": "a@x", "mfa": true, "totp_secret": "!!"}]}`,
		"duplicate subject": `{"users": [{"username": "a", "password": "p", "email": "a@x", "subject": "s"}, {"username": "b", "password": "p", "email": "b@x", "subject": "s"}]}`,
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := devidp.ParseUsers([]byte(src)); !errors.Is(err, devidp.ErrInvalidUsers) {
				t.Fatalf("err = %v, want ErrInvalidUsers", err)
			}
		})
	}
}

// TestTOTP checks the RFC 6238 appendix B SHA-1 vectors (last 6 digits).
func TestTOTP(t *testing.T) {
	key := []byte("12345678901234567890")
	vectors := map[int64]string{59: "287082", 1111111109: "081804", 1111111111: "050471", 1234567890: "005924", 2000000000: "279037", 20000000000: "353130"}
	for sec, want := range vectors {
		if got := devidp.TOTP(key, time.Unix(sec, 0)); got != want {
			t.Errorf("TOTP(%d) = %s, want %s", sec, got, want)
		}
	}
}

func TestLoadUsers(t *testing.T) {
	path := t.TempDir() + "/users.hujson"
	if err := os.WriteFile(path, []byte(`{"users": [{"username": "a", "password": "p", "email": "a@x"},]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	users, err := devidp.LoadUsers(path)
	if err != nil || len(users) != 1 || users[0].Username != "a" {
		t.Fatalf("LoadUsers = %+v, %v", users, err)
	}
	if _, err := devidp.LoadUsers(path + ".missing"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}
