package coordinator

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// The policies the random changes switch between: grants with ports,
// peers among one tag, a tag both source and destination.
var incrementalPolicies = []string{
	`{"groups": {"group:ops": [], "group:dev": []},
	  "tagOwners": {"tag:operator": [], "tag:camera": [], "tag:sensor": []},
	  "acls": [{"action": "accept", "src": ["tag:operator"], "dst": ["tag:camera:22", "tag:sensor:8883"], "proto": "tcp"},
	           {"action": "accept", "src": ["group:ops"], "dst": ["tag:camera:22"]}]}`,
	`{"groups": {"group:ops": [], "group:dev": []},
	  "tagOwners": {"tag:operator": [], "tag:camera": [], "tag:sensor": []},
	  "acls": [{"action": "accept", "src": ["tag:operator"], "dst": ["tag:camera:22,80-90"], "proto": "tcp"},
	           {"action": "accept", "src": ["tag:sensor"], "dst": ["tag:camera:554", "group:dev:8080"]},
	           {"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"], "proto": "icmp"},
	           {"action": "accept", "src": ["tag:camera"], "dst": ["tag:operator:*"]}]}`,
	`{"groups": {"group:ops": [], "group:dev": []},
	  "tagOwners": {"tag:operator": [], "tag:camera": [], "tag:sensor": []},
	  "acls": [{"action": "accept", "src": ["tag:sensor"], "dst": ["tag:sensor:1883"], "proto": "tcp"},
	           {"action": "accept", "src": ["group:dev", "group:ops"], "dst": ["tag:sensor:1883"]},
	           {"action": "accept", "src": ["tag:operator", "100.64.0.0/10"], "dst": ["tag:camera:22"]}]}`,
	// Almost nothing: switching to it removes nearly every peer and rule.
	`{"groups": {"group:ops": [], "group:dev": []},
	  "tagOwners": {"tag:operator": [], "tag:camera": [], "tag:sensor": []},
	  "acls": [{"action": "accept", "src": ["tag:camera"], "dst": ["tag:camera:443"], "proto": "tcp"}]}`,
}

// The people who log in, and the IdP groups a login may carry.
var (
	incrementalPeople = []string{"alice", "bob", "carol"}
	incrementalGroups = []string{"ops", "dev", "ops,dev", ""}
)

var incrementalTags = []string{"tag:operator", "tag:camera", "tag:sensor"}

// TestIncrementalMapsMatchFromScratch applies random sequences of
// changes (joins, people's logins with changing IdP groups, retags to one
// or two tags (a tag removed), removals, key revocations and expiries, a
// person disabled (their keys cut) and enabled again, policy switches
// (one to a policy granting almost nothing), streams that drop and resume
// from their last version) to a real coordinator with every node's
// map stream open, and after each change checks that the map every node
// built from its deltas is the map computed from scratch, and that this
// map is what the policy, compiled anew against the fleet, grants.
func TestIncrementalMapsMatchFromScratch(t *testing.T) {
	seeds, steps := 8, 40
	if testing.Short() {
		seeds = 2
	}
	// Merges of the held peer sets and rebases on a class's lineage
	// (sentPeers.merge) from two entries on, as a large fleet's make them.
	mergeFloor.Store(2)
	defer mergeFloor.Store(0)
	r0 := rebases.Load()
	for seed := int64(1); seed <= int64(seeds); seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			if seed%2 == 0 {
				// Source lists of both families split by family, as from
				// 64 prefixes (acl.SetSrcSplitMin): each family's list
				// grows in place and goes as deltas of its own.
				defer acl.SetSrcSplitMin(1)()
			}
			checkIncrementalMaps(t, seed, steps)
		})
	}
	if n, m := viewsShared.Load(), viewsMade.Load(); n == 0 || m == 0 {
		t.Errorf("view classes made %d, whole maps that took another stream's diff %d: the test missed the classes' shared path", m, n)
	} else {
		t.Logf("%d view classes made, %d whole maps took a class's shared diff", m, n)
	}
	// Each path the seeds must have run: how often it ran, what it is
	// when it did, and what the test missed when it did not.
	for _, p := range []struct {
		n           int64
		ran, missed string
	}{
		{rebases.Load() - r0, "held peer sets rebased", "no held peer set rebased on its class's lineage"},
		{srcDeltasApplied.Load(), "filter source deltas applied", "no filter source went as a delta (wire.SrcDelta)"},
		{heldCompacted.Load(), "held peer sets compacted between steps", "no held peer set was compacted between steps"},
		{absentShared.Load(), "removals' checks shared by a class", "no removals' check of a pending \"all\" was shared by a class"},
		{grantSwapsApplied.Load(), "grants swaps applied", "no grants went as a swap (wire.GrantsSwap)"},
		{blocksShared.Load(), "whole maps sent with a shared diff's binary peer block", "no stream sent a shared diff's binary peer block (classDiff.block)"},
	} {
		if p.n == 0 {
			t.Errorf("%s: the test missed that path", p.missed)
		} else {
			t.Logf("%d %s", p.n, p.ran)
		}
	}
}

func checkIncrementalMaps(t *testing.T, seed int64, steps int) {
	r := rand.New(rand.NewSource(seed))
	c := startCoordWith(t, incrementalPolicies[0], func(cfg *Config) { cfg.Auth, cfg.SrcDeltaMin = fakeAuth{}, 1 })
	policy := incrementalPolicies[0]
	fleet := map[string]*follower{}
	people := map[string]bool{}
	next := 0
	for step := range steps {
		names := slices.Sorted(func(yield func(string) bool) {
			for n := range fleet {
				if !yield(n) {
					return
				}
			}
		})
		var op string
		switch k := r.Intn(16); {
		case k == 12 && len(names) >= 2:
			name := names[r.Intn(len(names))]
			op = "expire " + name
			if code := c.admin("POST", wire.PathAdminNodes+"/"+name+"/expire", nil, nil); code != 200 {
				t.Fatalf("%s: %d", op, code)
			}
		case k == 13 && len(names) >= 2:
			name := names[r.Intn(len(names))]
			if strings.Contains(name, "laptop") {
				continue // a person's node is not tagged here
			}
			i := r.Intn(3)
			tags := []string{incrementalTags[i], incrementalTags[(i+1)%3]}
			op = "tag " + name + " " + strings.Join(tags, ",")
			if code := c.admin("PUT", wire.PathAdminNodes+"/"+name+"/tags", wire.SetTagsRequest{Tags: tags}, nil); code != 200 {
				t.Fatalf("%s: %d", op, code)
			}
		case k == 14 && len(people) > 0:
			who := slices.Sorted(maps.Keys(people))[r.Intn(len(people))]
			op = "disable " + who
			if code := c.admin("POST", wire.PathAdminUsers+"/"+who+"@example.com/disable", nil, nil); code != 200 {
				t.Fatalf("%s: %d", op, code)
			}
			checkFleetMaps(t, c, policy, fleet, fmt.Sprintf("step %d (%s)", step, op))
			op = "enable " + who
			if code := c.admin("POST", wire.PathAdminUsers+"/"+who+"@example.com/enable", nil, nil); code != 200 {
				t.Fatalf("%s: %d", op, code)
			}
		case k == 15:
			policy = incrementalPolicies[len(incrementalPolicies)-1]
			op = "policy switch to almost nothing"
			if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: policy, ParentID: -1}, nil); code != 200 {
				t.Fatalf("%s: %d", op, code)
			}
		case k >= 10 && k < 12:
			m := newMachine(t)
			who, groups := incrementalPeople[r.Intn(3)], incrementalGroups[r.Intn(4)]
			res, _ := c.login(m, who, groups)
			if res.Node == nil {
				t.Fatalf("login of %s: %+v", who, res)
			}
			op = "login " + who + " in " + groups + " as " + res.Node.Name
			f := &follower{c: c, m: m, name: res.Node.Name, proto: followerVersion(r)}
			f.open(0)
			fleet[res.Node.Name] = f
			people[who] = true
		case k < 4 || len(names) < 2:
			name := fmt.Sprintf("n%d", next)
			next++
			op = "join " + name
			f := &follower{c: c, m: c.mustRegister([]string{incrementalTags[r.Intn(3)]}, name), name: name, proto: followerVersion(r)}
			f.open(0)
			fleet[name] = f
		case k < 6:
			name, tag := names[r.Intn(len(names))], incrementalTags[r.Intn(3)]
			if strings.Contains(name, "laptop") {
				continue // a person's node is not retagged here
			}
			op = "retag " + name + " " + tag
			if code := c.admin("PUT", wire.PathAdminNodes+"/"+name+"/tags", wire.SetTagsRequest{Tags: []string{tag}}, nil); code != 200 {
				t.Fatalf("%s: %d", op, code)
			}
		case k < 7:
			name := names[r.Intn(len(names))]
			op = "remove " + name
			if code := c.admin("DELETE", wire.PathAdminNodes+"/"+name, nil, nil); code != 204 {
				t.Fatalf("%s: %d", op, code)
			}
			fleet[name].close()
			delete(fleet, name)
		case k < 8:
			policy = incrementalPolicies[r.Intn(len(incrementalPolicies))]
			op = "policy switch"
			if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: policy, ParentID: -1}, nil); code != 200 {
				t.Fatalf("%s: %d", op, code)
			}
		default:
			name := names[r.Intn(len(names))]
			op = "resume " + name
			fleet[name].reconnect()
		}
		checkFleetMaps(t, c, policy, fleet, fmt.Sprintf("step %d (%s)", step, op))
	}
	for _, f := range fleet {
		f.close()
	}
	viewsShared.Add(int64(valueOf(t, c.srv.metrics.mapViews.WithLabelValues("shared"))))
	viewsMade.Add(int64(valueOf(t, c.srv.metrics.mapViews.WithLabelValues("view"))))
	blocksShared.Add(int64(valueOf(t, c.srv.metrics.mapViews.WithLabelValues("block")) + valueOf(t, c.srv.metrics.mapViews.WithLabelValues("block-shared"))))
}

// blocksShared counts, over the seeds, the whole maps sent with their
// diff's binary peer block (classDiff.block: made for a diff another
// stream made, or taken as another stream made it).
var blocksShared atomic.Int64

// heldCompacted counts, over the seeds, the held peer sets compacted
// between steps (Server.CompactHeld).
var heldCompacted atomic.Int64

// absentShared counts, over the seeds, the removals' checks of a pending
// "all" that took the answer another node of the class got
// (netmap.absentOfAll).
var absentShared atomic.Int64

// viewsShared and viewsMade count, over the seeds, the whole maps whose
// peers part another stream of the view class made, and the view classes
// made (viewclass.go).
var viewsShared, viewsMade atomic.Int64

// checkFleetMaps waits for every follower to hold the map computed from
// scratch, then checks that map against the policy compiled anew.
func checkFleetMaps(t *testing.T, c *testCoord, policy string, fleet map[string]*follower, at string) {
	t.Helper()
	// The held sets compacted (as ahead of a memory give-back) while the
	// streams run: the next steps' deltas are made against them.
	heldCompacted.Add(int64(c.srv.CompactHeld()))
	want := oracleMaps(t, c, policy)
	var everyone []store.NodeID
	held := map[wire.NodeID]sentPeer{}
	for _, f := range fleet {
		everyone = append(everyone, store.NodeID(f.id()))
		held[f.id()] = sentPeer{}
	}
	// Every follower "holds" everyone (the same entries): the removals'
	// check of a pending "all" is made once per class and shared.
	everyoneKey := keyOf(held)
	asked := 0
	heldIDs := func() []store.NodeID { asked++; return everyone }
	for name, f := range fleet {
		// A removal's check through the peer class (a pending "all")
		// finds the same absent peers as one made node by node.
		byClass, ok1 := c.srv.nm.absentOfBy(store.NodeID(f.id()), everyone, true)
		byNode, ok2 := c.srv.nm.absentOfBy(store.NodeID(f.id()), everyone, false)
		if ok1 != ok2 || !slices.Equal(byClass, byNode) {
			t.Fatalf("%s: %s's absent peers through its class %v (%v), node by node %v (%v)", at, name, byClass, ok1, byNode, ok2)
		}
		before := asked
		shared, ok3 := c.srv.nm.absentOfAll(store.NodeID(f.id()), everyoneKey, heldIDs)
		if asked == before {
			absentShared.Add(1)
		}
		if byNode = slices.Sorted(slices.Values(byNode)); ok3 != ok2 || !slices.Equal(shared, byNode) {
			t.Fatalf("%s: %s's absent peers shared by its class %v (%v), node by node %v (%v)", at, name, shared, ok3, byNode, ok2)
		}
		var diff string
		deadline := time.Now().Add(10 * time.Second)
		for {
			scratch := fromScratch(t, c, f.id())
			if d := cmp.Diff(scratch, fromClass(t, c, f.id()), cmpopts.EquateEmpty(), cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, netip.AddrPort{})); d != "" {
				t.Fatalf("%s: %s's full map from its view class differs from one computed node by node (-node +class):\n%s", at, name, d)
			}
			got := f.snapshot()
			if diff = cmp.Diff(scratch, got, cmpopts.EquateEmpty(), cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, netip.AddrPort{})); diff == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s's map from its deltas differs from one computed from scratch (-scratch +deltas):\n%s\nstream errors: %v", at, name, diff, f.errs())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if errs := f.errs(); len(errs) > 0 {
			t.Fatalf("%s: %s's stream: %v", at, name, errs)
		}
		got := f.snapshot()
		if d := cmp.Diff(want[name], oracleOf(got), cmpopts.EquateEmpty(), cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); d != "" {
			t.Fatalf("%s: %s's map is not what the policy grants (-policy +map):\n%s", at, name, d)
		}
	}
}

// heldMap is a node's map as the oracle sees it: peer names with grants,
// and the filter.
type heldMap struct {
	Peers  map[string][]filter.PortGrant
	Filter []filter.Rule
}

func oracleOf(m wire.MapResponse) heldMap {
	h := heldMap{Peers: map[string][]filter.PortGrant{}, Filter: m.Filter}
	for _, p := range m.Peers {
		h.Peers[p.Name] = p.Grants
	}
	return h
}

// oracleMaps compiles policy anew against the fleet the admin API lists
// and returns what each node must hold: its peers, the grants toward each
// (the peer's filter compiled into a matcher, as the node's data plane
// does) and its filter.
func oracleMaps(t *testing.T, c *testCoord, policy string) map[string]heldMap {
	t.Helper()
	var nodes []wire.AdminNode
	if code := c.admin("GET", wire.PathAdminNodes, nil, &nodes); code != 200 {
		t.Fatalf("list nodes: %d", code)
	}
	var users []wire.AdminUser
	if code := c.admin("GET", wire.PathAdminUsers, nil, &users); code != 200 {
		t.Fatalf("list users: %d", code)
	}
	groups := map[string][]string{}
	for _, u := range users {
		for _, g := range u.Groups {
			groups[policyGroup(g)] = append(groups[policyGroup(g)], u.Email)
		}
	}
	p, err := acl.Parse("policy", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := acl.Resolve(p, acl.Options{ExternalGroups: groups})
	if err != nil {
		t.Fatal(err)
	}
	var inv acl.Inventory
	addrs := map[string][]netip.Addr{}
	for _, n := range nodes {
		if n.Expired {
			continue
		}
		inv.Nodes = append(inv.Nodes, acl.Node{Name: n.Name, IPv4: n.IPv4, IPv6: n.IPv6, Tags: n.Tags, User: n.User})
		addrs[n.Name] = []netip.Addr{n.IPv4, n.IPv6}
	}
	comp, err := acl.Compile(rs, inv)
	if err != nil {
		t.Fatal(err)
	}
	all := comp.All()
	out := map[string]heldMap{}
	for name, res := range all {
		h := heldMap{Peers: map[string][]filter.PortGrant{}, Filter: res.Filter}
		for _, peer := range res.Peers {
			h.Peers[peer] = filter.Compile(all[peer].Filter).Reach(addrs[name], addrs[peer])
		}
		out[name] = h
	}
	return out
}

// fromScratch computes node id's full map as a new stream's first message
// is made, without opening a stream (which would change what a resuming
// stream finds).
func fromScratch(t *testing.T, c *testCoord, id wire.NodeID) wire.MapResponse {
	t.Helper()
	ms, ok := c.srv.nm.mapOfPerNode(store.NodeID(id), nil, true)
	if !ok {
		t.Fatalf("node %d is gone", id)
	}
	st := &streamState{s: c.srv.control, sent: &sentState{}}
	b, _ := st.build(ms, true, c.srv.relays.current())
	var m wire.MapResponse
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("full map of %d: %v", id, err)
	}
	return normalized(m)
}

// fromClass is fromScratch through the node's view class (mapOf), as a
// new stream's first message is made.
func fromClass(t *testing.T, c *testCoord, id wire.NodeID) wire.MapResponse {
	t.Helper()
	ms, ok := c.srv.nm.mapOf(store.NodeID(id), nil, true)
	if !ok {
		t.Fatalf("node %d is gone", id)
	}
	st := &streamState{s: c.srv.control, id: store.NodeID(id), sent: &sentState{}}
	b, _ := st.build(ms, true, c.srv.relays.current())
	var m wire.MapResponse
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("full map of %d: %v", id, err)
	}
	return normalized(m)
}

// normalized keeps what a node holds of a full map: self, peers sorted by
// id, filter.
func normalized(m wire.MapResponse) wire.MapResponse {
	slices.SortFunc(m.Peers, func(a, b wire.Node) int { return int(a.ID) - int(b.ID) })
	out := wire.MapResponse{Self: m.Self, Peers: m.Peers, Filter: m.Filter}
	return out
}

// followerVersion picks a follower's protocol version: as old as the
// first, or the current one (which takes grants without records).
func followerVersion(r *rand.Rand) int {
	return []int{0, wire.ProtocolVersion}[r.Intn(2)]
}

// follower holds one node's map stream and applies its messages as a
// node does: a full map replaces, a delta changes.
type follower struct {
	c    *testCoord
	m    *machine
	name string
	// proto is the protocol version it says it speaks (0: says none).
	proto int

	mu      sync.Mutex // guards the following
	resp    *http.Response
	done    chan struct{}
	version uint64
	self    *wire.Node
	peers   map[wire.NodeID]wire.Node
	filter  []filter.Rule
	failed  []error
}

// srcDeltasApplied counts the source deltas (wire.SrcDelta) followers
// applied, so the test knows it went through that path.
var srcDeltasApplied atomic.Int64

// grantSwapsApplied counts the grants swaps (wire.GrantsSwap) followers
// applied.
var grantSwapsApplied atomic.Int64

func (f *follower) open(since uint64) {
	u := fmt.Sprintf("%s%s?since=%d", f.c.http.URL, wire.PathMap, since)
	if f.proto > 0 {
		u += fmt.Sprintf("&%s=%d", wire.MapVersionParam, f.proto)
	}
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+f.m.token)
	resp, err := f.c.http.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		f.c.t.Fatalf("open map of %s: %v %v", f.name, err, resp)
	}
	done := make(chan struct{})
	f.mu.Lock()
	f.resp, f.done = resp, done
	f.mu.Unlock()
	go func() {
		defer close(done)
		br := bufio.NewReaderSize(resp.Body, 1<<16)
		for {
			m, err := readMapMsg(br)
			if errors.Is(err, errMapDecode) {
				f.fail(err)
				return
			}
			if err != nil {
				return
			}
			f.apply(m)
		}
	}()
}

func (f *follower) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = append(f.failed, err)
}

func (f *follower) errs() []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func (f *follower) apply(m wire.MapResponse) {
	if m.KeepAlive {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version = m.Version
	if m.Self != nil {
		f.self = m.Self
	}
	if m.Full {
		f.peers = map[wire.NodeID]wire.Node{}
		for _, p := range m.Peers {
			f.peers[p.ID] = p
		}
	}
	if len(m.PeersGrantsSwap) > 0 {
		if f.proto < int(wire.FeatureGrantsSwap) || m.Full {
			f.failed = append(f.failed, fmt.Errorf("version %d: grants swapped for a node of protocol %d (full %v)", m.Version, f.proto, m.Full))
		}
		for id, p := range f.peers {
			p.Grants = wire.SwapGrants(p.Grants, m.PeersGrantsSwap)
			f.peers[id] = p
		}
		grantSwapsApplied.Add(int64(len(m.PeersGrantsSwap)))
	}
	for _, p := range m.PeersChanged {
		f.peers[p.ID] = p
	}
	if len(m.PeersGrants) > 0 && f.proto < int(wire.FeatureGrantsDelta) {
		f.failed = append(f.failed, fmt.Errorf("version %d: grants without records (%v)", m.Version, m.PeersGrants))
	}
	for _, g := range m.PeersGrants {
		p, ok := f.peers[g.ID]
		if !ok {
			f.failed = append(f.failed, fmt.Errorf("version %d: grants of peer %d, which the node does not hold", m.Version, g.ID))
			continue
		}
		p.Grants = g.Grants
		f.peers[g.ID] = p
	}
	for _, id := range m.PeersRemoved {
		delete(f.peers, id)
	}
	if len(m.FilterSrcFrom) > 0 && f.proto < int(wire.FeatureFilterSrcRefs) {
		f.failed = append(f.failed, fmt.Errorf("version %d: filter_src_from %v to a node of protocol %d", m.Version, m.FilterSrcFrom, f.proto))
		return
	}
	if len(m.FilterSrcDelta) > 0 && f.proto < int(wire.FeatureFilterSrcDelta) {
		f.failed = append(f.failed, fmt.Errorf("version %d: filter_src_delta to a node of protocol %d", m.Version, f.proto))
		return
	}
	// as a node does (node.netmap.apply)
	rules, err := wire.RulesFrom(m, f.filter)
	if err != nil {
		f.failed = append(f.failed, fmt.Errorf("version %d: %w", m.Version, err))
		return
	}
	m.Filter = rules
	srcDeltasApplied.Add(int64(len(m.FilterSrcDelta)))
	if m.Full || m.FilterChanged {
		f.filter = m.Filter
	}
}

// reconnect drops the stream and resumes it from the last version seen.
func (f *follower) reconnect() {
	f.close()
	f.mu.Lock()
	since := f.version
	f.mu.Unlock()
	f.open(since)
}

func (f *follower) close() {
	f.mu.Lock()
	resp, done := f.resp, f.done
	f.mu.Unlock()
	resp.Body.Close()
	<-done
}

func (f *follower) id() wire.NodeID {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.self == nil {
		f.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		f.mu.Lock()
	}
	return f.self.ID
}

// snapshot is what the follower holds, as normalized does.
func (f *follower) snapshot() wire.MapResponse {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := wire.MapResponse{Self: f.self, Filter: f.filter}
	for _, p := range f.peers {
		m.Peers = append(m.Peers, p)
	}
	return normalized(m)
}
