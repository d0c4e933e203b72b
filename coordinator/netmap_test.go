package coordinator

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/dnsname"
)

// testNetmap is a netmap running testPolicy over an operator and two
// cameras (ids 1, 2, 3) whose keys expire at exp.
func testNetmap(t *testing.T, now, exp time.Time) *netmap {
	t.Helper()
	rs, _, err := acl.Check("policy", []byte(testPolicy), acl.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := newNetmap(dnsname.DefaultDomain)
	if err := m.setPolicy(rs, now); err != nil {
		t.Fatal(err)
	}
	var nodes []store.Node
	for i, tag := range []string{"tag:operator", "tag:camera", "tag:camera"} {
		nodes = append(nodes, store.Node{ID: store.NodeID(i + 1), Name: []string{"op1", "cam1", "cam2"}[i], Tags: []string{tag},
			IPv4: netip.AddrFrom4([4]byte{100, 64, 0, byte(i + 1)}), IPv6: netip.AddrFrom16([16]byte{0xfd, 15: byte(i + 1)}), KeyExpiry: exp})
	}
	if err := m.load(nodes, now); err != nil {
		t.Fatal(err)
	}
	return m
}

// checkConsistent fails unless every node the netmap holds as live is in
// the compiled policy, with op1 seeing exactly the cameras in want.
func checkConsistent(t *testing.T, m *netmap, want ...string) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range m.live {
		if _, ok := m.comp.Node(m.nodes[id].Name); !ok {
			t.Errorf("node %s is live in the netmap but not in the compiled policy", m.nodes[id].Name)
		}
	}
	res, err := m.comp.Result("op1")
	if err != nil || !slices.Equal(res.Peers, want) {
		t.Errorf("op1's peers = %v (%v), want %v", res.Peers, err, want)
	}
}

// TestNetmapCompilerErrorsNotDropped: when the policy compiler refuses to
// drop a node the netmap holds as live (the two disagree), removing or
// expiring it returns the error for the log, instead of dropping it, and
// the netmap recompiles and touches every node so each gets a fresh map.
func TestNetmapCompilerErrorsNotDropped(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		act  func(m *netmap) ([]store.NodeID, error)
	}{
		{"remove", func(m *netmap) ([]store.NodeID, error) { return m.remove(2, now) }},
		{"expire", func(m *netmap) ([]store.NodeID, error) {
			n := m.nodes[2]
			n.KeyExpiry = now.Add(-time.Second)
			m.nodes[2] = n
			_, touched, err := m.expire(now)
			return touched, err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testNetmap(t, now, now.Add(time.Hour))
			checkConsistent(t, m, "cam1", "cam2")
			// The disagreement: cam1 leaves the compiled policy behind the
			// netmap's back.
			if _, err := m.comp.RemoveNode("cam1"); err != nil {
				t.Fatal(err)
			}
			touched, err := tt.act(m)
			if !errors.Is(err, acl.ErrUnknownNode) {
				t.Fatalf("error = %v, want the compiler's ErrUnknownNode", err)
			}
			slices.Sort(touched)
			if want := map[string][]store.NodeID{"remove": {1, 3}, "expire": {1, 2, 3}}[tt.name]; !slices.Equal(touched, want) {
				t.Errorf("touched %v, want every node %v", touched, want)
			}
			checkConsistent(t, m, "cam2")
		})
	}
}

// TestExpireScansOnlyFromTheNextExpiry: the housekeeping tick (four a
// second) scans the live nodes only once the earliest key may have
// expired, not at every tick; an upsert with an earlier expiry moves that
// time, and a node reaches the ephemeral set only as an ephemeral one.
func TestExpireScansOnlyFromTheNextExpiry(t *testing.T) {
	now := time.Now()
	m := testNetmap(t, now, now.Add(time.Hour))
	if gone, _, _ := m.expire(now); len(gone) != 0 {
		t.Fatalf("expired %v an hour early", gone)
	}
	// A record changed behind the netmap's back (no upsert) is not
	// scanned for before the known next expiry: proof that no scan runs.
	m.mu.Lock()
	n := m.nodes[2]
	n.KeyExpiry = now.Add(time.Minute)
	m.nodes[2] = n
	m.mu.Unlock()
	if gone, _, _ := m.expire(now.Add(2 * time.Minute)); len(gone) != 0 {
		t.Errorf("scanned before the next expiry: expired %v", gone)
	}
	// An upsert with an earlier expiry is seen.
	n.KeyExpiry, n.Ephemeral = now.Add(time.Minute), true
	if _, err := m.upsert(n, now); err != nil {
		t.Fatal(err)
	}
	if gone, _, _ := m.expire(now.Add(2 * time.Minute)); !slices.Equal(gone, []store.NodeID{2}) {
		t.Errorf("after the upsert: expired %v, want [2]", gone)
	}
	if !m.ephemeral[2] || m.ephemeral[1] {
		t.Errorf("ephemeral set %v, want node 2 only", m.ephemeral)
	}
	// At the next expiry everything left goes.
	if gone, _, _ := m.expire(now.Add(time.Hour)); len(gone) != 2 {
		t.Errorf("at the hour: expired %v, want the other two", gone)
	}
}

// TestMapOfFailsClosedWhenCompilerForgetsNode: when the compiled policy
// does not know a node the netmap holds as live (the two disagree), the
// node's map carries no peers and an empty filter, which replaces the one
// it holds, rather than no filter, which would leave its old rules in force.
func TestMapOfFailsClosedWhenCompilerForgetsNode(t *testing.T) {
	now := time.Now()
	m := testNetmap(t, now, now.Add(time.Hour))
	if ms, _ := m.mapOf(2, nil, true); len(ms.filter) == 0 {
		t.Fatal("cam1 has no inbound rules to begin with")
	}
	if _, err := m.comp.RemoveNode("cam1"); err != nil {
		t.Fatal(err)
	}
	delete(m.filters, 2)
	ms, ok := m.mapOf(2, nil, true)
	if !ok {
		t.Fatal("cam1 is gone from the netmap")
	}
	if ms.filter == nil || len(ms.filter) != 0 || len(ms.peers) != 0 {
		t.Errorf("map of a node the policy does not know: filter %v (nil keeps the old one), %d peers; want an empty filter, no peers", ms.filter, len(ms.peers))
	}
}

// TestUpsertRefusedStillTouchesOldPeers: when the policy refuses a node's
// new record (here a name another node holds) after its old record left
// the policy, the node is no longer live and upsert still returns its old
// peers with the error, so that their maps drop it.
func TestUpsertRefusedStillTouchesOldPeers(t *testing.T) {
	now := time.Now()
	m := testNetmap(t, now, now.Add(time.Hour))
	n := m.nodes[2]
	n.Name = "cam2" // node 3's
	ids, err := m.upsert(n, now)
	if err == nil {
		t.Fatal("upsert with a duplicate name: no error")
	}
	if m.live[2] {
		t.Fatal("node 2 is still live")
	}
	if !slices.Contains(ids, 1) {
		t.Errorf("touched %v; want op1 (1), which saw cam1 and must drop it", ids)
	}
}
