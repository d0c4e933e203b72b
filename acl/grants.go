package acl

import (
	"cmp"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/wardnet/ward/filter"
)

// Access is one way in to a device that the compiled policy grants on
// the live inventory: a source identity may open flows to the device on
// some ports.
type Access struct {
	// Src is the source: a user email, "tag:x" or a node name for an
	// address-based rule.
	Src string `json:"src"`
	// Dst is the destination node's name.
	Dst string `json:"dst"`
	// Proto is "tcp", "udp", "icmp" or a protocol number.
	Proto string `json:"proto"`
	// Ports is "22", "80-443" or "*".
	Ports string `json:"ports"`
}

// CheckResult is what checking a policy text found, for a person editing
// it: whether it passes, its problems and its tests' results.
type CheckResult struct {
	OK       bool         `json:"ok"`
	Problems []Problem    `json:"problems"`
	Tests    []TestResult `json:"tests"`
}

// Impact lists the grants a policy change adds and removes on the live
// inventory.
type Impact struct {
	Added   []Access `json:"added"`
	Removed []Access `json:"removed"`
}

// AccessTo lists who may reach the node named dst of a compiled policy,
// on which protocols and ports, from the node's inbound filter: a source
// address of a node becomes its owner's email or its tags, any other source
// stays a prefix. The result is sorted (see compareAccess) and has no
// duplicates: the answer to "who may reach this device". A node c does not
// know is ErrUnknownNode.
func AccessTo(c *Compiled, dst string) ([]Access, error) {
	return accessTo(c, dst, ownersOf(c))
}

func accessTo(c *Compiled, dst string, owners map[netip.Addr]string) ([]Access, error) {
	n, ok := c.Node(dst)
	if !ok {
		return nil, fmt.Errorf("grants of %q: %w", dst, ErrUnknownNode)
	}
	res, err := c.Result(dst)
	if err != nil {
		return nil, fmt.Errorf("grants of %q: %w", dst, err)
	}
	size := 0
	for _, r := range res.Filter {
		for _, d := range r.Dst {
			size += len(r.Src) * len(r.EffectiveProtos()) * max(1, len(d.Ports))
		}
	}
	out := make([]Access, 0, size)
	denies := slices.DeleteFunc(slices.Clone(res.Filter), func(r filter.Rule) bool { return !r.Deny })
	for _, r := range res.Filter {
		if r.Deny {
			continue
		}
		if len(denies) > 0 {
			out = appendAccessDenied(out, r, denies, dst, n, owners)
			continue
		}
		srcs := sourcesOf(r.Src, owners)
		for _, d := range r.Dst {
			name := dst
			if !d.Net.Contains(n.IPv4) && !d.Net.Contains(n.IPv6) {
				name = fmt.Sprintf("%s (%s)", dst, d.Net)
			}
			for _, p := range r.EffectiveProtos() {
				proto, ports := protoName(p), portsOf(p, d.Ports)
				for _, src := range srcs {
					for _, pr := range ports {
						out = append(out, Access{Src: src, Dst: name, Proto: proto, Ports: pr})
					}
				}
			}
		}
	}
	slices.SortFunc(out, compareAccess)
	return slices.Compact(out), nil
}

// appendAccessDenied adds accept rule r's grants to out, less what the
// deny rules refuse: source by source, the ports a deny covering the
// source and destination closes. (A deny covering part of a wider source
// prefix leaves that prefix listed: the filter still refuses the part.)
func appendAccessDenied(out []Access, r filter.Rule, denies []filter.Rule, dst string, n Node, owners map[netip.Addr]string) []Access {
	for _, s := range r.Src {
		src := sourcesOf([]netip.Prefix{s}, owners)[0]
		for _, d := range r.Dst {
			name := dst
			if !d.Net.Contains(n.IPv4) && !d.Net.Contains(n.IPv6) {
				name = fmt.Sprintf("%s (%s)", dst, d.Net)
			}
			for _, p := range r.EffectiveProtos() {
				closed, hit := deniedPorts(denies, s, d.Net, p)
				ranges := slices.Clone(d.Ports)
				switch {
				case hit && !p.HasPorts():
					continue
				case hit:
					ranges = filter.SubtractPorts(ranges, closed)
					if len(ranges) == 0 {
						continue
					}
				}
				for _, pr := range portsOf(p, ranges) {
					out = append(out, Access{Src: src, Dst: name, Proto: protoName(p), Ports: pr})
				}
			}
		}
	}
	return out
}

// deniedPorts returns the ports of protocol p that deny rules close from
// every address of src to every address of dst, and whether any does.
func deniedPorts(denies []filter.Rule, src, dst netip.Prefix, p filter.Proto) ([]filter.PortRange, bool) {
	var out []filter.PortRange
	hit := false
	for _, r := range denies {
		if !slices.Contains(r.EffectiveProtos(), p) || !slices.ContainsFunc(r.Src, func(q netip.Prefix) bool { return covers(q, src) }) {
			continue
		}
		for _, d := range r.Dst {
			if covers(d.Net, dst) {
				out, hit = append(out, d.Ports...), true
			}
		}
	}
	return out, hit
}

// covers reports whether prefix q holds every address of p.
func covers(q, p netip.Prefix) bool { return q.Bits() <= p.Bits() && q.Contains(p.Addr()) }

// AllAccess lists the grants of every node of a compiled policy (see
// AccessTo), sorted.
func AllAccess(c *Compiled) ([]Access, error) {
	owners := ownersOf(c)
	var per [][]Access
	size := 0
	for _, name := range c.NodeNames() {
		gs, err := accessTo(c, name, owners)
		if err != nil {
			return nil, err
		}
		per, size = append(per, gs), size+len(gs)
	}
	out := make([]Access, 0, size)
	for _, gs := range per {
		out = append(out, gs...)
	}
	// Nodes come in name order, and a node's " (route)" destinations sort
	// before the next node's name, so out is sorted already.
	if !slices.IsSortedFunc(out, compareAccess) {
		slices.SortFunc(out, compareAccess)
	}
	return out, nil
}

// ImpactOf lists the grants that compiling a new policy (after) adds to and
// removes from the old one (before), both compiled against the same
// inventory. Only nodes whose inbound filter changed are listed, so a small
// edit costs little on a large fleet.
func ImpactOf(before, after *Compiled) (Impact, error) {
	ob, oa := ownersOf(before), ownersOf(after)
	im := Impact{Added: []Access{}, Removed: []Access{}}
	for _, name := range after.NodeNames() {
		rb, errB := before.Result(name)
		ra, errA := after.Result(name)
		if errB == nil && errA == nil && reflect.DeepEqual(rb.Filter, ra.Filter) {
			continue
		}
		gb, err := accessOrNone(before, name, ob)
		if err != nil {
			return Impact{}, err
		}
		ga, err := accessTo(after, name, oa)
		if err != nil {
			return Impact{}, err
		}
		d := byPorts(DiffAccess(gb, ga))
		im.Added, im.Removed = append(im.Added, d.Added...), append(im.Removed, d.Removed...)
	}
	return im, nil
}

// accessKey is an Access without its ports.
type accessKey struct{ src, dst, proto string }

// byPorts reduces a diff in which the same source, destination and
// protocol is both removed and added (a deny cutting "*" into "0-22" and
// "24-65535") to the ports that really went or came ("23" removed).
func byPorts(im Impact) Impact {
	ranges := func(gs []Access) map[accessKey][]filter.PortRange {
		out := map[accessKey][]filter.PortRange{}
		for _, g := range gs {
			if prs, err := parsePorts(g.Ports); err == nil {
				k := accessKey{g.Src, g.Dst, g.Proto}
				out[k] = append(out[k], prs...)
			}
		}
		return out
	}
	rm, add := ranges(im.Removed), ranges(im.Added)
	both := func(g Access) bool {
		_, inRm := rm[accessKey{g.Src, g.Dst, g.Proto}]
		_, inAdd := add[accessKey{g.Src, g.Dst, g.Proto}]
		return inRm && inAdd && g.Proto != "icmp" && g.Ports != ""
	}
	out := Impact{
		Removed: slices.DeleteFunc(slices.Clone(im.Removed), both),
		Added:   slices.DeleteFunc(slices.Clone(im.Added), both),
	}
	for k, before := range rm {
		after, ok := add[k]
		if !ok || k.proto == "icmp" {
			continue
		}
		for _, pr := range filter.SubtractPorts(slices.Clone(before), slices.Clone(after)) {
			out.Removed = append(out.Removed, Access{Src: k.src, Dst: k.dst, Proto: k.proto, Ports: pr.String()})
		}
		for _, pr := range filter.SubtractPorts(slices.Clone(after), slices.Clone(before)) {
			out.Added = append(out.Added, Access{Src: k.src, Dst: k.dst, Proto: k.proto, Ports: pr.String()})
		}
	}
	slices.SortFunc(out.Removed, compareAccess)
	slices.SortFunc(out.Added, compareAccess)
	return out
}

// accessOrNone is accessTo, or nothing for a node c does not know.
func accessOrNone(c *Compiled, name string, owners map[netip.Addr]string) ([]Access, error) {
	if _, ok := c.Node(name); !ok {
		return nil, nil
	}
	return accessTo(c, name, owners)
}

// DiffAccess returns what after adds to and removes from before, each
// sorted. Sorted inputs (as AllAccess returns) are diffed in one merge pass.
func DiffAccess(before, after []Access) Impact {
	before, after = sortedUnique(before), sortedUnique(after)
	im := Impact{Added: []Access{}, Removed: []Access{}}
	i, j := 0, 0
	for i < len(before) || j < len(after) {
		switch {
		case j == len(after) || (i < len(before) && compareAccess(before[i], after[j]) < 0):
			im.Removed = append(im.Removed, before[i])
			i++
		case i == len(before) || compareAccess(before[i], after[j]) > 0:
			im.Added = append(im.Added, after[j])
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return im
}

// sortedUnique returns gs sorted without duplicates, copying only when gs
// is not so already.
func sortedUnique(gs []Access) []Access {
	ok := true
	for k := 1; k < len(gs) && ok; k++ {
		ok = compareAccess(gs[k-1], gs[k]) < 0
	}
	if ok {
		return gs
	}
	out := slices.Clone(gs)
	slices.SortFunc(out, compareAccess)
	return slices.Compact(out)
}

// compareAccess orders grants by destination, source, protocol and ports.
func compareAccess(a, b Access) int {
	return cmp.Or(strings.Compare(a.Dst, b.Dst), strings.Compare(a.Src, b.Src),
		strings.Compare(a.Proto, b.Proto), strings.Compare(a.Ports, b.Ports))
}

// ownersOf maps every node address to the node's identity.
func ownersOf(c *Compiled) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, name := range c.NodeNames() {
		n, _ := c.Node(name)
		id := n.User
		if len(n.Tags) > 0 {
			id = strings.Join(n.Tags, ",")
		}
		if id == "" {
			id = name
		}
		out[n.IPv4], out[n.IPv6] = id, id
	}
	return out
}

func sourcesOf(srcs []netip.Prefix, owners map[netip.Addr]string) []string {
	var out []string
	for _, p := range srcs {
		s := p.String()
		if id, ok := owners[p.Addr()]; ok && p.IsSingleIP() {
			s = id
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func portsOf(p filter.Proto, ranges []filter.PortRange) []string {
	if !p.HasPorts() || len(ranges) == 0 {
		return []string{"*"}
	}
	out := make([]string, len(ranges))
	for i, r := range ranges {
		out[i] = r.String()
	}
	return out
}

func protoName(p filter.Proto) string {
	switch p {
	case filter.ProtoTCP:
		return "tcp"
	case filter.ProtoUDP:
		return "udp"
	case filter.ProtoICMP, filter.ProtoICMPv6:
		return "icmp"
	}
	return strconv.Itoa(int(p))
}
