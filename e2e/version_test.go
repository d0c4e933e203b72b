package e2e

import (
	"context"
	"testing"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/wire"
)

// TestSessionCarriesCoordinatorVersion: a node's control client learns
// the coordinator's protocol version from the answer to its session
// request, and knows none before it.
func TestSessionCarriesCoordinatorVersion(t *testing.T) {
	f := newFleet(t, fleetPolicy(22), nil)
	mk, err := wire.NewMachinePrivate()
	if err != nil {
		t.Fatal(err)
	}
	c, err := control.New(control.Config{URL: f.url(), AllowInsecureHTTP: true, MachineKey: mk})
	if err != nil {
		t.Fatal(err)
	}
	if v := c.ServerVersion(); v != 0 {
		t.Fatalf("ServerVersion before any session: %d, want 0", v)
	}
	s, err := c.Session(context.Background())
	if err != nil {
		t.Fatalf("open session: %v", err)
	}
	f.secrets = append(f.secrets, s.Token)
	if s.ProtocolVersion != wire.ProtocolVersion || c.ServerVersion() != wire.ProtocolVersion {
		t.Fatalf("session answer carries protocol %d, client records %d; want %d", s.ProtocolVersion, c.ServerVersion(), wire.ProtocolVersion)
	}
}
