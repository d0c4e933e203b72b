package store

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// registerCase is one case of TestRegisterWithAuthKey.
type registerCase struct {
	name    string
	key     func(s *SQLStore) NewAuthKey // key to create, with secret "k"
	prepare func(t *testing.T, s *SQLStore)
	use     string // secret presented
	node    NewNode
	wantErr error
}

// registerCases are the cases of TestRegisterWithAuthKey.
func registerCases() []registerCase {
	ctx := context.Background()
	return []registerCase{
		{name: "single use tagged", use: "k", node: newNode(1)},
		{name: "reusable", use: "k", node: newNode(1), key: func(*SQLStore) NewAuthKey {
			k := tagKey("k")
			k.Reusable = true
			return k
		}, prepare: func(t *testing.T, s *SQLStore) {
			if _, _, err := s.RegisterWithAuthKey(ctx, secret("k"), t0, newNode(9)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "unknown key", use: "other", node: newNode(1), wantErr: ErrAuthKeyNotFound},
		{name: "revoked", use: "k", node: newNode(1), wantErr: ErrAuthKeyRevoked,
			prepare: func(t *testing.T, s *SQLStore) {
				if err := s.RevokeAuthKey(ctx, 1, t0); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "expired", use: "k", node: newNode(1), wantErr: ErrAuthKeyExpired,
			key: func(*SQLStore) NewAuthKey {
				k := tagKey("k")
				k.Expiry = t0
				return k
			}},
		{name: "single use used", use: "k", node: newNode(1), wantErr: ErrAuthKeyUsed,
			prepare: func(t *testing.T, s *SQLStore) {
				if _, _, err := s.RegisterWithAuthKey(ctx, secret("k"), t0, newNode(9)); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "machine exists", use: "k2", node: newNode(9), wantErr: ErrMachineExists,
			prepare: func(t *testing.T, s *SQLStore) {
				mustRegister(t, s, 9, t0)
				mustAuthKey(t, s, tagKey("k2"))
			}},
		{name: "wireguard key of another node", use: "k", wantErr: ErrDuplicate,
			node: func() NewNode { n := newNode(1); n.WGKey = wgkey(9); return n }(),
			prepare: func(t *testing.T, s *SQLStore) {
				mustRegister(t, s, 9, t0)
			}},
		{name: "zero machine key", use: "k", wantErr: ErrInvalid,
			node: func() NewNode { n := newNode(1); n.MachineKey = MachinePublic{}; return n }()},
		{name: "zero wireguard key", use: "k", wantErr: ErrInvalid,
			node: func() NewNode { n := newNode(1); n.WGKey = WGPublic{}; return n }()},
		{name: "port 0", use: "k", wantErr: ErrInvalid,
			node: func() NewNode { n := newNode(1); n.ExposedPorts = []uint16{0}; return n }()},
		{name: "empty name", use: "k", wantErr: ErrInvalid,
			node: func() NewNode { n := newNode(1); n.Name = ""; return n }()},
		{name: "user of key disabled", use: "k", node: newNode(1), wantErr: ErrUserDisabled,
			key: func(s *SQLStore) NewAuthKey {
				k := tagKey("k")
				k.Tags, k.UserID = nil, 1
				return k
			}, prepare: func(t *testing.T, s *SQLStore) {
				if err := s.SetUserDisabled(ctx, 1, true); err != nil {
					t.Fatal(err)
				}
			}},
	}
}

func TestRegisterWithAuthKey(t *testing.T) {
	ctx := context.Background()
	for _, tt := range registerCases() {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			mustUser(t, s, "alice@example.com")
			nk := tagKey("k")
			if tt.key != nil {
				nk = tt.key(s)
			}
			key := mustAuthKey(t, s, nk)
			if tt.prepare != nil {
				tt.prepare(t, s)
			}
			before, _ := s.AuthKey(ctx, key.ID)
			nodesBefore, _ := s.ListNodes(ctx)

			n, k, err := s.RegisterWithAuthKey(ctx, secret(tt.use), t0, tt.node)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RegisterWithAuthKey error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				assertUnchanged(t, s, before, nodesBefore)
				return
			}
			checkRegistered(t, s, n, k, before, tt.node)
		})
	}
}

// assertUnchanged checks that a refused registration changed nothing.
func assertUnchanged(t *testing.T, s *SQLStore, key AuthKey, nodes []Node) {
	t.Helper()
	ctx := context.Background()
	after, _ := s.AuthKey(ctx, key.ID)
	if d := diff(key, after); d != "" {
		t.Errorf("auth key changed (-before +after):\n%s", d)
	}
	nodesAfter, _ := s.ListNodes(ctx)
	if d := diff(nodes, nodesAfter); d != "" {
		t.Errorf("nodes changed (-before +after):\n%s", d)
	}
}

// checkRegistered checks a node registered with a key and the key's update.
func checkRegistered(t *testing.T, s *SQLStore, n Node, k, before AuthKey, nn NewNode) {
	t.Helper()
	if k.UseCount != before.UseCount+1 {
		t.Errorf("UseCount = %d, want %d", k.UseCount, before.UseCount+1)
	}
	want := Node{
		ID: n.ID, Name: nn.Name, Hostname: nn.Hostname, OS: nn.OS, Version: nn.Version,
		MachineKey: nn.MachineKey, WGKey: nn.WGKey, KeyExpiry: nn.KeyExpiry,
		IPv4: n.IPv4, IPv6: n.IPv6, UserID: k.UserID, Tags: k.Tags,
		Ephemeral: k.Ephemeral, AuthKeyID: k.ID, CreatedAt: t0,
	}
	if d := diff(want, n); d != "" {
		t.Errorf("node (-want +got):\n%s", d)
	}
	stored, err := s.Node(context.Background(), n.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff(n, stored); d != "" {
		t.Errorf("stored node (-returned +stored):\n%s", d)
	}
	storedKey, _ := s.AuthKey(context.Background(), k.ID)
	if d := diff(k, storedKey); d != "" {
		t.Errorf("stored key (-returned +stored):\n%s", d)
	}
}

func TestRegisterKeepsNodeFields(t *testing.T) {
	s, _ := openTest(t)
	k := tagKey("k")
	k.Ephemeral = true
	k.Tags = []string{"tag:b", "tag:a", "tag:b"}
	mustAuthKey(t, s, k)
	nn := newNode(1)
	nn.Endpoints = []netip.AddrPort{
		netip.MustParseAddrPort("192.0.2.1:41641"), netip.MustParseAddrPort("[2001:db8::1]:41641"),
	}
	nn.ExposedPorts = []uint16{443, 22, 443}
	n, _, err := s.RegisterWithAuthKey(context.Background(), secret("k"), t0, nn)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff([]string{"tag:a", "tag:b"}, n.Tags); d != "" {
		t.Errorf("tags (-want +got):\n%s", d)
	}
	if d := diff([]uint16{22, 443}, n.ExposedPorts); d != "" {
		t.Errorf("ports (-want +got):\n%s", d)
	}
	if d := diff(nn.Endpoints, n.Endpoints); d != "" {
		t.Errorf("endpoints (-want +got):\n%s", d)
	}
	if !n.Ephemeral || n.UserID != 0 {
		t.Errorf("Ephemeral = %t, UserID = %d; want true, 0", n.Ephemeral, n.UserID)
	}
}

func TestRegisterSingleUseKeyRace(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	mustAuthKey(t, s, tagKey("once"))
	const racers = 10
	errs := make([]error, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Go(func() {
			<-start
			_, _, errs[i] = s.RegisterWithAuthKey(ctx, secret("once"), t0, newNode(i))
		})
	}
	close(start)
	wg.Wait()
	var ok, used int
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrAuthKeyUsed):
			used++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	nodes, err := s.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ok != 1 || used != racers-1 || len(nodes) != 1 {
		t.Errorf("%d succeeded, %d got ErrAuthKeyUsed, %d nodes; want 1, %d, 1", ok, used, len(nodes), racers-1)
	}
	k, _ := s.AuthKey(ctx, 1)
	if k.UseCount != 1 {
		t.Errorf("UseCount = %d, want 1", k.UseCount)
	}
}

func TestRegisterWithUser(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		user    UserID
		disable bool
		node    NewNode
		wantErr error
	}{
		{name: "ok", user: 1, node: newNode(1)},
		{name: "unknown user", user: 7, node: newNode(1), wantErr: ErrNotFound},
		{name: "no user", user: 0, node: newNode(1), wantErr: ErrInvalid},
		{name: "disabled user", user: 1, disable: true, node: newNode(1), wantErr: ErrUserDisabled},
		{name: "machine exists", user: 1, node: newNode(2), wantErr: ErrMachineExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			u := mustUser(t, s, "alice@example.com")
			mustRegister(t, s, 2, t0)
			if tt.disable {
				if err := s.SetUserDisabled(ctx, u.ID, true); err != nil {
					t.Fatal(err)
				}
			}
			n, err := s.RegisterWithUser(ctx, tt.user, t0, tt.node)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("RegisterWithUser error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if nodes, _ := s.ListNodes(ctx); len(nodes) != 1 {
					t.Errorf("%d nodes after a refused registration, want 1", len(nodes))
				}
				return
			}
			if n.UserID != u.ID || len(n.Tags) != 0 || n.AuthKeyID != 0 || n.Ephemeral {
				t.Errorf("node owner = user %d tags %v key %d ephemeral %t; want user %d only",
					n.UserID, n.Tags, n.AuthKeyID, n.Ephemeral, u.ID)
			}
		})
	}
}

func TestRegisterSuffixesTakenNames(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	u := mustUser(t, s, "alice@example.com")
	register := func(i int, name string) string {
		t.Helper()
		nn := newNode(i)
		nn.Name = name
		n, err := s.RegisterWithUser(ctx, u.ID, t0, nn)
		if err != nil {
			t.Fatalf("register %q: %v", name, err)
		}
		return n.Name
	}
	steps := []struct{ name, want string }{
		{"cam", "cam"},
		{"cam", "cam-2"},
		{"cam-4", "cam-4"},
		{"cam", "cam-3"},
		{"cam", "cam-5"},
		{"cam-02", "cam-02"},
		{"cam", "cam-6"},
		{"c*m", "c*m"},
		{"c*m", "c*m-2"},
		{"c[a]m", "c[a]m"},
		{"c?m", "c?m"},
		{"c?m", "c?m-2"},
		{"café", "café"},
		{"café", "café-2"},
		{"café", "café-3"},
	}
	for i, st := range steps {
		if got := register(i, st.name); got != st.want {
			t.Errorf("step %d: register %q got name %q, want %q", i, st.name, got, st.want)
		}
	}
	// Removing a suffixed node frees its name for the next one.
	n, _ := s.NodeByName(ctx, "cam-2")
	if _, err := s.DeleteNode(ctx, n.ID, t0); err != nil {
		t.Fatal(err)
	}
	if got := register(100, "cam"); got != "cam-2" {
		t.Errorf("after delete: got %q, want cam-2", got)
	}
}

func TestRegisterAtExpiryBoundary(t *testing.T) {
	s, _ := openTest(t)
	k := tagKey("k")
	k.Reusable = true
	k.Expiry = t0
	mustAuthKey(t, s, k)
	_, _, err := s.RegisterWithAuthKey(context.Background(), secret("k"), t0.Add(-time.Microsecond), newNode(1))
	if err != nil {
		t.Errorf("just before expiry: %v", err)
	}
	_, _, err = s.RegisterWithAuthKey(context.Background(), secret("k"), t0, newNode(2))
	if !errors.Is(err, ErrAuthKeyExpired) {
		t.Errorf("at expiry: %v, want ErrAuthKeyExpired", err)
	}
}
