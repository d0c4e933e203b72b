package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/node/localapi"
)

func TestParseEndpoints(t *testing.T) {
	tests := []struct {
		in      []string
		want    []netip.AddrPort
		wantErr bool
	}{
		{nil, nil, false},
		{[]string{"127.0.0.1"}, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}, false},
		{[]string{"192.0.2.1:41641", "[2001:db8::1]:7"}, []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:41641"), netip.MustParseAddrPort("[2001:db8::1]:7")}, false},
		{[]string{"cam1:22"}, nil, true},
	}
	for _, tt := range tests {
		got, err := parseEndpoints(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseEndpoints(%q) err = %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
			t.Errorf("parseEndpoints(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestPrintStatus(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	st := localapi.Status{
		Self:        localapi.Self{ID: 3, Name: "op1", FQDN: "op1.ward.internal", IPv4: netip.MustParseAddr("100.64.0.3")},
		Coordinator: "https://coord.example", Connected: true, MapVersion: 9,
		Peers: []localapi.Peer{
			{Name: "cam1", FQDN: "cam1.ward.internal", IPv4: netip.MustParseAddr("100.64.0.1"), Tags: []string{"tag:camera"}, Active: true, Path: "direct",
				Endpoint: netip.MustParseAddrPort("127.0.0.1:5000"), LastHandshake: now.Add(-3 * time.Second), RxBytes: 2048, KeyExpiry: now.Add(time.Hour)},
			{Name: "cam2", IPv4: netip.MustParseAddr("100.64.0.2"), User: "a@example.com", Path: "none", KeyExpiry: now.Add(-time.Minute)},
			{Name: "cam3", IPv4: netip.MustParseAddr("100.64.0.4"), Tags: []string{"tag:camera"}, Active: true, Path: "relay", Relay: "coordinator",
				PathNote: "no direct pong yet (NAT or firewall between the two)"},
		},
		Paths: localapi.Paths{Reflexive: netip.MustParseAddrPort("198.51.100.7:41641"), Relay: "coordinator", RelayConnected: true, RelayTxBytes: 4096},
	}
	st.Peers[0].PathRTT = 1500 * time.Microsecond
	var b bytes.Buffer
	printStatus(&b, st, now)
	out := b.String()
	for _, want := range []string{"op1 (node 3)  op1.ward.internal", "cam1  cam1.ward.internal", "cam2  -", "connected, map version 9", "cam1", "tag:camera", "direct 127.0.0.1:5000", "3s ago", "2.0 KiB", "in 1h0m0s",
		"a@example.com", "inactive (key expired)", "expired 1 minute ago", "1.5ms", "relay coordinator",
		"cam3: no direct pong yet", "reflexive 198.51.100.7:41641; relay coordinator (connected)", "relayed 4.0 KiB out"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
}

func TestNodeProcs(t *testing.T) {
	for _, tc := range []struct {
		name        string
		flag        int
		env, legacy bool
		procs, want int
	}{
		{"half of 2", 0, false, false, 2, 1},
		{"half of 8", 0, false, false, 8, 4},
		{"half of 3, rounded down", 0, false, false, 3, 1},
		{"at least one", 0, false, false, 1, 1},
		{"the flag wins", 3, false, false, 8, 3},
		{"the flag wins over the environment", 2, true, false, 8, 2},
		{"GOMAXPROCS set: the runtime's", 0, true, false, 8, 0},
		{"legacy data path: the runtime's", 0, false, true, 8, 0},
	} {
		if got := nodeProcs(tc.flag, tc.env, tc.legacy, tc.procs); got != tc.want {
			t.Errorf("%s: nodeProcs(%d, %v, %v, %d) = %d, want %d", tc.name, tc.flag, tc.env, tc.legacy, tc.procs, got, tc.want)
		}
	}
}
