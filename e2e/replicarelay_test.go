package e2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/internal/pgtest"
	"github.com/wardnet/ward/wire"
)

// replicaFleets starts n coordinators on one fresh PostgreSQL database,
// each with its own relay named "r1", "r2", … at its own address, sharing
// the token and audit keys (and the first one's bootstrap API key).
func replicaFleets(t *testing.T, n int, policy string) []*fleet {
	t.Helper()
	db := pgtest.NewDB(t)
	keys := t.TempDir()
	fs := make([]*fleet, n)
	for i := range fs {
		name := "r" + string(rune('1'+i))
		fs[i] = newFleet(t, policy, func(c *assembly.Config) {
			c.DB = db
			c.TokenKeyFile, c.AuditKeyFile = filepath.Join(keys, coordinator.TokenKeyFile), filepath.Join(keys, coordinator.AuditKeyFile)
			c.RelayName, c.RelayURL = name, "ws://"+c.Listen+wire.PathRelay
			if i > 0 { // only the first start makes a bootstrap key
				if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(c.DataDir, coordinator.BootstrapKeyFile), []byte(fs[0].APIKey+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	return fs
}

// TestRelayAcrossReplicas: a camera whose control connection is on one
// coordinator and an operator on another (two coordinators on one
// PostgreSQL), with no UDP path between them, reach each other over the
// coordinators' relays: each listens on its own coordinator's relay, the
// other's packets come through it with a token the other coordinator
// signed (one key, derived from the shared token key), and the home
// relays reach both coordinators' maps through the database.
func TestRelayAcrossReplicas(t *testing.T) {
	open := echoServer(t)
	fs := replicaFleets(t, 2, fleetPolicy(open))
	dead := func() []netip.AddrPort { return []netip.AddrPort{deadUDPEndpoint(t)} }
	cam := fs[0].startAgent("cam", fs[0].authKey("tag:camera"), "", agentOpts{expose: []uint16{open}, endpoints: dead()})
	op := fs[1].startAgent("op", fs[0].authKey("tag:operator"), "", agentOpts{endpoints: dead()})
	relayOf := func(ag *agent, peer string) string {
		for _, p := range ag.Engine().Status().Peers {
			if p.Name == peer {
				return p.Relay
			}
		}
		return ""
	}
	waitFor(t, "each node on its own coordinator's relay, knowing the other's", func() bool {
		return cam.Engine().HomeRelay() == "r1" && op.Engine().HomeRelay() == "r2" && relayOf(op, "cam") == "r1" && relayOf(cam, "op") == "r2"
	})
	waitFor(t, "a flow from the operator to the camera across two coordinators' relays", func() bool { return op.roundTrip("cam", open) == nil })
	if got := pathTo(op, "cam"); got != "relay" {
		t.Errorf("operator's path to the camera: %q, want relay", got)
	}
	if got := pathTo(cam, "op"); got != "relay" {
		t.Errorf("camera's path to the operator: %q, want relay", got)
	}
}
