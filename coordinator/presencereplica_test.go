package coordinator

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// peerOnline returns whether m lists peer name, and whether as online.
func peerOnline(m wire.MapResponse, name string) (listed, online bool) {
	for _, n := range append(m.Peers, m.PeersChanged...) {
		if n.Name == name {
			return true, n.Online
		}
	}
	return false, false
}

// adminOnline returns whether c's admin API says node name is online.
func adminOnline(t *testing.T, c *testCoord, name string) bool {
	t.Helper()
	var nodes []wire.AdminNode
	if code := c.admin("GET", wire.PathAdminNodes, nil, &nodes); code != 200 {
		t.Fatalf("list nodes: %d", code)
	}
	for _, n := range nodes {
		if n.Name == name {
			return n.Online
		}
	}
	t.Fatalf("no node %s", name)
	return false
}

// TestOnlineAgreedAcrossReplicas: two coordinators on one PostgreSQL agree
// on a node's online flag whichever holds its stream: a camera whose
// stream is on b shows online in the maps a serves and in a's admin API;
// when b dies without saying so (its presence writes stop, its
// connections drop), the camera goes offline on a too, once b's hold on
// its streams lapsed (streamLease, then a's next renewal).
func TestOnlineAgreedAcrossReplicas(t *testing.T) {
	cs := startReplicas(t, 2, testPolicy)
	a, b := cs[0], cs[1]
	opMap := operatorOn(t, a)
	cam := newMachine(t)
	if code, _ := b.register(cam, b.authKey([]string{"tag:camera"}, false, ""), "cam1"); code != 200 {
		t.Fatalf("register cam1 on b: %d", code)
	}
	camMap := b.openMap(cam, 0)
	camMap.next()
	waitMap(t, opMap, "the camera online, its stream on the other replica", func(m wire.MapResponse) bool {
		_, on := peerOnline(m, "cam1")
		return on
	})
	if !adminOnline(t, a, "cam1") || !adminOnline(t, b, "cam1") {
		t.Fatalf("admin API: cam1 online on a %t, on b %t; want both", adminOnline(t, a, "cam1"), adminOnline(t, b, "cam1"))
	}
	// The fleet gauge agrees on both replicas (the operator on a, the
	// camera on b); each one's own gauge counts its streams.
	for _, c := range []struct {
		name       string
		coord      *testCoord
		own, fleet float64
	}{{"a", a, 1, 2}, {"b", b, 1, 2}} {
		body := scrapeBody(t, c.coord)
		if own, fleet := metricValue(t, body, "ward_nodes_online"), metricValue(t, body, "ward_fleet_nodes_online"); own != c.own || fleet != c.fleet {
			t.Fatalf("replica %s: ward_nodes_online %v, ward_fleet_nodes_online %v; want %v, %v", c.name, own, fleet, c.own, c.fleet)
		}
	}

	b.srv.presence.halted.Store(true) // b dies without saying so
	b.http.CloseClientConnections()
	died := time.Now()
	deadline := died.Add(60 * time.Second)
	for gone := false; !gone; {
		select {
		case m, ok := <-opMap.msgs:
			if !ok {
				t.Fatal("the operator's map stream on a ended")
			}
			listed, on := peerOnline(m, "cam1")
			gone = listed && !on
		case <-time.After(time.Until(deadline)):
			t.Fatal("the camera of the dead replica still online on a after 60 s")
		}
	}
	t.Logf("the dead replica's camera went offline on a %v after the death (bound %v)",
		time.Since(died).Round(100*time.Millisecond), streamLease+streamRenew)
	if adminOnline(t, a, "cam1") {
		t.Fatal("a's admin API: the dead replica's camera online")
	}
	if fleet := metricValue(t, scrapeBody(t, a), "ward_fleet_nodes_online"); fleet != 1 {
		t.Fatalf("a's ward_fleet_nodes_online after b died: %v, want 1 (the operator)", fleet)
	}
}

// scrapeBody returns c's metrics page.
func scrapeBody(t *testing.T, c *testCoord) string {
	t.Helper()
	code, body := scrapeMetrics(t, c)
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	return body
}

// metricValue returns the value of the unlabelled metric name in a
// Prometheus text page, failing the test when it is absent.
func metricValue(t *testing.T, body, name string) float64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return v
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
