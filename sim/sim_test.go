package sim

import (
	"context"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/nodetest"
)

// TestSimRunsFleetAgainstRealCoordinator runs the simulator with 200 nodes
// against a real coordinator on loopback (SQLite, HTTP, the control
// client) and checks that every node ends with exactly the peers the
// policy gives it, that every timed change reached every stream it
// touches, and that the figures are filled in.
func TestSimRunsFleetAgainstRealCoordinator(t *testing.T) {
	coord := nodetest.StartCoordinator(t, DefaultPolicy, nil)
	var log strings.Builder
	res, err := Run(context.Background(), Config{Nodes: 200, URL: coord.URL(), APIKey: coord.APIKey,
		Joins: 3, PolicyChanges: 2, Verify: true, Settle: 2 * time.Minute,
		Log: func(f string, a ...any) { t.Logf(f, a...) }})
	if err != nil {
		t.Fatal(err)
	}
	res.Print(&log)
	t.Log("\n" + log.String())
	if len(res.VerifyErrors) > 0 || !res.Verified {
		t.Errorf("maps differ from the policy: %v", res.VerifyErrors)
	}
	if res.JoinMissing != 0 || res.PolicyMissing != 0 {
		t.Errorf("changes missed streams: joins %d, policy %d", res.JoinMissing, res.PolicyMissing)
	}
	// 200 nodes of the default shape: 4 gateways, 49 cameras, 147 sensors;
	// each sensor join reaches the 4 gateways, each policy switch every
	// node (the 200 and the 3 that joined).
	if res.JoinedStreams != 3*4 || res.Join.N != 12 {
		t.Errorf("joins reached %d of %d streams, want 12", res.Join.N, res.JoinedStreams)
	}
	if res.PolicyStreams != 203 || res.Policy.N != 2*203 {
		t.Errorf("policy changes reached %d streams (%d per change), want 406 (203)", res.Policy.N, res.PolicyStreams)
	}
	if res.MapPeers[TagGateway] != 147 || res.MapPeers[TagSensor] != 4 || res.MapPeers[TagCamera] != 0 {
		t.Errorf("full maps hold %v peers, want gateway 147, sensor 4, camera 0", res.MapPeers)
	}
	if res.RegisterRate <= 0 || res.Measured {
		t.Errorf("registration rate %v, measured %v: want a rate and no process figures (none given)", res.RegisterRate, res.Measured)
	}
}

// TestSimSharesHTTP2Connections: with StreamsPerConn the nodes' sessions,
// registrations and map streams share HTTP/2 connections (a few for the
// fleet, not one per node), and every node still ends with exactly its
// peers, every change reaching every stream.
func TestSimSharesHTTP2Connections(t *testing.T) {
	coord := nodetest.StartCoordinator(t, DefaultPolicy, func(c *assembly.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	res, err := Run(context.Background(), Config{Nodes: 200, URL: coord.URL(), APIKey: coord.APIKey,
		StreamsPerConn: 50, Joins: 3, PolicyChanges: 2, Verify: true, Settle: 2 * time.Minute,
		Log: func(f string, a ...any) { t.Logf(f, a...) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.VerifyErrors) > 0 || !res.Verified || res.JoinMissing != 0 || res.PolicyMissing != 0 {
		t.Errorf("maps differ from the policy (%v) or changes missed streams (joins %d, policy %d)", res.VerifyErrors, res.JoinMissing, res.PolicyMissing)
	}
	// 203 nodes in groups of 50: 5 connections (a few more if one broke).
	if res.Dials < 5 || res.Dials > 10 {
		t.Errorf("%d connections for 203 nodes at 50 a connection, want about 5", res.Dials)
	}
	if res.StreamsPerConn != 50 || res.StreamsAuto {
		t.Errorf("streams per connection %d (auto %v), want 50 as asked", res.StreamsPerConn, res.StreamsAuto)
	}
}

// TestShapeKeepsProportions checks the fleet's make-up for sizes large
// and small.
func TestShapeKeepsProportions(t *testing.T) {
	for _, tc := range []struct {
		n                          int
		gateways, cameras, sensors int
	}{
		{200, 4, 49, 147},
		{1000, 20, 245, 735},
		{10000, 200, 2450, 7350},
		{50, 1, 12, 37},
		{3, 0, 1, 2},
	} {
		got := map[string]int{}
		for _, tag := range DefaultShape.plan(tc.n) {
			got[tag]++
		}
		if got[TagGateway] != tc.gateways || got[TagCamera] != tc.cameras || got[TagSensor] != tc.sensors {
			t.Errorf("%d nodes: %v, want %d gateways, %d cameras, %d sensors", tc.n, got, tc.gateways, tc.cameras, tc.sensors)
		}
	}
}

func TestDistOf(t *testing.T) {
	ms := time.Millisecond
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*ms)
	}
	if got := distOf(ds); got != (Dist{N: 100, P50: 51 * ms, P99: 100 * ms, Max: 100 * ms}) {
		t.Errorf("distOf(1..100 ms) = %+v", got)
	}
	if got := distOf(nil); got != (Dist{}) {
		t.Errorf("distOf(nil) = %+v", got)
	}
}

// TestWrittenBetween reads quantile bounds from two scrapes of a
// cumulative histogram.
func TestWrittenBetween(t *testing.T) {
	inf := math.Inf(1)
	before := histogram{0.001: 5, 0.01: 10, 0.1: 10, inf: 10}
	after := histogram{0.001: 5, 0.01: 60, 0.1: 109, inf: 110}
	got := writtenBetween(before, after)
	want := Written{Messages: 100, P50: 10 * time.Millisecond, P99: 100 * time.Millisecond}
	if got != want {
		t.Errorf("writtenBetween = %+v, want %+v", got, want)
	}
	if got := writtenBetween(nil, after); got != (Written{}) {
		t.Errorf("without a scrape: %+v", got)
	}
}

// TestSimRollsOutTo100Devices runs the rollout probe: 100 simulated
// devices, each a real control client with its own session, take a
// rollout in three waves from start to every device healthy through the
// coordinator's HTTP API.
func TestSimRollsOutTo100Devices(t *testing.T) {
	coord := nodetest.StartCoordinator(t, DefaultPolicy, nil)
	res, err := Run(context.Background(), Config{Nodes: 100, URL: coord.URL(), APIKey: coord.APIKey,
		Joins: 1, PolicyChanges: 1, Rollout: true, Settle: 2 * time.Minute,
		Log: func(f string, a ...any) { t.Logf(f, a...) }})
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	res.Print(&log)
	t.Log("\n" + log.String())
	if ro := res.Rollout; ro == nil || ro.Devices != 101 || ro.Waves != 3 || ro.Time <= 0 {
		t.Errorf("rollout: %+v, want 101 devices (100 and the join) in 3 waves", ro)
	}
}

// TestRestartNeedsStartedCoordinator: the restart scenario restarts only a
// coordinator the sim starts, and takes term or kill.
func TestRestartNeedsStartedCoordinator(t *testing.T) {
	tests := []struct {
		name, restart, url string
		ok                 bool
	}{
		{"none", "", "http://127.0.0.1:1", true},
		{"term, started", "term", "", true},
		{"kill, started", "kill", "", true},
		{"given coordinator", "term", "http://127.0.0.1:1", false},
		{"unknown signal", "hup", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Nodes: 1, Restart: tc.restart, URL: tc.url, Binary: "ward"}
			if err := c.defaults(); (err == nil) != tc.ok {
				t.Errorf("defaults: %v, want ok %t", err, tc.ok)
			}
		})
	}
}
