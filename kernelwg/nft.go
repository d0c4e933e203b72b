package kernelwg

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/node"
)

// nftTimeout bounds one run of nft.
const nftTimeout = 10 * time.Second

// tableOf is the name of link's nftables table (family inet).
func tableOf(link string) string {
	return "ward_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, link)
}

// ruleset renders the nftables script that replaces link's table, in one
// transaction, with one enforcing f on what arrives from the link, both
// for the node itself (input) and for what it routes (forward): replies
// to flows the node or its subnets started pass (conntrack's reply
// direction); every other packet, new or not, must be allowed by the
// rules (deny rules first, then accept rules, in order) or be a ping from
// an active peer, else it is dropped. Checking every packet of a flow a
// peer started, not only its first, is what makes a policy change cut the
// flow at once, as the netstack's conntrack does; here the packets are
// dropped rather than answered with a reset. Rules that do not validate
// are skipped, as filter.Compile skips them.
func ruleset(link string, f node.KernelFilter) string {
	var b strings.Builder
	t := tableOf(link)
	// Creating the table first makes the delete succeed on a first run.
	fmt.Fprintf(&b, "table inet %s\ndelete table inet %s\ntable inet %s {\n", t, t, t)
	for _, hook := range []string{"input", "forward"} {
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority filter; policy accept;\n\t\tiifname %q jump from_overlay\n\t}\n", hook, hook, link)
	}
	b.WriteString("\tchain from_overlay {\n\t\tct direction reply accept\n\t\tct state related accept\n")
	for _, fam := range families {
		if from := fam.of(f.PingFrom); len(from) > 0 {
			fmt.Fprintf(&b, "\t\t%s saddr %s udp dport %d accept\n", fam.nft, set(from), f.PingPort)
		}
	}
	for _, deny := range []bool{true, false} {
		for _, r := range f.Rules {
			if r.Deny == deny && r.Validate() == nil {
				writeRule(&b, r)
			}
		}
	}
	b.WriteString("\t\tdrop\n\t}\n}\n")
	return b.String()
}

// family is one address family's nftables words.
type family struct {
	nft string // ip, ip6
	v4  bool
}

var families = []family{{"ip", true}, {"ip6", false}}

// has reports whether a belongs to the family (an IPv4-mapped IPv6
// address to neither, as filter.Matcher pairs them with nothing).
func (f family) has(a netip.Addr) bool {
	if f.v4 {
		return a.Is4()
	}
	return a.Is6() && !a.Is4In6()
}

// of returns the addresses of as in the family.
func (f family) of(as []netip.Addr) []string {
	var out []string
	for _, a := range as {
		if f.has(a) {
			out = append(out, a.String())
		}
	}
	return out
}

// writeRule writes r's nftables rules: per family, per source, per
// destination and per protocol, the source prefix to the destination's,
// restricted to its ports for protocols that have ports. (One source per
// rule: an anonymous set of overlapping prefixes is an error to nft.)
func writeRule(b *strings.Builder, r filter.Rule) {
	verdict := "accept"
	if r.Deny {
		verdict = "drop"
	}
	for _, fam := range families {
		for _, s := range r.Src {
			if !fam.has(s.Addr()) {
				continue
			}
			for _, d := range r.Dst {
				if !fam.has(d.Net.Addr()) || len(d.Ports) == 0 {
					continue
				}
				for _, p := range r.EffectiveProtos() {
					fmt.Fprintf(b, "\t\t%s saddr %s %s daddr %s meta l4proto %d", fam.nft, s.Masked(), fam.nft, d.Net.Masked(), p)
					if ports := portSet(d.Ports); p.HasPorts() && ports != "" {
						fmt.Fprintf(b, " th dport %s", ports)
					}
					fmt.Fprintf(b, " %s\n", verdict)
				}
			}
		}
	}
}

// set renders items as an nftables anonymous set.
func set(items []string) string { return "{ " + strings.Join(items, ", ") + " }" }

// portSet renders ranges, merged, as an nftables set; "" when they cover
// every port.
func portSet(ranges []filter.PortRange) string {
	var items []string
	for _, r := range filter.SubtractPorts(slices.Clone(ranges), nil) {
		if r == filter.AllPorts() {
			return ""
		}
		if r.First == r.Last {
			items = append(items, fmt.Sprint(r.First))
		} else {
			items = append(items, fmt.Sprintf("%d-%d", r.First, r.Last))
		}
	}
	return set(items)
}

// deleteTable renders the script that removes link's table.
func deleteTable(link string) string {
	return fmt.Sprintf("delete table inet %s\n", tableOf(link))
}

// runNFT applies script with the nft binary (package nftables in Debian).
func runNFT(script string) error {
	ctx, cancel := context.WithTimeout(context.Background(), nftTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}
