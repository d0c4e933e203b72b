package acl

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestHostAddrsNameSingleAddresses: HostAddrs lists the hosts entries
// that name one address, bare or as a /32 or /128, sorted by name, and
// leaves out those naming a wider prefix (a set of devices is no name).
func TestHostAddrsNameSingleAddresses(t *testing.T) {
	policy := `{
  "hosts": {"plc-1": "192.168.10.6/32", "cam": "192.168.10.5", "lan": "192.168.10.0/24",
            "hmi6": "fd00::7/128", "pair": "192.168.10.6/31"},
  "acls": [],
}`
	rs, _, err := Check("p.hujson", []byte(policy), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []HostAddr{
		{"cam", netip.MustParseAddr("192.168.10.5")},
		{"hmi6", netip.MustParseAddr("fd00::7")},
		{"plc-1", netip.MustParseAddr("192.168.10.6")},
	}
	if d := cmp.Diff(want, rs.HostAddrs(), cmpopts.EquateComparable(netip.Addr{})); d != "" {
		t.Errorf("HostAddrs (-want +got):\n%s", d)
	}
}
