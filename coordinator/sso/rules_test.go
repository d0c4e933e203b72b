package sso

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCheckMFA(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		groups []string
		amr    []string
		acr    string
		ok     bool
	}{
		{"not required", Config{}, nil, []string{"pwd"}, "", true},
		{"required, otp", Config{RequireMFA: true}, nil, []string{"pwd", "otp"}, "", true},
		{"required, mfa", Config{RequireMFA: true}, nil, []string{"mfa"}, "", true},
		{"required, hardware key", Config{RequireMFA: true}, nil, []string{"hwk"}, "", true},
		{"required, password only", Config{RequireMFA: true}, nil, []string{"pwd"}, "", false},
		{"required, no amr", Config{RequireMFA: true}, nil, nil, "", false},
		{"required, pin is no second factor", Config{RequireMFA: true}, nil, []string{"pwd", "pin"}, "", false},
		{"group requires, in group", Config{MFAGroups: []string{"ops"}}, []string{"dev", "ops"}, []string{"pwd"}, "", false},
		{"group requires, not in group", Config{MFAGroups: []string{"ops"}}, []string{"dev"}, []string{"pwd"}, "", true},
		{"acr meets numeric minimum", Config{RequireMFA: true, MinACR: "2"}, nil, []string{"pwd"}, "3", true},
		{"acr below numeric minimum", Config{RequireMFA: true, MinACR: "2"}, nil, []string{"pwd"}, "1", false},
		{"acr equals named level", Config{RequireMFA: true, MinACR: "phrh"}, nil, nil, "phrh", true},
		{"acr other named level", Config{RequireMFA: true, MinACR: "phrh"}, nil, nil, "phr", false},
		{"custom methods exclude otp", Config{RequireMFA: true, MFAMethods: []string{"hwk"}}, nil, []string{"otp"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &settings{Config: tt.cfg}
			var err error
			if s.mfaGroups, err = set("g", tt.cfg.MFAGroups); err != nil {
				t.Fatal(err)
			}
			methods := tt.cfg.MFAMethods
			if methods == nil {
				methods = DefaultMFAMethods()
			}
			if s.mfaMethods, err = set("m", methods); err != nil {
				t.Fatal(err)
			}
			err = s.checkMFA(tt.groups, tt.amr, tt.acr)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrMFARequired)) {
				t.Fatalf("checkMFA = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestParseGroups(t *testing.T) {
	tests := []struct {
		raw     string
		want    []string
		wantErr bool
	}{
		{`["ops","admins","ops",""]`, []string{"admins", "ops"}, false},
		{`"ops"`, []string{"ops"}, false},
		{`[]`, nil, false},
		{`null`, nil, false},
		{``, nil, false},
		{`[1,2]`, nil, true},
		{`{"a":1}`, nil, true},
	}
	for _, tt := range tests {
		var raw json.RawMessage
		if tt.raw != "" {
			raw = json.RawMessage(tt.raw)
		}
		got, err := parseGroups("groups", raw)
		if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrTokenInvalid)) {
			t.Errorf("parseGroups(%s): err %v, wantErr %v", tt.raw, err, tt.wantErr)
		}
		if !cmp.Equal(got, tt.want) {
			t.Errorf("parseGroups(%s) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}

func TestCheckEmail(t *testing.T) {
	tests := []struct {
		email, verified string
		trust           bool // Config.TrustUnverifiedEmail
		want            error
	}{
		{"a@example.com", `true`, false, nil},
		{"a@example.com", `"true"`, false, nil},
		{"a@example.com", ``, false, ErrEmailUnverified},
		{"a@example.com", `null`, false, ErrEmailUnverified},
		{"a@example.com", ``, true, nil},
		{"a@example.com", `false`, false, ErrEmailUnverified},
		{"a@example.com", `false`, true, ErrEmailUnverified},
		{"a@example.com", `"false"`, false, ErrEmailUnverified},
		{"a@example.com", `1`, false, ErrEmailUnverified},
		{"a@evil.com", `true`, false, ErrDomainNotAllowed},
		{"a@sub.example.com", `true`, false, ErrDomainNotAllowed},
		{"a@example.com@evil.com", `true`, false, ErrDomainNotAllowed},
		{"", ``, true, ErrDomainNotAllowed},
	}
	for _, tt := range tests {
		rp := &RP{cfg: &settings{Config: Config{TrustUnverifiedEmail: tt.trust}, domains: map[string]bool{"example.com": true}}}
		var v json.RawMessage
		if tt.verified != "" {
			v = json.RawMessage(tt.verified)
		}
		if err := rp.checkEmail(tt.email, v); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("checkEmail(%q, %s, trust %v) = %v, want %v", tt.email, tt.verified, tt.trust, err, tt.want)
		}
	}
}
