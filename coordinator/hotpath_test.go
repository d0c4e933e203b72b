package coordinator

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// rawLines opens node m's map stream and returns its decoded lines,
// keep-alives included.
func rawLines(t *testing.T, c *testCoord, m *machine) <-chan wire.MapResponse {
	t.Helper()
	req, _ := http.NewRequest("GET", c.http.URL+wire.PathMap, nil)
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := c.http.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("open map: %v %v", err, resp)
	}
	t.Cleanup(func() { resp.Body.Close() })
	out := make(chan wire.MapResponse, 64)
	go func() {
		defer close(out)
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadBytes('\n')
			if err != nil {
				return
			}
			var mr wire.MapResponse
			if json.Unmarshal(line, &mr) != nil {
				return
			}
			out <- mr
		}
	}()
	return out
}

// TestKeepAliveRecomputesNothing sends many keep-alives on a stream whose
// node has peers and checks that no map was computed for them: only the
// first map was.
func TestKeepAliveRecomputesNothing(t *testing.T) {
	c := startCoordWith(t, testPolicy, func(cfg *Config) { cfg.KeepAlive = 20 * time.Millisecond })
	op := c.mustRegister([]string{"tag:operator"}, "op1")
	c.mustRegister([]string{"tag:camera"}, "cam1")
	lines := rawLines(t, c, op)
	builds := func() float64 {
		return valueOf(t, c.srv.metrics.mapBuilds.WithLabelValues("whole")) +
			valueOf(t, c.srv.metrics.mapBuilds.WithLabelValues("delta"))
	}
	if m := <-lines; !m.Full || len(m.Peers) != 1 {
		t.Fatalf("first message: %+v", m)
	}
	before := builds()
	for keep := 0; keep < 10; {
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatal("stream ended")
			}
			if !m.KeepAlive {
				t.Fatalf("a message but keep-alives: %+v", m)
			}
			keep++
		case <-time.After(10 * time.Second):
			t.Fatal("no keep-alive within 10 s")
		}
	}
	if after := builds(); after != before {
		t.Errorf("10 keep-alives computed %v maps; want none", after-before)
	}
}

// TestPresenceIsBatchedNotAudited opens many nodes' streams and checks
// that their presence reaches the store (in batches) and the metrics, and
// that no audit row is written for it.
func TestPresenceIsBatchedNotAudited(t *testing.T) {
	c := startCoord(t, testPolicy)
	var ids []store.NodeID
	for i := range 20 {
		m := c.mustRegister([]string{"tag:camera"}, fmt.Sprintf("cam%d", i))
		first := <-rawLines(t, c, m)
		if !first.Full {
			t.Fatalf("first message: %+v", first)
		}
		ids = append(ids, store.NodeID(first.Self.ID))
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range ids {
		for {
			n, err := c.srv.st.Node(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if n.Online && !n.LastSeen.IsZero() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d's presence not in the store after 10 s", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if got := valueOf(t, c.srv.metrics.presence.WithLabelValues("online")); got != 20 {
		t.Errorf("presence metric: %v nodes online, want 20", got)
	}
	evs, err := c.srv.st.ListAudit(context.Background(), store.AuditFilter{ActionPrefix: "node.o"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 0 {
		t.Errorf("presence was audited: %d rows, first %+v", len(evs), evs[0])
	}
}

// TestPeerRecordsSharedBetweenMaps checks that two nodes seeing the same
// peer get the same record, and the same JSON, not copies.
func TestPeerRecordsSharedBetweenMaps(t *testing.T) {
	c := startCoord(t, testPolicy)
	c.mustRegister([]string{"tag:operator"}, "op1")
	c.mustRegister([]string{"tag:operator"}, "op2")
	c.mustRegister([]string{"tag:camera"}, "cam1")
	nm := c.srv.nm
	a, _ := nm.mapOfPerNode(nm.byName["op1"], nil, false)
	b, _ := nm.mapOfPerNode(nm.byName["op2"], nil, false)
	if len(a.peers) != 1 || len(b.peers) != 1 {
		t.Fatalf("peers: %d, %d; want 1 each", len(a.peers), len(b.peers))
	}
	if a.peers[0].rec != b.peers[0].rec {
		t.Error("op1 and op2 hold two copies of cam1's record")
	}
	ga, ea := c.srv.grants.intern(nm.grants(a.peers[0], a.selfAddrs))
	gb, eb := c.srv.grants.intern(nm.grants(b.peers[0], b.selfAddrs))
	ja, jb := a.peers[0].rec.json(ga, ea, 0, nil), b.peers[0].rec.json(gb, eb, 0, nil)
	if ga != gb || &ja[0] != &jb[0] {
		t.Error("cam1's record with the same grants was encoded twice")
	}
}

// valueOf reads a counter.
func valueOf(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestLoginTouchesOnlyWhatItsKeyChanges logs a person in (a new key, IdP
// groups the policy uses) beside a fleet of sensors the person may not
// reach: the cameras they may reach learn of the new node, and the
// sensors' streams compute nothing (a login used to recompile the policy
// and make every stream recompute its map).
func TestLoginTouchesOnlyWhatItsKeyChanges(t *testing.T) {
	policy := `{
	  "groups": {"group:ops": []},
	  "tagOwners": {"tag:camera": [], "tag:sensor": []},
	  "acls": [{"action": "accept", "src": ["group:ops"], "dst": ["tag:camera:22"]},
	           {"action": "accept", "src": ["tag:sensor"], "dst": ["tag:sensor:1883"]}]}`
	c := startCoordWith(t, policy, func(cfg *Config) { cfg.Auth = fakeAuth{} })
	var cams []*mapStream
	for i := range 2 {
		s := c.openMap(c.mustRegister([]string{"tag:camera"}, fmt.Sprintf("cam%d", i)), 0)
		s.next()
		cams = append(cams, s)
	}
	const sensors = 20
	for i := range sensors {
		c.openMap(c.mustRegister([]string{"tag:sensor"}, fmt.Sprintf("sensor%d", i)), 0).next()
	}
	builds := func() float64 {
		return valueOf(t, c.srv.metrics.mapBuilds.WithLabelValues("whole")) + valueOf(t, c.srv.metrics.mapBuilds.WithLabelValues("delta"))
	}
	time.Sleep(200 * time.Millisecond) // the sensors' presence deltas among themselves
	before := builds()
	alice := newMachine(t)
	if res, _ := c.login(alice, "alice", "ops"); res.Node == nil {
		t.Fatalf("login failed: %+v", res)
	}
	for _, s := range cams {
		for m := s.next(); !hasPeer(m, "alice-laptop"); m = s.next() {
		}
	}
	if got := builds() - before; got >= sensors {
		t.Errorf("a login computed %v maps; want only the cameras' and the new node's (well under the %d sensors')", got, sensors)
	}
}

func hasPeer(m wire.MapResponse, name string) bool {
	for _, p := range append(m.Peers, m.PeersChanged...) {
		if p.Name == name {
			return true
		}
	}
	return false
}

// TestPaceAfterLargeMessages: a stream that sent a large message waits
// in proportion before the next (joins in a burst reach a gateway as one
// message), a small one not at all, and never more than maxPace.
func TestPaceAfterLargeMessages(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{
		{0, 0},
		{paceFrom - 1, 0},
		{paceFrom, time.Duration(paceFrom) * time.Second / paceRate},
		{paceRate / 2, 500 * time.Millisecond},
		{10 * paceRate, maxPace},
	} {
		if got := paceAfter(tc.n); got != tc.want {
			t.Errorf("paceAfter(%d) = %v, want %v", tc.n, got, tc.want)
		}
	}
}
