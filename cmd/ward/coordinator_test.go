//go:build !ward_omit_coordinator

package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/coordinator"
)

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		in      []string
		want    string
		wantErr bool
	}{
		{nil, "[]", false},
		{[]string{"10.0.0.0/8", "127.0.0.1", "fd00::1/64", "::1"}, "[10.0.0.0/8 127.0.0.1/32 fd00::/64 ::1/128]", false},
		{[]string{"10.1.2.3/8"}, "[10.0.0.0/8]", false},
		{[]string{"::ffff:10.0.0.1"}, "[10.0.0.1/32]", false},
		{[]string{"proxy.example.com"}, "", true},
		{[]string{"10.0.0.0/33"}, "", true},
	}
	for _, tt := range tests {
		got, err := parsePrefixes(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parsePrefixes(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && fmt.Sprint(got) != tt.want {
			t.Errorf("parsePrefixes(%q) = %v, want %s", tt.in, got, tt.want)
		}
	}
}

// TestCoordinatorTrustedProxyFlag: the flag takes a list, comma-separated
// or repeated.
func TestCoordinatorTrustedProxyFlag(t *testing.T) {
	cmd := newCoordinatorCmd()
	if err := cmd.Flags().Parse([]string{"--trusted-proxy", "10.0.0.0/8,127.0.0.1", "--trusted-proxy=fd00::/64", "--login-limit-pending", "8"}); err != nil {
		t.Fatal(err)
	}
	got, err := cmd.Flags().GetStringSlice("trusted-proxy")
	if err != nil || fmt.Sprint(got) != "[10.0.0.0/8 127.0.0.1 fd00::/64]" {
		t.Errorf("--trusted-proxy = %v (%v)", got, err)
	}
	if n, err := cmd.Flags().GetInt("login-limit-pending"); err != nil || n != 8 {
		t.Errorf("--login-limit-pending = %d (%v)", n, err)
	}
}

// TestCoordinatorCAFileFlag: the coordinator's --ca-file reaches its OIDC
// client, and is refused without an --oidc-issuer it could apply to.
func TestCoordinatorCAFileFlag(t *testing.T) {
	parse := func(args ...string) (assembly.Config, error) { return parseOIDCFlags(t, args...) }
	cfg, err := parse("--oidc-issuer", "https://idp.example.com", "--oidc-client-id", "ward", "--ca-file", "/etc/ward/idp-ca.pem")
	if err != nil || cfg.OIDC == nil || cfg.OIDC.CAFile != "/etc/ward/idp-ca.pem" {
		t.Errorf("--ca-file with --oidc-issuer: %v, %+v", err, cfg.OIDC)
	}
	if _, err := parse("--ca-file", "/etc/ward/idp-ca.pem"); err == nil {
		t.Error("--ca-file without --oidc-issuer was accepted")
	}
}

// parseOIDCFlags parses the coordinator's identity-provider flags and
// applies them to a Config.
func parseOIDCFlags(t *testing.T, args ...string) (assembly.Config, error) {
	t.Helper()
	var o oidcFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg := assembly.Config{Config: coordinator.Config{PublicURL: "https://ward.example.com"}}
	err := o.apply(&cfg)
	return cfg, err
}

// TestOIDCRefreshIntervalFlag: --oidc-refresh-interval sets how often
// people are re-checked with the IdP, within bounds, and only where a
// refresh happens at all.
func TestOIDCRefreshIntervalFlag(t *testing.T) {
	idp := []string{"--oidc-issuer", "https://idp.example.com", "--oidc-client-id", "ward"}
	tests := []struct {
		name string
		args []string
		want time.Duration
		ok   bool
	}{
		{"default", append(idp, "--oidc-refresh"), 0, true},
		{"one minute", append(idp, "--oidc-refresh", "--oidc-refresh-interval", "1m"), time.Minute, true},
		{"dev provider", []string{"--oidc-refresh-interval", "2m"}, 2 * time.Minute, true},
		{"too often", append(idp, "--oidc-refresh", "--oidc-refresh-interval", "5s"), 0, false},
		{"too rarely", append(idp, "--oidc-refresh", "--oidc-refresh-interval", "48h"), 0, false},
		{"without --oidc-refresh", append(idp, "--oidc-refresh-interval", "1m"), 0, false},
	}
	for _, tt := range tests {
		cfg, err := parseOIDCFlags(t, tt.args...)
		if (err == nil) != tt.ok || (tt.ok && cfg.RefreshEvery != tt.want) {
			t.Errorf("%s: RefreshEvery %v, err %v; want %v, ok %v", tt.name, cfg.RefreshEvery, err, tt.want, tt.ok)
		}
	}
}

// TestCoordinatorDNSDomainFlag: --dns-domain defaults to ward.internal
// and takes another fleet domain.
func TestCoordinatorDNSDomainFlag(t *testing.T) {
	cmd := newCoordinatorCmd()
	if d, err := cmd.Flags().GetString("dns-domain"); err != nil || d != "ward.internal" {
		t.Errorf("default --dns-domain = %q (%v)", d, err)
	}
	if err := cmd.Flags().Parse([]string{"--dns-domain", "plant.example"}); err != nil {
		t.Fatal(err)
	}
	if d, err := cmd.Flags().GetString("dns-domain"); err != nil || d != "plant.example" {
		t.Errorf("--dns-domain = %q (%v)", d, err)
	}
}
