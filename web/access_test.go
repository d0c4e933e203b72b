package web

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/acl"
)

// TestAccessRowsGroupPorts: grants group by source and destination, in the
// grants' order; protocols come tcp, udp, icmp, then by number; ports in
// numeric order without duplicates; "*" stands for every port.
func TestAccessRowsGroupPorts(t *testing.T) {
	gs := []acl.Access{
		{Src: "alice@x", Dst: "cam", Proto: "tcp", Ports: "443"},
		{Src: "alice@x", Dst: "cam", Proto: "tcp", Ports: "554"},
		{Src: "alice@x", Dst: "cam", Proto: "tcp", Ports: "80"},
		{Src: "alice@x", Dst: "cam", Proto: "udp", Ports: "5353"},
		{Src: "alice@x", Dst: "cam", Proto: "icmp", Ports: "*"},
		{Src: "tag:gw", Dst: "cam", Proto: "47", Ports: "*"},
		{Src: "tag:gw", Dst: "cam", Proto: "tcp", Ports: "8000-8080"},
		{Src: "tag:gw", Dst: "cam", Proto: "tcp", Ports: "22"},
		{Src: "tag:gw", Dst: "cam", Proto: "tcp", Ports: "22"},
		{Src: "tag:gw", Dst: "cam", Proto: "udp", Ports: "*"},
		{Src: "tag:gw", Dst: "cam", Proto: "udp", Ports: "53"},
		{Src: "alice@x", Dst: "cam (10.0.0.0/24)", Proto: "tcp", Ports: "9000"},
	}
	want := []accessRow{
		{Src: "alice@x", Ports: "tcp 80, 443, 554; udp 5353; icmp"},
		{Src: "tag:gw", Ports: "tcp 22, 8000-8080; udp all ports; proto 47"},
		{Src: "alice@x", Dst: "cam (10.0.0.0/24)", Ports: "tcp 9000"},
	}
	if diff := cmp.Diff(want, accessRows(gs, "cam")); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if got := accessRows(nil, "cam"); len(got) != 0 {
		t.Errorf("no grants: %v", got)
	}
}
