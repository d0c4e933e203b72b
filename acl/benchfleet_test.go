package acl

import (
	"fmt"
	"math/rand"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// The benchmark fleet: the size the targets are set for.
const (
	benchUsers  = 1000
	benchGroups = 200
	benchRules  = 1000
	benchNodes  = 10000
	benchTags   = 100 // 20 device classes at 5 sites
)

// benchFleet is a realistic large fleet and policy, built once per process:
// 1,000 users in 200 teams (half defined in the file, half by the IdP),
// 3,000 user devices and 7,000 tagged devices in 100 tags (20 device
// classes at 5 sites; 50 site gateways route a /24), and 1,000 rules:
// 800 team -> device class, 100 device class -> device class, 5
// autogroup:member -> autogroup:self, 10 autogroup:member -> a shared
// device class, 20 site LAN -> device class, 20 team -> site LAN, 40
// person -> device class and 5 site devices -> site gateways (icmp).
type benchFleet struct {
	policy []byte
	inv    Inventory
	rs     *Ruleset
	// spare is a node not in inv, ready to join (a user's new laptop).
	spare Node
	// spareTagged is a tagged node not in inv (a new camera).
	spareTagged Node
}

var (
	benchOnce  sync.Once
	benchData  *benchFleet
	benchError error
)

// loadBenchFleet returns the shared benchmark fleet, generating and
// checking it on first use.
func loadBenchFleet(b *testing.B) *benchFleet {
	b.Helper()
	benchOnce.Do(func() {
		f := genBenchFleet(rand.New(rand.NewSource(1)))
		rs, _, err := Check("bench.hujson", f.policy, Options{ExternalGroups: f.inv.ExternalGroups()})
		f.rs, benchError = rs, err
		benchData = f
	})
	if benchError != nil {
		b.Fatalf("benchmark policy: %v", benchError)
	}
	return benchData
}

var benchClasses = []string{"camera", "gateway", "sensor", "plc", "nvr", "kiosk", "printer", "hmi", "server", "router",
	"badge", "display", "lock", "meter", "pump", "valve", "robot", "scanner", "scale", "hvac"}

func benchTag(i int) string {
	return fmt.Sprintf("tag:%s-s%d", benchClasses[i%len(benchClasses)], i/len(benchClasses))
}

func benchUser(i int) string { return fmt.Sprintf("user%d@corp.example", i) }

func benchGroup(i int) string { return fmt.Sprintf("group:team%d", i) }

// benchAddr returns the j-th overlay address pair.
func benchAddr(j int) (netip.Addr, netip.Addr) {
	v4 := netip.AddrFrom4([4]byte{100, 64 + byte(j>>16), byte(j >> 8), byte(j)})
	v6 := netip.AddrFrom16([16]byte{0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 12: byte(j >> 24), 13: byte(j >> 16), 14: byte(j >> 8), 15: byte(j)})
	return v4, v6
}

func benchRoute(i int) string { return fmt.Sprintf("10.%d.%d.0/24", i/256, i%256) }

func genBenchFleet(r *rand.Rand) *benchFleet {
	f := &benchFleet{}
	// Users, each in 1-3 teams; teams 0-99 are defined in the file, teams
	// 100-199 come from the identity provider.
	fileGroups := make([][]string, benchGroups/2)
	for i := range benchUsers {
		u := User{Email: benchUser(i)}
		for _, g := range []int{i % benchGroups, (i*7 + 3) % benchGroups, r.Intn(benchGroups)}[:1+r.Intn(3)] {
			if g < benchGroups/2 {
				fileGroups[g] = append(fileGroups[g], benchUser(i))
			} else {
				u.Groups = append(u.Groups, benchGroup(g))
			}
		}
		f.inv.Users = append(f.inv.Users, u)
	}
	// Nodes: about 3 per user, the rest tagged devices; the first gateway
	// of each of 50 sites routes a /24.
	j := 0
	next := func() (netip.Addr, netip.Addr) { j++; return benchAddr(j) }
	for i := 0; len(f.inv.Nodes) < 3000; i = (i + 1) % benchUsers {
		v4, v6 := next()
		f.inv.Nodes = append(f.inv.Nodes, Node{Name: fmt.Sprintf("u%d-dev%d", i, len(f.inv.Nodes)), IPv4: v4, IPv6: v6, User: benchUser(i)})
	}
	for k := 0; len(f.inv.Nodes) < benchNodes; k++ {
		v4, v6 := next()
		n := Node{Name: fmt.Sprintf("dev%d", k), IPv4: v4, IPv6: v6, Tags: []string{benchTag(r.Intn(benchTags))}}
		if r.Intn(10) == 0 {
			n.Tags = dedupSorted(append(n.Tags, benchTag(r.Intn(benchTags))))
		}
		if k < 50 {
			n.Tags = []string{benchTag(1 + 20*(k%5))} // gateway-sN
			n.Routes = []netip.Prefix{netip.MustParsePrefix(benchRoute(k))}
		}
		f.inv.Nodes = append(f.inv.Nodes, n)
	}
	v4, v6 := next()
	f.spare = Node{Name: "new-laptop", IPv4: v4, IPv6: v6, User: benchUser(7)}
	v4, v6 = next()
	f.spareTagged = Node{Name: "new-camera", IPv4: v4, IPv6: v6, Tags: []string{benchTag(0)}}
	f.policy = benchPolicy(r, fileGroups)
	return f
}

func benchPolicy(r *rand.Rand, fileGroups [][]string) []byte {
	var sb strings.Builder
	sb.WriteString("{\n  \"groups\": {\n")
	for i, ms := range fileGroups {
		fmt.Fprintf(&sb, "    %q: [%s],\n", benchGroup(i), quoteAll(ms))
	}
	sb.WriteString("  },\n  \"tagOwners\": {\n")
	for i := range benchTags {
		fmt.Fprintf(&sb, "    %q: [\"group:team0\"],\n", benchTag(i))
	}
	sb.WriteString("  },\n  \"acls\": [\n")
	ports := []string{"22", "80,443", "443", "8000-8100", "554", "1883,8883", "502", "*"}
	tag := func() string { return benchTag(r.Intn(benchTags)) }
	group := func() string { return benchGroup(r.Intn(benchGroups)) }
	rule := func(src, dst, proto string) {
		fmt.Fprintf(&sb, "    {\"action\": \"accept\", \"src\": [%s], \"dst\": [%s]", src, dst)
		if proto != "" {
			fmt.Fprintf(&sb, ", \"proto\": %q", proto)
		}
		sb.WriteString("},\n")
	}
	for i := range benchRules {
		port := ports[r.Intn(len(ports))]
		proto := ""
		if r.Intn(10) == 0 {
			proto = "tcp"
		}
		switch {
		case i < 800: // a team reaches a device class at a site
			src := quoteAll([]string{group()})
			if r.Intn(4) == 0 {
				src = quoteAll([]string{group(), group()})
			}
			dst := quoteAll([]string{tag() + ":" + port})
			if r.Intn(4) == 0 {
				dst = quoteAll([]string{tag() + ":" + port, tag() + ":" + ports[r.Intn(len(ports))]})
			}
			rule(src, dst, proto)
		case i < 900: // devices talk to devices
			rule(quoteAll([]string{tag()}), quoteAll([]string{tag() + ":" + port}), proto)
		case i < 905: // everyone reaches their own devices
			rule(`"autogroup:member"`, quoteAll([]string{"autogroup:self:" + port}), proto)
		case i < 915: // everyone reaches a shared service
			rule(`"autogroup:member"`, quoteAll([]string{tag() + ":" + port}), proto)
		case i < 935: // a site LAN reaches devices
			rule(quoteAll([]string{benchRoute(r.Intn(50))}), quoteAll([]string{tag() + ":" + port}), proto)
		case i < 955: // a team reaches a site LAN
			rule(quoteAll([]string{group()}), quoteAll([]string{benchRoute(r.Intn(50)) + ":*"}), "")
		case i < 995: // a person reaches a device class
			rule(quoteAll([]string{benchUser(r.Intn(benchUsers))}), quoteAll([]string{tag() + ":" + port}), proto)
		default: // a site's devices ping its gateways
			site := i - 995
			var src []string
			for range 4 {
				src = append(src, benchTag(r.Intn(len(benchClasses))+site*len(benchClasses)))
			}
			rule(quoteAll(src), quoteAll([]string{benchTag(1+site*len(benchClasses)) + ":*"}), "icmp")
		}
	}
	sb.WriteString("  ],\n}\n")
	return []byte(sb.String())
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}
