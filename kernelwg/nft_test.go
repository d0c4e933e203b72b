package kernelwg

import (
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/internal/needtool"
	"github.com/wardnet/ward/node"
)

// policyFilter is a filter with what the renderer must get right: both
// families, a deny rule after an accept rule in the map, overlapping
// sources and ports, all ports, ICMP (no ports) and invalid rules (which
// filter.Compile skips).
func policyFilter() node.KernelFilter {
	pfx := netip.MustParsePrefix
	ports := func(rs ...filter.PortRange) []filter.PortRange { return rs }
	return node.KernelFilter{PingPort: node.PingPort, PingFrom: []netip.Addr{netip.MustParseAddr("100.64.0.2"), netip.MustParseAddr("fd7a:115c:a1e0::2")},
		Rules: []filter.Rule{
			{Src: []netip.Prefix{pfx("100.64.0.0/10"), pfx("100.64.0.2/32"), pfx("fd7a:115c:a1e0::/48")},
				Dst: []filter.DstNet{{Net: pfx("100.64.0.1/32"), Ports: ports(filter.PortRange{First: 20, Last: 25}, filter.PortRange{First: 22, Last: 30})},
					{Net: pfx("fd7a:115c:a1e0::1/128"), Ports: ports(filter.AllPorts())}}},
			{Deny: true, Src: []netip.Prefix{pfx("100.64.0.3/32")}, Dst: []filter.DstNet{{Net: pfx("100.64.0.1/32"), Ports: ports(filter.AllPorts())}}},
			{Src: []netip.Prefix{pfx("100.64.0.4/32")}, Dst: []filter.DstNet{{Net: pfx("192.168.10.0/24"), Ports: ports(filter.PortRange{First: 80, Last: 80})}},
				Protos: []filter.Proto{filter.ProtoICMP, filter.ProtoUDP}},
			{Src: nil, Dst: []filter.DstNet{{Net: pfx("100.64.0.1/32"), Ports: ports(filter.AllPorts())}}},             // invalid: no source
			{Src: []netip.Prefix{pfx("100.64.0.5/32")}, Dst: []filter.DstNet{{Net: pfx("100.64.0.1/32"), Ports: nil}}}, // invalid: no ports
		}}
}

// TestKernelFilterRuleset: the nftables table enforces the map's rules in
// the Matcher's order (every deny rule before any accept rule, default
// drop), per source prefix, with merged port sets, ports only for
// protocols that have them, pings only from active peers, and replies to
// the node's own flows passing.
func TestKernelFilterRuleset(t *testing.T) {
	got := ruleset("ward0", policyFilter())
	want := []string{
		"table inet ward_ward0\ndelete table inet ward_ward0\ntable inet ward_ward0 {",
		`type filter hook input priority filter; policy accept;` + "\n\t\t" + `iifname "ward0" jump from_overlay`,
		`type filter hook forward priority filter; policy accept;` + "\n\t\t" + `iifname "ward0" jump from_overlay`,
		"ct direction reply accept",
		"ip saddr { 100.64.0.2 } udp dport 41641 accept",
		"ip6 saddr { fd7a:115c:a1e0::2 } udp dport 41641 accept",
		"ip saddr 100.64.0.3/32 ip daddr 100.64.0.1/32 meta l4proto 6 drop",
		"ip saddr 100.64.0.0/10 ip daddr 100.64.0.1/32 meta l4proto 6 th dport { 20-30 } accept",
		"ip saddr 100.64.0.0/10 ip daddr 100.64.0.1/32 meta l4proto 1 accept",
		"ip saddr 100.64.0.2/32 ip daddr 100.64.0.1/32 meta l4proto 17 th dport { 20-30 } accept",
		"ip6 saddr fd7a:115c:a1e0::/48 ip6 daddr fd7a:115c:a1e0::1/128 meta l4proto 6 accept",
		"ip saddr 100.64.0.4/32 ip daddr 192.168.10.0/24 meta l4proto 1 accept",
		"ip saddr 100.64.0.4/32 ip daddr 192.168.10.0/24 meta l4proto 17 th dport { 80 } accept",
		"\t\tdrop\n\t}\n}\n",
	}
	last := -1
	for _, w := range want {
		i := strings.Index(got, w)
		if i < 0 {
			t.Fatalf("ruleset lacks %q:\n%s", w, got)
		}
		if i < last {
			t.Fatalf("ruleset has %q out of order:\n%s", w, got)
		}
		last = i
	}
	for _, bad := range []string{"ip daddr 192.168.10.0/24 meta l4proto 6", "ip saddr 100.64.0.0/10 ip6", "fd7a:115c:a1e0::/48 ip daddr", "100.64.0.5"} {
		if strings.Contains(got, bad) {
			t.Fatalf("ruleset has %q, which the rules do not grant:\n%s", bad, got)
		}
	}
}

// TestKernelFilterRulesetLoadsInNft: the kernel's nftables accepts the
// rendered table (nft -c: checked against the kernel, not applied).
func TestKernelFilterRulesetLoadsInNft(t *testing.T) {
	const nft = "/usr/sbin/nft"
	needtool.Executable(t, nft, os.Getenv("CI"), "the nftables check needs Debian's nft")
	if os.Geteuid() != 0 {
		needtool.Missing(t, os.Getenv("CI"), "nft -c needs root")
	}
	for _, script := range []string{ruleset("ward-t0", node.KernelFilter{}), ruleset("ward-t0", policyFilter())} {
		cmd := exec.Command(nft, "-c", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft -c: %v: %s\nscript:\n%s", err, out, script)
		}
	}
}
