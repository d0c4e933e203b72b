//go:build !ward_omit_coordinator

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"testing"
)

// TestCoordinatorSTUNListenFlag: STUN listens on --listen's address unless
// --stun-listen says otherwise; "" turns it off; the alt port adds one.
func TestCoordinatorSTUNListenFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"127.0.0.1:8080"}},
		{[]string{"--listen", "0.0.0.0:443"}, []string{"0.0.0.0:443"}},
		{[]string{"--stun-listen="}, nil},
		{[]string{"--stun-listen", ":3478", "--stun-listen-alt", ":3479"}, []string{":3478", ":3479"}},
		{[]string{"--stun-listen-alt", ":8081"}, []string{"127.0.0.1:8080", ":8081"}},
	} {
		cmd := newCoordinatorCmd()
		if err := cmd.Flags().Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if got := stunAddrs(cmd.Flags()); !slices.Equal(got, tc.want) {
			t.Errorf("%q: STUN on %q, want %q", tc.args, got, tc.want)
		}
	}
}

// TestNetcheckAgainstCoordinatorSTUN runs `ward netcheck --json` against
// the coordinator's STUN listeners (main and alt) over loopback: both see
// one mapping, so the report says endpoint-independent with UDP working.
func TestNetcheckAgainstCoordinatorSTUN(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bound, err := serveSTUN(ctx, []string{"127.0.0.1:0", "127.0.0.1:0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"netcheck", "--json", "--stun", bound[0].String(), "--stun", bound[1].String()})
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatal(err)
	}
	var r netcheckJSON
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	if r.NAT != "endpoint-independent" || !r.UDP || len(r.Reflexive) != 1 || len(r.Servers) != 2 {
		t.Fatalf("report %s", out.Bytes())
	}
	if ap := netip.MustParseAddrPort(r.Reflexive[0]); !ap.Addr().IsLoopback() {
		t.Fatalf("reflexive %s", ap)
	}
}

func TestNetcheckDefaultsToCoordinator(t *testing.T) {
	for _, tc := range []struct {
		coordinator string
		stun        []string
		want        []string
		wantErr     bool
	}{
		{"http://127.0.0.1:8080", nil, []string{"127.0.0.1:8080"}, false},
		{"https://ward.example.com", nil, []string{"ward.example.com:443"}, false},
		{"https://[::1]:8443/", nil, []string{"[::1]:8443"}, false},
		{"https://ward.example.com", []string{"a:1", "b:2"}, []string{"a:1", "b:2"}, false},
		{"ward.example.com", nil, nil, true},
	} {
		got, err := stunServers(tc.coordinator, tc.stun)
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("%s %q: %q, %v", tc.coordinator, tc.stun, got, err)
		}
	}
}
