package tunnel

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// osAssignments are the assignments the command builders are tested with.
func osAssignments(t *testing.T, v4, v6 string) []assignment {
	t.Helper()
	var a4, a6 netip.Addr
	if v4 != "" {
		a4 = netip.MustParseAddr(v4)
	}
	if v6 != "" {
		a6 = netip.MustParseAddr(v6)
	}
	as, err := assignments(a4, a6)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// TestIfconfigCommands pins the macOS utun's configuration: host
// addresses (IPv4 point to point to itself), the overlay ranges routed
// to the interface, IPv6 optional, up last.
func TestIfconfigCommands(t *testing.T) {
	tests := []struct {
		name   string
		v4, v6 string
		want   []command
	}{
		{"both", "100.64.1.2", "fd7a:115c:a1e0:ab12::2", []command{
			{args: []string{"ifconfig", "utun7", "mtu", "1280"}},
			{args: []string{"ifconfig", "utun7", "inet", "100.64.1.2/32", "100.64.1.2", "alias"}},
			{args: []string{"route", "-q", "-n", "add", "-inet", "100.64.0.0/10", "-interface", "utun7"}},
			{args: []string{"ifconfig", "utun7", "inet6", "fd7a:115c:a1e0:ab12::2/128", "alias"}, optional: true},
			{args: []string{"route", "-q", "-n", "add", "-inet6", "fd7a:115c:a1e0::/48", "-interface", "utun7"}, optional: true},
			{args: []string{"ifconfig", "utun7", "up"}},
		}},
		{"ipv4 only", "100.64.1.2", "", []command{
			{args: []string{"ifconfig", "utun7", "mtu", "1280"}},
			{args: []string{"ifconfig", "utun7", "inet", "100.64.1.2/32", "100.64.1.2", "alias"}},
			{args: []string{"route", "-q", "-n", "add", "-inet", "100.64.0.0/10", "-interface", "utun7"}},
			{args: []string{"ifconfig", "utun7", "up"}},
		}},
		{"none", "", "", []command{
			{args: []string{"ifconfig", "utun7", "mtu", "1280"}},
			{args: []string{"ifconfig", "utun7", "up"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ifconfigCommands("utun7", 1280, osAssignments(t, tt.v4, tt.v6))
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(command{})); diff != "" {
				t.Errorf("ifconfigCommands (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNetshCommands pins the Windows Wintun adapter's configuration:
// MTU per family, host addresses, the overlay ranges routed to the
// adapter, nothing stored past the adapter's life, IPv6 optional.
func TestNetshCommands(t *testing.T) {
	tests := []struct {
		name   string
		v4, v6 string
		want   []command
	}{
		{"both", "100.64.1.2", "fd7a:115c:a1e0:ab12::2", []command{
			{args: []string{"netsh", "interface", "ipv4", "set", "subinterface", "Ward", "mtu=1400", "store=active"}},
			{args: []string{"netsh", "interface", "ipv6", "set", "subinterface", "Ward", "mtu=1400", "store=active"}, optional: true},
			{args: []string{"netsh", "interface", "ipv4", "add", "address", "name=Ward", "address=100.64.1.2/32", "store=active"}},
			{args: []string{"netsh", "interface", "ipv4", "add", "route", "prefix=100.64.0.0/10", "interface=Ward", "store=active"}},
			{args: []string{"netsh", "interface", "ipv6", "add", "address", "interface=Ward", "address=fd7a:115c:a1e0:ab12::2/128", "store=active"}, optional: true},
			{args: []string{"netsh", "interface", "ipv6", "add", "route", "prefix=fd7a:115c:a1e0::/48", "interface=Ward", "store=active"}, optional: true},
		}},
		{"ipv4 only", "100.64.1.2", "", []command{
			{args: []string{"netsh", "interface", "ipv4", "set", "subinterface", "Ward", "mtu=1400", "store=active"}},
			{args: []string{"netsh", "interface", "ipv4", "add", "address", "name=Ward", "address=100.64.1.2/32", "store=active"}},
			{args: []string{"netsh", "interface", "ipv4", "add", "route", "prefix=100.64.0.0/10", "interface=Ward", "store=active"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := netshCommands("Ward", 1400, osAssignments(t, tt.v4, tt.v6))
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(command{})); diff != "" {
				t.Errorf("netshCommands (-want +got):\n%s", diff)
			}
		})
	}
}
