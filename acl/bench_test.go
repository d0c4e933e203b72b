package acl

import (
	"math/rand"
	"net/netip"
	"testing"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/filter/filtertest"
)

// BenchmarkCheck parses and validates the fleet's policy (1,000 rules,
// 200 groups, 100 tags).
func BenchmarkCheck(b *testing.B) {
	f := loadBenchFleet(b)
	opts := Options{ExternalGroups: f.inv.ExternalGroups()}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Check("bench.hujson", f.policy, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompileFull compiles the policy for 10,000 nodes: the node sets
// every rule covers, from which any node's result is then computed on
// demand. The AllResults variant also materializes every node's Result
// (peers and filter), what a coordinator sends when it starts.
func BenchmarkCompileFull(b *testing.B) {
	f := loadBenchFleet(b)
	b.Run("Compile", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Compile(f.rs, f.inv); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AllResults", func(b *testing.B) {
		b.ReportAllocs()
		var peers, rules int
		for b.Loop() {
			c, err := Compile(f.rs, f.inv)
			if err != nil {
				b.Fatal(err)
			}
			all := c.All()
			if len(all) != benchNodes {
				b.Fatal("missing results")
			}
			peers, rules = 0, 0
			for _, res := range all {
				peers += len(res.Peers)
				rules += len(res.Filter)
			}
		}
		b.ReportMetric(float64(peers)/benchNodes, "peers/node")
		b.ReportMetric(float64(rules)/benchNodes, "rules/node")
	})
}

// benchCompiled is the fleet compiled once; benchmarks that change it
// restore it before they return.
func benchCompiled(b *testing.B) (*benchFleet, *Compiled) {
	f := loadBenchFleet(b)
	b.StopTimer()
	defer b.StartTimer()
	c, err := Compile(f.rs, f.inv)
	if err != nil {
		b.Fatal(err)
	}
	return f, c
}

// BenchmarkAddNode adds one node to the compiled fleet. The Results
// variants also compute the Result of every node the change touched, which
// is what the coordinator must send; "bare" is AddNode alone. The node is
// removed again between iterations, off the clock.
func BenchmarkAddNode(b *testing.B) {
	for _, tc := range []struct {
		name    string
		node    func(*benchFleet) Node
		results bool
	}{
		{"user/bare", func(f *benchFleet) Node { return f.spare }, false},
		{"user/Results", func(f *benchFleet) Node { return f.spare }, true},
		{"tagged/bare", func(f *benchFleet) Node { return f.spareTagged }, false},
		{"tagged/Results", func(f *benchFleet) Node { return f.spareTagged }, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f, c := benchCompiled(b)
			n := tc.node(f)
			b.ReportAllocs()
			changed := 0
			for i := 0; i < b.N; i++ {
				names, err := c.AddNode(n)
				if err != nil {
					b.Fatal(err)
				}
				if tc.results {
					for _, name := range names {
						if _, err := c.Result(name); err != nil {
							b.Fatal(err)
						}
					}
				}
				changed = len(names)
				b.StopTimer()
				if _, err := c.RemoveNode(n.Name); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(changed), "changed/op")
		})
	}
}

// BenchmarkRemoveNode removes one node from the compiled fleet (re-added
// between iterations, off the clock); the Results variant also computes
// the Results of the nodes the change touched.
func BenchmarkRemoveNode(b *testing.B) {
	for _, results := range []bool{false, true} {
		name := "bare"
		if results {
			name = "Results"
		}
		b.Run(name, func(b *testing.B) {
			f, c := benchCompiled(b)
			n := f.inv.Nodes[0] // a user's device
			b.ReportAllocs()
			changed := 0
			for i := 0; i < b.N; i++ {
				names, err := c.RemoveNode(n.Name)
				if err != nil {
					b.Fatal(err)
				}
				if results {
					for _, name := range names {
						if _, err := c.Result(name); err != nil {
							b.Fatal(err)
						}
					}
				}
				changed = len(names)
				b.StopTimer()
				if _, err := c.AddNode(n); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(changed), "changed/op")
		})
	}
}

// matchPacket is one Match query of BenchmarkMatch.
type matchPacket struct {
	src, dst netip.Addr
	proto    filter.Proto
	port     uint16
}

// benchMatchNode picks the fleet's busiest tagged node (the one with the
// most filter rules) and returns its rules.
func benchMatchNode(b *testing.B) (string, []filter.Rule) {
	f, c := benchCompiled(b)
	var name string
	var rules []filter.Rule
	for _, n := range f.inv.Nodes {
		if len(n.Tags) == 0 {
			continue
		}
		res, err := c.Result(n.Name)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Filter) > len(rules) {
			name, rules = n.Name, res.Filter
		}
	}
	return name, rules
}

// benchPackets returns up to max packets of family v6 that rules allow
// (hit) or deny (miss): sources from the rules, destinations from the
// rules' destinations, ports inside (hit) or outside (miss) the rules'
// ranges, and for misses also sources no rule names.
func benchPackets(b *testing.B, rules []filter.Rule, v6, hit bool, max int) []matchPacket {
	r := rand.New(rand.NewSource(2))
	var out []matchPacket
	for tries := 0; len(out) < max && tries < 100*max; tries++ {
		rule := rules[r.Intn(len(rules))]
		src := rule.Src[r.Intn(len(rule.Src))].Addr()
		d := rule.Dst[r.Intn(len(rule.Dst))]
		if src.Is6() != v6 || d.Net.Addr().Is6() != v6 {
			continue
		}
		pr := d.Ports[r.Intn(len(d.Ports))]
		p := matchPacket{src: src, dst: d.Net.Addr(), proto: rule.EffectiveProtos()[0], port: pr.First + uint16(r.Intn(int(pr.Last-pr.First)+1))}
		if !hit {
			switch r.Intn(3) {
			case 0:
				p.port = uint16(r.Intn(1 << 16))
			case 1:
				p.src, _ = benchAddr(benchNodes + r.Intn(1000)) // no node
				if v6 {
					_, p.src = benchAddr(benchNodes + r.Intn(1000))
				}
			default:
				p.proto = filter.ProtoUDP
			}
		}
		if ok, _ := filtertest.Match(rules, p.src, p.dst, p.proto, p.port); ok == hit {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		b.Fatalf("no %v packets (v6 %v)", hit, v6)
	}
	return out
}

// BenchmarkMatch runs filter.Matcher.Match with the compiled filter of the
// fleet's busiest tagged node, over precomputed allowed (hit) and denied
// (miss) packets of each family. It must not allocate.
func BenchmarkMatch(b *testing.B) {
	name, rules := benchMatchNode(b)
	m := filter.Compile(rules)
	srcs := 0
	for _, r := range rules {
		srcs += len(r.Src)
	}
	for _, tc := range []struct {
		name    string
		v6, hit bool
	}{
		{"v4/hit", false, true},
		{"v4/miss", false, false},
		{"v6/hit", true, true},
		{"v6/miss", true, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			pkts := benchPackets(b, rules, tc.v6, tc.hit, 1024)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := &pkts[i%len(pkts)]
				if ok, _ := m.Match(p.src, p.dst, p.proto, p.port); ok != tc.hit {
					b.Fatalf("%s: Match(%+v) = %v", name, *p, ok)
				}
			}
			b.ReportMetric(float64(len(rules)), "rules")
			b.ReportMetric(float64(srcs), "src-prefixes")
		})
	}
}
