package store

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestNodeLookups(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	a := mustRegister(t, s, 1, t0)
	b := mustRegister(t, s, 2, t0)
	tests := []struct {
		name    string
		get     func() (Node, error)
		want    Node
		wantErr error
	}{
		{"by id", func() (Node, error) { return s.Node(ctx, b.ID) }, b, nil},
		{"by machine key", func() (Node, error) { return s.NodeByMachineKey(ctx, mkey(1)) }, a, nil},
		{"by name", func() (Node, error) { return s.NodeByName(ctx, "node2") }, b, nil},
		{"missing id", func() (Node, error) { return s.Node(ctx, 99) }, Node{}, ErrNotFound},
		{"missing machine key", func() (Node, error) { return s.NodeByMachineKey(ctx, mkey(3)) }, Node{}, ErrNotFound},
		{"missing name", func() (Node, error) { return s.NodeByName(ctx, "node3") }, Node{}, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.get()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if d := diff(tt.want, got); d != "" {
				t.Errorf("node (-want +got):\n%s", d)
			}
		})
	}
	all, err := s.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff([]Node{a, b}, all); d != "" {
		t.Errorf("ListNodes (-want +got):\n%s", d)
	}
}

func TestNodeUpdates(t *testing.T) {
	ctx := context.Background()
	eps := []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::7]:4000"), netip.MustParseAddrPort("198.51.100.7:4000")}
	tests := []struct {
		name    string
		update  func(s *SQLStore, id NodeID) error
		change  func(n *Node)
		wantErr error
	}{
		{"rename", func(s *SQLStore, id NodeID) error { return s.RenameNode(ctx, id, "gate") },
			func(n *Node) { n.Name = "gate" }, nil},
		{"rename to own name", func(s *SQLStore, id NodeID) error { return s.RenameNode(ctx, id, "node1") },
			func(n *Node) {}, nil},
		{"rename to taken name", func(s *SQLStore, id NodeID) error { return s.RenameNode(ctx, id, "node2") },
			nil, ErrNameTaken},
		{"rename to empty", func(s *SQLStore, id NodeID) error { return s.RenameNode(ctx, id, "") },
			nil, ErrInvalid},
		{"tags", func(s *SQLStore, id NodeID) error { return s.SetNodeTags(ctx, id, []string{"tag:z", "tag:a"}) },
			func(n *Node) { n.Tags = []string{"tag:a", "tag:z"} }, nil},
		{"no tags", func(s *SQLStore, id NodeID) error { return s.SetNodeTags(ctx, id, nil) },
			nil, ErrInvalid},
		{"host info", func(s *SQLStore, id NodeID) error {
			return s.SetHostInfo(ctx, id, HostInfo{Hostname: "h2", OS: "freebsd", Version: "2.0"})
		}, func(n *Node) { n.Hostname, n.OS, n.Version = "h2", "freebsd", "2.0" }, nil},
		{"key expiry", func(s *SQLStore, id NodeID) error { return s.SetKeyExpiry(ctx, id, t0.Add(time.Hour)) },
			func(n *Node) { n.KeyExpiry = t0.Add(time.Hour) }, nil},
		{"key never expires", func(s *SQLStore, id NodeID) error { return s.SetKeyExpiry(ctx, id, time.Time{}) },
			func(n *Node) { n.KeyExpiry = time.Time{} }, nil},
		{"endpoints", func(s *SQLStore, id NodeID) error { return s.SetEndpoints(ctx, id, eps) },
			func(n *Node) { n.Endpoints = eps }, nil},
		{"invalid endpoint", func(s *SQLStore, id NodeID) error {
			return s.SetEndpoints(ctx, id, []netip.AddrPort{{}})
		}, nil, ErrInvalid},
		{"exposed ports", func(s *SQLStore, id NodeID) error { return s.SetExposedPorts(ctx, id, []uint16{8080, 22}) },
			func(n *Node) { n.ExposedPorts = []uint16{22, 8080} }, nil},
		{"port 0", func(s *SQLStore, id NodeID) error { return s.SetExposedPorts(ctx, id, []uint16{0}) },
			nil, ErrInvalid},
		{"advertised routes", func(s *SQLStore, id NodeID) error {
			return s.SetAdvertisedRoutes(ctx, id, []netip.Prefix{netip.MustParsePrefix("192.168.10.7/24"), netip.MustParsePrefix("10.0.0.0/8")})
		}, func(n *Node) {
			n.AdvertisedRoutes = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.10.0/24")}
		}, nil},
		{"approved routes", func(s *SQLStore, id NodeID) error {
			return s.SetApprovedRoutes(ctx, id, []netip.Prefix{netip.MustParsePrefix("192.168.10.0/24")})
		}, func(n *Node) { n.ApprovedRoutes = []netip.Prefix{netip.MustParsePrefix("192.168.10.0/24")} }, nil},
		{"invalid route", func(s *SQLStore, id NodeID) error { return s.SetApprovedRoutes(ctx, id, []netip.Prefix{{}}) },
			nil, ErrInvalid},
		{"home relay", func(s *SQLStore, id NodeID) error { return s.SetHomeRelay(ctx, id, "edge1") },
			func(n *Node) { n.HomeRelay = "edge1" }, nil},
		{"presence", func(s *SQLStore, id NodeID) error { return s.SetPresence(ctx, id, t0.Add(time.Minute), true) },
			func(n *Node) { n.LastSeen, n.Online = t0.Add(time.Minute), true }, nil},
		{"rotate key", func(s *SQLStore, id NodeID) error {
			return s.RotateWGKey(ctx, id, KeyRotation{Key: wgkey(50), OverlapUntil: t0.Add(time.Minute), Expiry: t0.Add(48 * time.Hour)})
		}, func(n *Node) {
			n.PrevWGKey, n.WGKey = n.WGKey, wgkey(50)
			n.PrevWGKeyUntil, n.KeyExpiry = t0.Add(time.Minute), t0.Add(48*time.Hour)
		}, nil},
		{"rotate to same key", func(s *SQLStore, id NodeID) error {
			return s.RotateWGKey(ctx, id, KeyRotation{Key: wgkey(1)})
		}, nil, ErrInvalid},
		{"rotate to zero key", func(s *SQLStore, id NodeID) error {
			return s.RotateWGKey(ctx, id, KeyRotation{})
		}, nil, ErrInvalid},
		{"rotate to another node's key", func(s *SQLStore, id NodeID) error {
			return s.RotateWGKey(ctx, id, KeyRotation{Key: wgkey(2)})
		}, nil, ErrDuplicate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			n := mustRegister(t, s, 1, t0)
			other := mustRegister(t, s, 2, t0)
			err := tt.update(s, n.ID)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("update error = %v, want %v", err, tt.wantErr)
			}
			want := n
			if tt.change != nil {
				tt.change(&want)
			}
			got, _ := s.Node(ctx, n.ID)
			if d := diff(want, got); d != "" {
				t.Errorf("node (-want +got):\n%s", d)
			}
			if got, _ := s.Node(ctx, other.ID); diff(other, got) != "" {
				t.Errorf("update changed another node: %s", diff(other, got))
			}
			if err := tt.update(s, 99); err == nil || (tt.wantErr == nil && !errors.Is(err, ErrNotFound)) {
				t.Errorf("update of a missing node = %v, want ErrNotFound", err)
			}
		})
	}
}

// TestSetPresencesWritesBatch writes several nodes' presence in one
// call; a node removed meanwhile is skipped, not an error.
func TestSetPresencesWritesBatch(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	a, b := mustRegister(t, s, 1, t0), mustRegister(t, s, 2, t0)
	err := s.SetPresences(ctx, []Presence{{ID: a.ID, LastSeen: t0.Add(time.Minute), Online: true},
		{ID: 999, LastSeen: t0, Online: true}, {ID: b.ID, LastSeen: t0.Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []Presence{{a.ID, t0.Add(time.Minute), true}, {b.ID, t0.Add(time.Hour), false}} {
		n, err := s.Node(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !n.LastSeen.Equal(want.LastSeen) || n.Online != want.Online {
			t.Errorf("node %d: last seen %v online %v, want %v %v", want.ID, n.LastSeen, n.Online, want.LastSeen, want.Online)
		}
	}
}

func TestSetNodeTagsDropsUser(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	u := mustUser(t, s, "alice@example.com")
	n, err := s.RegisterWithUser(ctx, u.ID, t0, newNode(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetNodeTags(ctx, n.ID, []string{"tag:server"}); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Node(ctx, n.ID)
	if got.UserID != 0 || len(got.Tags) != 1 {
		t.Errorf("after SetNodeTags: user %d tags %v, want user 0 tags [tag:server]", got.UserID, got.Tags)
	}
}

func TestRotationKeepsAddresses(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	n := mustRegister(t, s, 1, t0)
	for i := range 3 {
		if err := s.RotateWGKey(ctx, n.ID, KeyRotation{Key: wgkey(100 + i), OverlapUntil: t0}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.Node(ctx, n.ID)
	if got.IPv4 != n.IPv4 || got.IPv6 != n.IPv6 || got.WGKey != wgkey(102) || got.PrevWGKey != wgkey(101) {
		t.Errorf("after rotations: %v %v key %v prev %v", got.IPv4, got.IPv6, got.WGKey, got.PrevWGKey)
	}
	// The replaced key is free for no one else: another node may not take the
	// current key.
	if err := s.RotateWGKey(ctx, mustRegister(t, s, 2, t0).ID, KeyRotation{Key: wgkey(102)}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("taking another node's key: %v, want ErrDuplicate", err)
	}
}

func TestDeleteNode(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	n := mustRegister(t, s, 1, t0)
	got, err := s.DeleteNode(ctx, n.ID, t0.Add(DefaultQuarantine))
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(n, got); d != "" {
		t.Errorf("deleted node (-want +got):\n%s", d)
	}
	if _, err := s.Node(ctx, n.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Node after delete: %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteNode(ctx, n.ID, t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	// The machine may register again, and gets a new ID.
	again := mustRegister(t, s, 1, t0)
	if again.ID == n.ID {
		t.Errorf("re-registered node reused ID %d", n.ID)
	}
}

// TestNodesAfter pages through the fleet while nodes leave and join
// between pages: every node present throughout is in exactly one page, in
// id order, and a page costs no more rows than its limit.
func TestNodesAfter(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	var ids []NodeID
	for i := 1; i <= 7; i++ {
		ids = append(ids, mustRegister(t, s, i, t0).ID)
	}
	if _, err := s.NodesAfter(ctx, 0, 0); err == nil {
		t.Error("NodesAfter with limit 0: no error")
	}
	var seen []NodeID
	after := NodeID(0)
	for page := 0; ; page++ {
		got, err := s.NodesAfter(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > 3 {
			t.Fatalf("page %d: %d nodes, limit 3", page, len(got))
		}
		for _, n := range got {
			if n.ID <= after {
				t.Fatalf("page %d: node %d not after the cursor %d", page, n.ID, after)
			}
			after = n.ID
			seen = append(seen, n.ID)
		}
		if page == 0 {
			// Between pages: one node of the next page leaves, one of
			// the page read leaves, and a new one joins.
			for _, id := range []NodeID{ids[1], ids[4]} {
				if _, err := s.DeleteNode(ctx, id, t0); err != nil {
					t.Fatal(err)
				}
			}
			ids = append(ids, mustRegister(t, s, 8, t0).ID)
		}
		if len(got) < 3 {
			break
		}
	}
	want := []NodeID{ids[0], ids[1], ids[2], ids[3], ids[5], ids[6], ids[7]}
	if d := diff(want, seen); d != "" {
		t.Errorf("ids paged (-want +got):\n%s", d)
	}
	if got, err := s.NodesAfter(ctx, ids[7], 5); err != nil || len(got) != 0 {
		t.Errorf("NodesAfter(last) = %d nodes, %v; want none", len(got), err)
	}
}
