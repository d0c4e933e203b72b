package acl

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/filter"
)

// conformanceDir is the Tailscale conformance corpus, read at run time from
// beside the repository (never copied into it).
const conformanceDir = "../../shared/conformance/tailscale"

// conformanceCategories are the corpus's directories: acls, policies with
// tests, grants (ip, via, app) and subnet routes. Every case of them is
// judged; the two maps below list the deliberate differences.
var conformanceCategories = []string{"acl", "policytest", "grant", "routes"}

// knownDifferences lists corpus cases where Ward deliberately differs from
// Tailscale, with the reason.
var knownDifferences = map[string]string{
	"acl-err06": "Tailscale refuses action \"deny\"; Ward has deny rules (issue 17), which refuse what they match ahead of " +
		"every accept. Policies without a deny read as in Tailscale.",
}

// knownFilterDifferences lists valid cases whose validity Ward matches but
// whose filters and peers deliberately differ, with the reason.
var knownFilterDifferences = map[string]string{
	"policytest-allpass-grants-only-tag-src-ipv6-literal-dst": "a grant to a node's IPv6 address (fd7a:115c:a1e0::10) " +
		"gives that node no filter in Tailscale's capture, while the same grant to its IPv4 address does; Ward treats " +
		"both families alike and grants tag:client TCP 22 on beedrill's IPv6 address, as the policy (and its passing test) says.",
}

type confCase struct {
	ID       string                `json:"id"`
	Category string                `json:"category"`
	Policy   string                `json:"policy"`
	Valid    bool                  `json:"valid"`
	Error    string                `json:"error"`
	Inv      Inventory             `json:"inventory"`
	Expect   map[string]NodeResult `json:"expect"`
	Skipped  map[string]string     `json:"skipped"`
}

func loadConformance(t *testing.T) []confCase {
	t.Helper()
	var files []string
	for _, sub := range conformanceCategories {
		fs, _ := filepath.Glob(filepath.Join(conformanceDir, sub, "*.json"))
		files = append(files, fs...)
	}
	if len(files) == 0 {
		abs, _ := filepath.Abs(conformanceDir)
		t.Skipf("conformance corpus not found at %s: skipping the Tailscale conformance check", abs)
	}
	var out []confCase
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var c confCase
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, c)
	}
	return out
}

// conformanceTally counts one category's cases by outcome.
type conformanceTally struct{ pass, differ, fail int }

func TestConformance(t *testing.T) {
	cases := loadConformance(t)
	tally := map[string]*conformanceTally{}
	for _, c := range cases {
		if tally[c.Category] == nil {
			tally[c.Category] = &conformanceTally{}
		}
		_, differs := knownDifferences[c.ID]
		_, filtersDiffer := knownFilterDifferences[c.ID]
		ok := t.Run(c.ID, func(t *testing.T) {
			if why, ok := knownDifferences[c.ID]; ok {
				t.Skipf("deliberate difference: %s", why)
			}
			rs, _, err := Check(c.ID, []byte(c.Policy), Options{ExternalGroups: c.Inv.ExternalGroups()})
			if c.Valid != (err == nil) {
				t.Fatalf("valid = %v, want %v (Tailscale: %q); error: %v", err == nil, c.Valid, c.Error, err)
			}
			if !c.Valid {
				return
			}
			if why, ok := knownFilterDifferences[c.ID]; ok {
				t.Skipf("validity matches; filters deliberately differ: %s", why)
			}
			comp, err := Compile(rs, c.Inv)
			if err != nil {
				t.Fatal(err)
			}
			got := comp.All()
			for name, want := range c.Expect {
				if _, skip := c.Skipped[name]; skip {
					continue
				}
				if diff := cmp.Diff(sortedCopy(want.Peers), got[name].Peers); diff != "" {
					t.Errorf("peers of %s (-tailscale +ward):\n%s", name, diff)
				}
			}
			judgeReachability(t, c, got)
		})
		switch n := tally[c.Category]; {
		case !ok:
			n.fail++
		case differs || filtersDiffer:
			n.differ++
		default:
			n.pass++
		}
	}
	// The counts the issue notes report: go test -run TestConformance -v.
	for _, cat := range conformanceCategories {
		if n := tally[cat]; n != nil {
			t.Logf("%s: %d cases, %d pass, %d deliberate differences, %d fail", cat, n.pass+n.differ+n.fail, n.pass, n.differ, n.fail)
		}
	}
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	if s == nil {
		s = []string{}
	}
	return s
}

// judgeReachability compares verdicts of the expected and the compiled
// filters for every ordered node pair, family, protocol and probe port:
// toward the destination node's own address and toward probe addresses in
// its routes (where a router's filter decides for the LAN behind it).
func judgeReachability(t *testing.T, c confCase, got map[string]NodeResult) {
	t.Helper()
	for _, dst := range c.Inv.Nodes {
		want, ok := c.Expect[dst.Name]
		if !ok {
			continue
		}
		if _, skip := c.Skipped[dst.Name]; skip {
			continue
		}
		wm, gm := filter.Compile(want.Filter), filter.Compile(got[dst.Name].Filter)
		ports := probePorts(want.Filter, got[dst.Name].Filter)
		protos := probeProtos(want.Filter, got[dst.Name].Filter)
		for _, src := range c.Inv.Nodes {
			if src.Name == dst.Name {
				continue
			}
			pairs := [][2]netip.Addr{{src.IPv4, dst.IPv4}, {src.IPv6, dst.IPv6}}
			for _, a := range routeProbes(dst.Routes, want.Filter, got[dst.Name].Filter) {
				if a.Is4() {
					pairs = append(pairs, [2]netip.Addr{src.IPv4, a})
				} else {
					pairs = append(pairs, [2]netip.Addr{src.IPv6, a})
				}
			}
			for _, fam := range pairs {
				if !fam[0].IsValid() || !fam[1].IsValid() {
					continue
				}
				for _, p := range protos {
					if (p == filter.ProtoICMP && fam[0].Is6()) || (p == filter.ProtoICMPv6 && fam[0].Is4()) {
						continue
					}
					for _, port := range ports {
						w, _ := wm.Match(fam[0], fam[1], p, port)
						g, _ := gm.Match(fam[0], fam[1], p, port)
						if w != g {
							t.Errorf("%s -> %s (%v -> %v) proto %d port %d: tailscale %v, ward %v",
								src.Name, dst.Name, fam[0], fam[1], p, port, w, g)
						}
					}
				}
			}
		}
	}
}

// routeProbes returns addresses inside routes to probe: each route's
// first, second and last address, and the first and last address of every
// filter destination (on either side) inside a route.
func routeProbes(routes []netip.Prefix, fs ...[]filter.Rule) []netip.Addr {
	var out []netip.Addr
	add := func(p netip.Prefix) {
		for _, a := range []netip.Addr{p.Masked().Addr(), p.Masked().Addr().Next(), lastAddr(p)} {
			if a.IsValid() && slices.ContainsFunc(routes, func(r netip.Prefix) bool { return r.Contains(a) }) && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	for _, r := range routes {
		add(r)
	}
	for _, rules := range fs {
		for _, r := range rules {
			for _, d := range r.Dst {
				add(d.Net)
			}
		}
	}
	return out
}

func probePorts(fs ...[]filter.Rule) []uint16 {
	set := map[uint16]bool{0: true, 1: true, 22: true, 80: true, 443: true, 65535: true}
	for _, rules := range fs {
		for _, r := range rules {
			for _, d := range r.Dst {
				for _, pr := range d.Ports {
					set[pr.First], set[pr.Last] = true, true
					if pr.First > 0 {
						set[pr.First-1] = true
					}
					if pr.Last < 65535 {
						set[pr.Last+1] = true
					}
				}
			}
		}
	}
	var out []uint16
	for p := range set {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func probeProtos(fs ...[]filter.Rule) []filter.Proto {
	set := map[filter.Proto]bool{filter.ProtoTCP: true, filter.ProtoUDP: true, filter.ProtoICMP: true, filter.ProtoICMPv6: true}
	for _, rules := range fs {
		for _, r := range rules {
			for _, p := range r.Protos {
				set[p] = true
			}
		}
	}
	var out []filter.Proto
	for p := range set {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}
