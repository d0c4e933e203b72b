package tunnel

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestAssignments(t *testing.T) {
	v4 := netip.MustParseAddr("100.64.1.2")
	v6 := netip.MustParseAddr("fd7a:115c:a1e0:ab12::2")
	tests := []struct {
		name    string
		v4, v6  netip.Addr
		want    []assignment
		wantErr string
	}{
		{"both", v4, v6, []assignment{
			{addr: v4, route: netip.MustParsePrefix("100.64.0.0/10")},
			{addr: v6, route: netip.MustParsePrefix("fd7a:115c:a1e0::/48"), optional: true},
		}, ""},
		{"ipv4 only", v4, netip.Addr{}, []assignment{{addr: v4, route: netip.MustParsePrefix("100.64.0.0/10")}}, ""},
		{"ipv6 only", netip.Addr{}, netip.MustParseAddr("fd00:1:2:3::9"), []assignment{
			{addr: netip.MustParseAddr("fd00:1:2:3::9"), route: netip.MustParsePrefix("fd00:1:2::/48"), optional: true},
		}, ""},
		{"none", netip.Addr{}, netip.Addr{}, nil, ""},
		{"ipv6 as the ipv4 address", v6, netip.Addr{}, nil, "not IPv4"},
		{"ipv4-mapped as the ipv4 address", netip.MustParseAddr("::ffff:100.64.1.2"), netip.Addr{}, nil, "not IPv4"},
		{"ipv4 as the ipv6 address", v4, v4, nil, "not a plain IPv6"},
		{"ipv4-mapped as the ipv6 address", v4, netip.MustParseAddr("::ffff:100.64.1.2"), nil, "not a plain IPv6"},
		{"zoned ipv6", v4, netip.MustParseAddr("fe80::1%eth0"), nil, "not a plain IPv6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := assignments(tt.v4, tt.v6)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("assignments(%v, %v) = %v, %v; want an error saying %q", tt.v4, tt.v6, got, err, tt.wantErr)
				}
				return
			}
			opts := cmp.Options{cmp.AllowUnexported(assignment{}), cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, opts); diff != "" {
				t.Errorf("assignments(%v, %v) (-want +got):\n%s", tt.v4, tt.v6, diff)
			}
		})
	}
}

// TestOverlayIPv4 pins the overlay range the coordinator hands addresses
// from, and checks it is a fresh value.
func TestOverlayIPv4(t *testing.T) {
	p := OverlayIPv4()
	if p != netip.MustParsePrefix("100.64.0.0/10") || !p.Contains(netip.MustParseAddr("100.127.255.255")) || p.Contains(netip.MustParseAddr("100.128.0.0")) {
		t.Fatalf("OverlayIPv4() = %v", p)
	}
}

func TestNewLink(t *testing.T) {
	tests := []struct {
		name     string
		mtu      int
		wantName string
		wantMTU  int
		ok       bool
	}{
		{"", 0, DefaultName, DefaultMTU, true},
		{"wardtest1", 1500, "wardtest1", 1500, true},
		{"wardtest2", 1280, "wardtest2", 1280, true},
		{"wardtest3", 65535, "wardtest3", 65535, true},
		{"small", 1279, "", 0, false},
		{"negative", -1, "", 0, false},
		{"huge", 65536, "", 0, false},
	}
	for _, tt := range tests {
		l, err := New(tt.name, tt.mtu, nil)
		if !tt.ok {
			if err == nil {
				t.Errorf("New(%q, %d) accepted", tt.name, tt.mtu)
			}
			continue
		}
		if err != nil || l.name != tt.wantName || l.mtu != tt.wantMTU || l.log == nil {
			t.Errorf("New(%q, %d) = %+v, %v", tt.name, tt.mtu, l, err)
			continue
		}
		if n := l.InterfaceName(); n != "" {
			t.Errorf("InterfaceName before Open = %q", n)
		}
	}
}
