package coordinator

import (
	"fmt"
	"math/rand"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"
	"weak"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/dnsname"
	"github.com/wardnet/ward/filter"
)

// TestSrcCachesKeepNoListAlive: the source lists' caches (infos, deltas,
// the grants memo) answer from what they hold while a list is in use, and
// keep none alive once nothing else holds it: a gateway's superseded
// lists of every sensor are 1.2 MB each at 50,000 nodes.
func TestSrcCachesKeepNoListAlive(t *testing.T) {
	c := newSrcCache()
	ws, d, gs := useSrcCaches(t, c)
	runtime.GC()
	runtime.GC()
	for i, w := range ws {
		if w.Value() != nil {
			t.Errorf("list %d is still alive, held by the caches alone", i)
		}
	}
	// The answers outlive their keys' lists: they are the caches' own.
	if len(d) == 0 || len(gs) == 0 {
		t.Fatalf("delta %q, grants %v", d, gs)
	}
	runtime.KeepAlive(c)
}

// useSrcCaches asks c for the infos, a delta and grants of lists it makes
// and drops, and returns weak pointers to the lists and the answers.
func useSrcCaches(t *testing.T, c *srcCache) ([]weak.Pointer[netip.Prefix], []byte, []filter.PortGrant) {
	held, next := grownList(300), grownList(400)
	rules := []filter.Rule{{Src: next, Dst: []filter.DstNet{{Net: netip.MustParsePrefix("100.127.0.1/32"), Ports: []filter.PortRange{{First: 8883, Last: 8883}}}}, Protos: []filter.Proto{filter.ProtoTCP}}}
	c.filterSum(rules)
	d := c.srcDeltaFor(held, next)
	if again := c.srcDeltaFor(held, next); len(d) == 0 || &again[0] != &d[0] {
		t.Fatal("a pair asked again was not answered from the cache")
	}
	self, dst := []netip.Addr{next[5].Addr()}, []netip.Addr{netip.MustParseAddr("100.127.0.1")}
	gs := c.grantsOf(rules, self, dst)
	if again := c.grantsOf(rules, self, dst); len(gs) == 0 || &again[0] != &gs[0] {
		t.Fatal("grants asked again were not answered from the memo")
	}
	return []weak.Pointer[netip.Prefix]{weak.Make(&held[0]), weak.Make(&next[0])}, d, gs
}

// TestSettledFleetKeepsOneSourceArray: after sensors join a gateway's
// sources in random address order (most joins sort among the addresses
// the gateways were already sent, and copy the list), with the gateways'
// streams taking each new filter as a stream does (its sum, a delta
// against the held one, the sensors' grants) and a sensor's whole map
// made after each batch, the settled netmap keeps alive only the arrays
// the gateways hold: one per address family.
func TestSettledFleetKeepsOneSourceArray(t *testing.T) {
	const gateways, sensors, batch = 4, 600, 6
	rs, _, err := acl.Check("policy", []byte(`{
	  "tagOwners": {"tag:gateway": [], "tag:sensor": []},
	  "acls": [{"action": "accept", "src": ["tag:sensor"], "dst": ["tag:gateway:8883"], "proto": "tcp"}]}`), acl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m := newNetmap(dnsname.DefaultDomain)
	if err := m.setPolicy(rs, now); err != nil {
		t.Fatal(err)
	}
	node := func(id int, tag string, host int) store.Node {
		return store.Node{ID: store.NodeID(id), Name: fmt.Sprintf("n%d", id), Tags: []string{tag},
			IPv4: netip.AddrFrom4([4]byte{100, 64 + byte(host>>16), byte(host >> 8), byte(host)}),
			IPv6: netip.AddrFrom16([16]byte{0xfd, 13: byte(host >> 16), 14: byte(host >> 8), 15: byte(host)})}
	}
	var fleet []store.Node
	for g := range gateways {
		fleet = append(fleet, node(g+1, "tag:gateway", 60_000+g))
	}
	// The first 100 sensors in address order, so every list is split by
	// family (acl.srcSplitMin) and grows in place from the start.
	hosts := rand.New(rand.NewSource(1)).Perm(sensors)
	slices.Sort(hosts[:100])
	for i := range 100 {
		fleet = append(fleet, node(gateways+1+i, "tag:sensor", hosts[i]+1))
	}
	if err := m.load(fleet, now); err != nil {
		t.Fatal(err)
	}
	held := make([][]filter.Rule, gateways)
	seen := map[weak.Pointer[netip.Prefix]]bool{}
	copies := 0
	for i := 100; i < sensors; i += batch {
		for j := i; j < min(i+batch, sensors); j++ {
			if _, err := m.upsert(node(gateways+1+j, "tag:sensor", hosts[j]+1), now); err != nil {
				t.Fatal(err)
			}
		}
		copies += settleGateways(t, m, held, seen, store.NodeID(gateways+1+i))
	}
	if copies < 20 {
		t.Fatalf("only %d joins made a new array: the test missed the copies", copies)
	}
	runtime.GC()
	runtime.GC()
	inUse := map[weak.Pointer[netip.Prefix]]bool{}
	for _, f := range held {
		for _, r := range f {
			inUse[weak.Make(&r.Src[0])] = true
		}
	}
	alive := 0
	for w := range seen {
		if w.Value() != nil && !inUse[w] {
			alive++
		}
	}
	if len(inUse) != 2 || alive > 0 {
		t.Fatalf("of %d arrays the gateways' source lists went through, %d are alive besides the %d the gateways hold (want 2)",
			len(seen), alive, len(inUse))
	}
	runtime.KeepAlive(m)
}

// settleGateways has each gateway's stream take its new filter (held[g])
// as a stream does, and sensor viewer's whole map made; it records the
// filters' arrays in seen and returns how many were new.
func settleGateways(t *testing.T, m *netmap, held [][]filter.Rule, seen map[weak.Pointer[netip.Prefix]]bool, viewer store.NodeID) int {
	t.Helper()
	fresh := 0
	for g := range held {
		m.mu.Lock()
		mp := m.mapPeerLocked(store.NodeID(g + 1))
		self := m.recLocked(viewer).addrs
		m.mu.Unlock()
		if len(mp.rules) != 2 {
			t.Fatalf("gateway %d's filter has %d rules, want one per family", g+1, len(mp.rules))
		}
		for _, r := range mp.rules {
			if w := weak.Make(&r.Src[0]); !seen[w] {
				seen[w] = true
				fresh++
			}
		}
		m.src.filterSum(mp.rules)
		m.src.srcDeltasOf(mp.rules, held[g], nil, 1)
		m.grants(mp, self)
		held[g] = mp.rules
	}
	if _, ok := m.mapOf(viewer, nil, true); !ok {
		t.Fatal("no map for the sensor")
	}
	return fresh
}
