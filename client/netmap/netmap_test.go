package netmap

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

func node(id wire.NodeID, name string, key byte, exp time.Time) wire.Node {
	return wire.Node{ID: id, Name: name, WGKey: wire.WGPublic{key}, KeyExpiry: exp,
		IPv4: netip.AddrFrom4([4]byte{100, 64, 0, byte(id)})}
}

func TestApplyAndResolve(t *testing.T) {
	now := time.Now()
	self := node(1, "laptop", 1, now.Add(time.Hour))
	v, err := Empty().Apply(wire.MapResponse{Version: 1, Full: true, Self: &self,
		Peers: []wire.Node{node(2, "cam1", 2, time.Time{}), node(3, "old", 3, now.Add(-time.Minute))}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		peer string
		want netip.Addr
		ok   bool
	}{
		{"cam1", netip.MustParseAddr("100.64.0.2"), true},
		{"CAM1.", netip.MustParseAddr("100.64.0.2"), true},
		{"100.64.0.2", netip.MustParseAddr("100.64.0.2"), true},
		{"old", netip.Addr{}, false}, // key expired
		{"laptop", netip.Addr{}, false},
		{"nobody", netip.Addr{}, false},
	}
	for _, tt := range tests {
		a, _, ok := v.Resolve(tt.peer, now)
		if ok != tt.ok || a != tt.want {
			t.Errorf("Resolve(%q) = %v, %v; want %v, %v", tt.peer, a, ok, tt.want, tt.ok)
		}
	}
	if act := v.Active(now); len(act) != 1 || act[0].Name != "cam1" {
		t.Errorf("Active = %+v", act)
	}
	v2, err := v.Apply(wire.MapResponse{Version: 2, PeersRemoved: []wire.NodeID{2}})
	if err != nil || len(v2.Peers) != 1 || len(v.Peers) != 2 {
		t.Fatalf("delta: %v; new %d peers, old %d", err, len(v2.Peers), len(v.Peers))
	}
}

func TestApplyRefuses(t *testing.T) {
	self := node(1, "laptop", 1, time.Time{})
	dup := node(2, "dup", 2, time.Time{})
	dup.IPv4 = self.IPv4
	tests := []struct {
		name string
		m    wire.MapResponse
		want error
	}{
		{"delta first", wire.MapResponse{Version: 1}, ErrNoBase},
		{"full without self", wire.MapResponse{Version: 1, Full: true}, ErrBadMap},
		{"duplicate address", wire.MapResponse{Version: 1, Full: true, Self: &self, Peers: []wire.Node{dup}}, ErrBadMap},
	}
	for _, tt := range tests {
		if _, err := Empty().Apply(tt.m); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}
