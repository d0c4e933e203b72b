package dnsname

import (
	"errors"
	"strings"
	"testing"
)

func TestLabel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"camera-3", "camera-3"},
		{"Camera_3.plant.local", "camera-3-plant-local"},
		{"--x--", "x"},
		{"", "node"},
		{"ÄÖÜ", "node"},
		{"a  b", "a-b"},
		{strings.Repeat("a", 39) + "-bcd", strings.Repeat("a", 39)},
		{strings.Repeat("z", 80), strings.Repeat("z", MaxBase)},
	} {
		got := Label(tc.in)
		if got != tc.want {
			t.Errorf("Label(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if err := CheckLabel(got); err != nil {
			t.Errorf("Label(%q) = %q, which CheckLabel refuses: %v", tc.in, got, err)
		}
	}
}

func TestCheckLabel(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"camera-3", true},
		{"3", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},
		{"", false},
		{"-a", false},
		{"a-", false},
		{"Camera", false},
		{"a.b", false},
		{"a_b", false},
		{"a b", false},
	} {
		err := CheckLabel(tc.in)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckLabel(%q) = %v, want ok %v", tc.in, err, tc.ok)
		}
	}
}

func TestCheckDomain(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"ward.internal", true},
		{"internal", true},
		{"a.b.c", true},
		{"", false},
		{"ward.internal.", false},
		{".ward", false},
		{"ward..internal", false},
		{"Ward.internal", false},
		{strings.Repeat("a.", 95) + "a", false},
	} {
		if err := CheckDomain(tc.in); (err == nil) != tc.ok {
			t.Errorf("CheckDomain(%q) = %v, want ok %v", tc.in, err, tc.ok)
		}
	}
}

func TestFQDNAndCanonical(t *testing.T) {
	if got := FQDN("cam", "ward.internal"); got != "cam.ward.internal" {
		t.Errorf("FQDN = %q", got)
	}
	if got := FQDN("cam", ""); got != "cam" {
		t.Errorf("FQDN without domain = %q", got)
	}
	if got := Canonical("Cam.Ward.Internal."); got != "cam.ward.internal" {
		t.Errorf("Canonical = %q", got)
	}
}
