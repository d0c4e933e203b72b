package coordinator

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// pendingPeers returns the peers pending on node id's streams.
func (c *testCoord) pendingPeers(id store.NodeID) []store.NodeID {
	c.srv.hub.mu.Lock()
	defer c.srv.hub.mu.Unlock()
	var out []store.NodeID
	for _, sub := range c.srv.hub.subs[id] {
		peers, _ := sub.peek()
		out = append(out, peers...)
	}
	return out
}

// expireNode expires node id's key through the admin API, as an admin
// revoking it would.
func (c *testCoord) expireNode(id store.NodeID) {
	c.t.Helper()
	if code := c.admin("POST", fmt.Sprintf("%s/%d/expire", wire.PathAdminNodes, id), nil, nil); code != http.StatusOK {
		c.t.Fatalf("expire node %d: %d", id, code)
	}
}

// wantRemovedAlone fails t unless m removes peer id and carries nothing
// else; when says which message m is.
func wantRemovedAlone(t *testing.T, m wire.MapResponse, id store.NodeID, when string) {
	t.Helper()
	if !slices.Equal(m.PeersRemoved, []wire.NodeID{wire.NodeID(id)}) || len(m.PeersChanged) > 0 || len(m.Peers) > 0 {
		t.Fatalf("message %s: removed %v, changed %d, peers %d; want %d removed alone", when, m.PeersRemoved, len(m.PeersChanged), len(m.Peers), id)
	}
}

// TestRemovalsAndRevocationsBypassPacing: a node whose stream is paced
// after a large message (here every message paces it for an hour) still
// gets a peer's revocation at once, in a message of its own ahead of the
// paced update (a join, still pending); its own revocation too.
func TestRemovalsAndRevocationsBypassPacing(t *testing.T) {
	c := startCoord(t, testPolicy)
	c.srv.control.pace = func(int) time.Duration { return time.Hour } // before any stream opens
	gw := c.mustRegister([]string{"tag:operator"}, "gw")
	cam1 := c.mustRegister([]string{"tag:camera"}, "cam1")
	gwID, cam1ID := c.storeNode(gw).ID, c.storeNode(cam1).ID
	s := c.openMap(gw, 0)
	if first := s.next(); len(first.Peers) != 1 {
		t.Fatalf("first map: %d peers, want cam1", len(first.Peers))
	}
	// The stream is paced now: a join waits.
	cam2 := c.mustRegister([]string{"tag:camera"}, "cam2")
	cam2ID := c.storeNode(cam2).ID
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(c.pendingPeers(gwID), cam2ID) {
		if time.Now().After(deadline) {
			t.Fatal("cam2's join is not pending on the paced stream")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// An attacker's camera is revoked by an admin: the gateway drops it at once.
	c.expireNode(cam1ID)
	m := s.next()
	wantRemovedAlone(t, m, cam1ID, "after the revocation")
	if !slices.Contains(c.pendingPeers(gwID), cam2ID) {
		t.Error("cam2's join is no longer pending: the paced update was sent early or lost")
	}

	// The gateway's own revocation: it loses every peer and learns it at once.
	c.expireNode(gwID)
	m = s.next()
	if m.Self == nil || !m.Self.KeyRevoked {
		t.Errorf("message after the gateway's revocation: self %+v; want it revoked", m.Self)
	}
	if len(m.PeersChanged) > 0 || len(m.Peers) > 0 {
		t.Errorf("message after the gateway's revocation: %d peers changed; want removals only", len(m.PeersChanged))
	}
}

// pacedPolicy is a policy whose acls are operators' accepts to cameras
// on each of ports, and the acl extra (when not empty).
func pacedPolicy(extra string, ports ...int) string {
	var acls []string
	for _, p := range ports {
		acls = append(acls, fmt.Sprintf(`{"action": "accept", "src": ["tag:operator"], "dst": ["tag:camera:%d"]}`, p))
	}
	if extra != "" {
		acls = append(acls, extra)
	}
	return fmt.Sprintf(`{"tagOwners": {"tag:operator": [], "tag:camera": []}, "acls": [%s]}`, strings.Join(acls, ", "))
}

// TestNarrowingFilterChangesBypassPacing: a camera whose stream is paced
// (every message paces it for an hour) gets a filter change that takes
// something away (a new deny, a rule removed) at once, with what was
// pending (an operator's join); a change that only widens its filter
// stays paced.
func TestNarrowingFilterChangesBypassPacing(t *testing.T) {
	c := startCoord(t, pacedPolicy("", 22, 80))
	c.srv.control.pace = func(int) time.Duration { return time.Hour } // before any stream opens
	c.mustRegister([]string{"tag:operator"}, "op1")
	cam := c.mustRegister([]string{"tag:camera"}, "cam")
	camID := c.storeNode(cam).ID
	s := c.openMapQuery(cam, fmt.Sprintf("%s=%d", wire.MapVersionParam, wire.ProtocolVersion))
	if first := s.next(); len(first.Filter) != 2 {
		t.Fatalf("first map: filter %+v, want two accepts", first.Filter)
	}
	// A join widens the camera's filter (op2's address): it waits.
	op2ID := c.storeNode(c.mustRegister([]string{"tag:operator"}, "op2")).ID
	waitFor(t, "op2's join pending on the paced stream", func() bool { return slices.Contains(c.pendingPeers(camID), op2ID) })

	setPolicy := func(text string) {
		t.Helper()
		var cur wire.PolicyVersion
		c.admin("GET", wire.PathAdminPolicy, nil, &cur)
		if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: text, ParentID: cur.ID}, nil); code != http.StatusOK {
			t.Fatalf("set policy: %d", code)
		}
	}
	for _, step := range []struct {
		name, policy string
		want         func([]filter.Rule) bool
	}{
		{"deny added", pacedPolicy(`{"action": "deny", "src": ["tag:operator"], "dst": ["tag:camera:22"]}`, 22, 80), func(f []filter.Rule) bool {
			return slices.ContainsFunc(f, func(r filter.Rule) bool { return r.Deny })
		}},
		{"rule removed", pacedPolicy("", 22), func(f []filter.Rule) bool {
			return len(f) == 1 && !f[0].Deny && f[0].Dst[0].Ports[0].First == 22
		}},
	} {
		setPolicy(step.policy)
		m := s.next()
		if !m.FilterChanged || !step.want(m.Filter) {
			t.Fatalf("%s: message %+v; want the narrowed filter at once", step.name, m.Filter)
		}
	}
	if pend := c.pendingPeers(camID); len(pend) > 0 {
		t.Errorf("pending after the narrowed filter went: %v; want op2's join sent with it", pend)
	}

	// Widening (a port added) stays paced: the stream looks, sends nothing.
	checks := func() float64 { return valueOf(t, c.srv.metrics.mapBuilds.WithLabelValues("filter")) }
	before := checks()
	setPolicy(pacedPolicy("", 22, 443))
	waitFor(t, "the paced stream's filter check", func() bool { return checks() > before })
	if !c.pendingAll(camID) {
		t.Error("a widening policy change was sent on a paced stream")
	}
}

// waitFor waits, with a generous deadline, until ok holds.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pendingAll reports whether a whole map is pending on node id's streams.
func (c *testCoord) pendingAll(id store.NodeID) bool {
	c.srv.hub.mu.Lock()
	defer c.srv.hub.mu.Unlock()
	for _, sub := range c.srv.hub.subs[id] {
		if _, all := sub.peek(); all {
			return true
		}
	}
	return false
}

// smallBuffers shrinks the send buffer of every connection it accepts,
// so that a peer that stops reading blocks the server's writes soon.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return conn, err
}

// TestMapStreamsHaveWriteDeadline: a node that opens its map stream and
// never reads it (a raw client) is dropped once a write waited for
// MapWriteTimeout, and its stream no longer counts (the handler, its
// goroutine and its buffers are gone).
func TestMapStreamsHaveWriteDeadline(t *testing.T) {
	c := startCoordShaped(t, testPolicy, func(cfg *Config) {
		cfg.KeepAlive = 5 * time.Millisecond // fills the buffers soon
		cfg.MapWriteTimeout = 200 * time.Millisecond
	}, nil, func(ln net.Listener) net.Listener { return smallBuffers{ln} })
	m := c.mustRegister([]string{"tag:camera"}, "cam")
	id := c.storeNode(m).ID
	conn, err := net.Dial("tcp", c.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: ward\r\nAuthorization: Bearer %s\r\n\r\n", wire.PathMap, m.token)
	deadline := time.Now().Add(10 * time.Second)
	for !c.srv.hub.connected(id) {
		if time.Now().After(deadline) {
			t.Fatal("the stream never opened")
		}
		time.Sleep(10 * time.Millisecond)
	}
	deadline = time.Now().Add(60 * time.Second)
	for c.srv.hub.connected(id) {
		if time.Now().After(deadline) {
			t.Fatal("a stream nobody reads is still open after 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKeepAliveFollowsNodeIdle: a node that says how long it waits on a
// silent stream (wire.MapIdleParam) gets keep-alives every third of it,
// bounded both ways; one that does not (older nodes, which wait 45 s)
// every Config.KeepAlive.
func TestKeepAliveFollowsNodeIdle(t *testing.T) {
	s := &control{core: &core{cfg: Config{KeepAlive: 15 * time.Second, MaxKeepAlive: 45 * time.Second}}}
	for _, tc := range []struct {
		idle string
		want time.Duration
	}{
		{"", 15 * time.Second},
		{"nonsense", 15 * time.Second},
		{"0", 15 * time.Second},
		{"-5", 15 * time.Second},
		{"120000", 40 * time.Second},
		{"90000", 30 * time.Second},
		{"3600000", 45 * time.Second},
		{"1", minKeepAlive},
	} {
		if got := s.keepAliveFor(tc.idle); got != tc.want {
			t.Errorf("keepAliveFor(%q) = %v, want %v", tc.idle, got, tc.want)
		}
	}
}

// TestPolicyChangeSendsGrantsNotRecords: a policy change that changes
// only what a node may reach on its peers sends a node of the current
// protocol the peers' new grants alone (MapResponse.PeersGrants), a
// fraction of the records' bytes, and an older node (no version
// parameter) the whole records as before. Both end up with the same
// grants.
func TestPolicyChangeSendsGrantsNotRecords(t *testing.T) {
	c := startCoord(t, testPolicy)
	c.mustRegister([]string{"tag:camera"}, "cam")
	opNew := c.mustRegister([]string{"tag:operator"}, "op-new")
	opOld := c.mustRegister([]string{"tag:operator"}, "op-old")
	opSwap := c.mustRegister([]string{"tag:operator"}, "op-swap")
	newS := c.openMapQuery(opNew, fmt.Sprintf("%s=%d", wire.MapVersionParam, wire.FeatureGrantsSwap-1))
	oldS := c.openMap(opOld, 0)
	swapS := c.openMapQuery(opSwap, fmt.Sprintf("%s=%d", wire.MapVersionParam, wire.ProtocolVersion))
	for _, s := range []*mapStream{newS, oldS, swapS} {
		if m := s.next(); len(m.Peers) != 1 {
			t.Fatalf("first map: %d peers, want the camera", len(m.Peers))
		}
	}
	wider := strings.Replace(testPolicy, "tag:camera:22", "tag:camera:22,80", 1)
	if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: wider, ParentID: -1}, nil); code != 200 {
		t.Fatalf("set policy: %d", code)
	}
	m := newS.next()
	if len(m.PeersChanged) > 0 || len(m.PeersGrants) != 1 {
		t.Fatalf("current node: %d records, %d grants; want the camera's grants alone", len(m.PeersChanged), len(m.PeersGrants))
	}
	got := m.PeersGrants[0].Grants
	if !filter.Allows(got, filter.ProtoTCP, 80) {
		t.Errorf("current node's new grants %v: no tcp 80", got)
	}
	m = oldS.next()
	if len(m.PeersGrants) > 0 || len(m.PeersChanged) != 1 {
		t.Fatalf("older node: %d records, %d grants; want the camera's record", len(m.PeersChanged), len(m.PeersGrants))
	}
	if diff := cmp.Diff(got, m.PeersChanged[0].Grants); diff != "" {
		t.Errorf("older node's grants differ from the current node's (-current +older):\n%s", diff)
	}
	// a node of 23 holds the camera with tcp 22 alone, as every peer with
	// those grants: it gets one swap, no record and no per-peer grants
	m = swapS.next()
	if len(m.PeersChanged) > 0 || len(m.PeersGrants) > 0 || len(m.PeersGrantsSwap) != 1 {
		t.Fatalf("node of %d: %d records, %d grants, %d swaps; want one swap", wire.ProtocolVersion, len(m.PeersChanged), len(m.PeersGrants), len(m.PeersGrantsSwap))
	}
	if sw := m.PeersGrantsSwap[0]; !filter.Allows(sw.From, filter.ProtoTCP, 22) || filter.Allows(sw.From, filter.ProtoTCP, 80) || !cmp.Equal(sw.To, got) {
		t.Errorf("swap %v -> %v; want tcp 22 -> %v", sw.From, sw.To, got)
	}
}

// TestGrantTableInternsByContent: equal sets of grants share an id and
// JSON, different ones do not, nil is noGrants, and the JSON is
// json.Marshal's.
func TestGrantTableInternsByContent(t *testing.T) {
	tcp := func(ports ...uint16) filter.PortGrant {
		g := filter.PortGrant{Proto: filter.ProtoTCP}
		for _, p := range ports {
			g.Ports = append(g.Ports, filter.PortRange{First: p, Last: p})
		}
		return g
	}
	sets := [][]filter.PortGrant{
		{},
		{tcp(22)},
		{tcp(22, 80)},
		{tcp(80)},
		{{Proto: filter.ProtoICMP}},
		{{Proto: filter.ProtoICMP}, tcp(22)},
		{{Proto: filter.ProtoUDP, Ports: []filter.PortRange{{First: 1, Last: 65535}}}},
	}
	gt := newGrantTable()
	if id, enc := gt.intern(nil); id != noGrants || enc != nil {
		t.Errorf("intern(nil) = %d %s, want noGrants", id, enc)
	}
	seen := map[uint32]int{}
	for i, gs := range sets {
		id, enc := gt.intern(gs)
		want, _ := json.Marshal(gs)
		if string(enc) != string(want) {
			t.Errorf("set %d: JSON %s, want %s", i, enc, want)
		}
		if j, dup := seen[id]; dup || id == noGrants {
			t.Errorf("set %d: id %d, also set %d's (or noGrants)", i, id, j)
		}
		seen[id] = i
		if again, _ := gt.intern(slices.Clone(gs)); again != id {
			t.Errorf("set %d again: id %d, want %d", i, again, id)
		}
	}
}

// TestPolicyChangeSendsFilterSourcesByReference: a policy change that
// changes a rule's ports but not its sources sends a node of the current
// protocol the rule with its sources by reference to the filter it holds
// (MapResponse.FilterSrcFrom), and an older node the sources again.
func TestPolicyChangeSendsFilterSourcesByReference(t *testing.T) {
	c := startCoord(t, testPolicy)
	c.mustRegister([]string{"tag:operator"}, "op")
	camNew := c.mustRegister([]string{"tag:camera"}, "cam-new")
	camOld := c.mustRegister([]string{"tag:camera"}, "cam-old")
	newS := c.openMapQuery(camNew, fmt.Sprintf("%s=%d", wire.MapVersionParam, wire.ProtocolVersion))
	oldS := c.openMap(camOld, 0)
	var held []filter.Rule
	for i, s := range []*mapStream{newS, oldS} {
		m := s.next()
		if len(m.Filter) != 1 || len(m.Filter[0].Src) == 0 {
			t.Fatalf("first map: filter %v, want the operators' rule", m.Filter)
		}
		if i == 0 {
			held = m.Filter
		}
	}
	wider := strings.Replace(testPolicy, "tag:camera:22", "tag:camera:22,80", 1)
	if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: wider, ParentID: -1}, nil); code != 200 {
		t.Fatalf("set policy: %d", code)
	}
	m := newS.next()
	if !m.FilterChanged || !slices.Equal(m.FilterSrcFrom, []int{0}) || len(m.Filter) != 1 || m.Filter[0].Src != nil {
		t.Fatalf("current node: filter changed %v, src from %v, rules %v; want the rule with its sources by reference", m.FilterChanged, m.FilterSrcFrom, m.Filter)
	}
	m.Filter[0].Src = held[0].Src
	o := oldS.next()
	if len(o.FilterSrcFrom) > 0 || len(o.Filter) != 1 {
		t.Fatalf("older node: src from %v, rules %v; want the whole rule", o.FilterSrcFrom, o.Filter)
	}
	if diff := cmp.Diff(o.Filter[0].Src, m.Filter[0].Src, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("current node's resolved sources differ from the older node's (-older +current):\n%s", diff)
	}
	if d := m.Filter[0].Dst; len(d) == 0 || !slices.Contains(d[0].Ports, filter.PortRange{First: 80, Last: 80}) {
		t.Errorf("current node's rule: dst %v, want port 80 added", d)
	}
}

// TestMapStreamsAdmittedAtBoundedRate: past the admission burst, a map
// stream is refused with 429 and a Retry-After between 1 and 10 s (a
// fleet reconnecting after a restart comes back spread out), while the
// admin API answers as usual.
func TestMapStreamsAdmittedAtBoundedRate(t *testing.T) {
	c := startCoordWith(t, testPolicy, func(cfg *Config) {
		cfg.MapAdmitEvery, cfg.MapAdmitBurst = time.Hour, 2
	})
	var ms []*machine
	for i := range 3 {
		ms = append(ms, c.mustRegister([]string{"tag:camera"}, fmt.Sprintf("cam%d", i)))
	}
	for _, m := range ms[:2] {
		c.openMap(m, 0).next()
	}
	req, _ := http.NewRequest("GET", c.http.URL+wire.PathMap, nil)
	req.Header.Set("Authorization", "Bearer "+ms[2].token)
	resp, err := c.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if resp.StatusCode != http.StatusTooManyRequests || ra < 1 || ra > 10 {
		t.Fatalf("third stream: %d, Retry-After %q; want 429 within 1-10 s", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	var nodes []wire.AdminNode
	if code := c.admin("GET", wire.PathAdminNodes, nil, &nodes); code != 200 || len(nodes) != 3 {
		t.Fatalf("admin API while streams are refused: %d, %d nodes", code, len(nodes))
	}
}

// TestOneNodeCannotStarveMapAdmission pins the review's finding "one
// authenticated node can starve map admission for the whole fleet": a
// node that opens and drops map streams in a loop, as a modified client
// would, is refused on its own bucket (429 with a Retry-After) before it
// takes the fleet's shared admissions, so another node still gets its
// stream.
func TestOneNodeCannotStarveMapAdmission(t *testing.T) {
	c := startCoordWith(t, testPolicy, func(cfg *Config) {
		cfg.MapAdmitEvery, cfg.MapAdmitBurst = time.Hour, 8
		cfg.MapReopenEvery, cfg.MapReopenBurst = time.Hour, 3
	})
	greedy := c.mustRegister([]string{"tag:camera"}, "greedy")
	other := c.mustRegister([]string{"tag:camera"}, "other")
	var refused int
	for range 20 {
		req, _ := http.NewRequest("GET", c.http.URL+wire.PathMap, nil)
		req.Header.Set("Authorization", "Bearer "+greedy.token)
		resp, err := c.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			refused++
			if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 {
				t.Fatalf("refused without a Retry-After: %q", resp.Header.Get("Retry-After"))
			}
		}
	}
	if refused != 17 {
		t.Errorf("the looping node was refused %d of 20 opens; want 17 (its burst is 3)", refused)
	}
	c.openMap(other, 0).next() // the shared bucket (8) still has room
}

// TestMapCoalesceJoinsOneMessage: with Config.MapCoalesce a burst of joins
// reaches a stream as one message once the interval since its last one
// has passed, not a message per join (without it the first join goes
// alone); a revocation meanwhile goes at once, the joins still pending.
func TestMapCoalesceJoinsOneMessage(t *testing.T) {
	c := startCoordWith(t, testPolicy, func(cfg *Config) { cfg.MapCoalesce = 5 * time.Second })
	gw := c.mustRegister([]string{"tag:operator"}, "gw")
	gwID := c.storeNode(gw).ID
	s := c.openMap(gw, 0)
	if first := s.next(); len(first.Peers) != 0 {
		t.Fatalf("first map: %d peers, want none", len(first.Peers))
	}
	var cams []store.NodeID
	for _, name := range []string{"cam1", "cam2", "cam3"} {
		cams = append(cams, c.storeNode(c.mustRegister([]string{"tag:camera"}, name)).ID)
	}
	m := s.next()
	var got []store.NodeID
	for _, p := range append(m.Peers, m.PeersChanged...) {
		got = append(got, store.NodeID(p.ID))
	}
	slices.Sort(got)
	if !slices.Equal(got, cams) {
		t.Fatalf("message after three joins: peers %v, want all three (%v) at once", got, cams)
	}

	// The interval runs again: a join waits, a revocation does not.
	cam4 := c.storeNode(c.mustRegister([]string{"tag:camera"}, "cam4")).ID
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(c.pendingPeers(gwID), cam4) {
		if time.Now().After(deadline) {
			t.Fatal("cam4's join is not pending within the interval")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code := c.admin("POST", fmt.Sprintf("%s/%d/expire", wire.PathAdminNodes, cams[0]), nil, nil); code != 200 {
		t.Fatalf("expire cam1: %d", code)
	}
	m = s.next()
	if !slices.Equal(m.PeersRemoved, []wire.NodeID{wire.NodeID(cams[0])}) || len(m.PeersChanged) > 0 || len(m.Peers) > 0 {
		t.Fatalf("message after the revocation: removed %v, changed %d, peers %d; want cam1 removed alone", m.PeersRemoved, len(m.PeersChanged), len(m.Peers))
	}
	if !slices.Contains(c.pendingPeers(gwID), cam4) {
		t.Error("cam4's join is no longer pending: sent before the interval ended")
	}
}
