package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// indexOf returns the index of an address in 100.64.0.0/10.
func indexOf(a string) uint32 {
	b := netip.MustParseAddr(a).As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) - v4Base
}

func TestReserved(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"100.64.0.0", true},
		{"100.64.0.1", false},
		{"100.64.0.254", false},
		{"100.64.0.255", true},
		{"100.64.1.0", true},
		{"100.64.1.1", false},
		{"100.100.99.254", false},
		{"100.100.100.1", true},
		{"100.100.100.100", true},
		{"100.100.101.1", false},
		{"100.127.255.254", false},
		{"100.127.255.255", true},
	}
	for _, tt := range tests {
		if got := reserved(indexOf(tt.addr)); got != tt.want {
			t.Errorf("reserved(%s) = %t, want %t", tt.addr, got, tt.want)
		}
	}
}

func TestAddrsFor(t *testing.T) {
	tests := []struct {
		addr, v6 string
	}{
		{"100.64.0.1", "fdaa:7761:7264::6440:1"},
		{"100.64.1.1", "fdaa:7761:7264::6440:101"},
		{"100.127.255.254", "fdaa:7761:7264::647f:fffe"},
	}
	for _, tt := range tests {
		v4, v6 := addrsFor(indexOf(tt.addr), defaultULA)
		if v4.String() != tt.addr || v6.String() != tt.v6 {
			t.Errorf("addrsFor(%s) = %s, %s; want %s, %s", tt.addr, v4, v6, tt.addr, tt.v6)
		}
	}
}

func TestLowestFree(t *testing.T) {
	all := func(from, to uint32) []uint32 {
		var s []uint32
		for i := from; i < to; i++ {
			s = append(s, i)
		}
		return s
	}
	tests := []struct {
		name     string
		occupied []uint32
		want     string
		wantErr  error
	}{
		{"empty", nil, "100.64.0.1", nil},
		{"gap", []uint32{1, 2, 4}, "100.64.0.3", nil},
		{"skips reserved", all(1, 255), "100.64.1.1", nil},
		{"exhausted", all(0, v4Size), "", ErrAddressesExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rest := tt.occupied
			next := func() (uint32, bool, error) {
				if len(rest) == 0 {
					return 0, false, nil
				}
				i := rest[0]
				rest = rest[1:]
				return i, true, nil
			}
			i, err := lowestFree(0, next)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("lowestFree error = %v, want %v", err, tt.wantErr)
			}
			if err == nil {
				if v4, _ := addrsFor(i, defaultULA); v4.String() != tt.want {
					t.Errorf("lowestFree = %s, want %s", v4, tt.want)
				}
			}
		})
	}
}

func TestAllocationSkipsReserved(t *testing.T) {
	s, _ := openTest(t)
	seedNodes(t, s, 300)
	nodes, err := s.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantLast := []string{"100.64.0.254", "100.64.1.1"}
	got := []string{nodes[253].IPv4.String(), nodes[254].IPv4.String()}
	if d := diff(wantLast, got); d != "" {
		t.Errorf("addresses around .255 (-want +got):\n%s", d)
	}
	seen := map[netip.Addr]bool{}
	for _, n := range nodes {
		if seen[n.IPv4] || seen[n.IPv6] || reserved(indexOf(n.IPv4.String())) {
			t.Errorf("node %d: duplicate or reserved address %s %s", n.ID, n.IPv4, n.IPv6)
		}
		seen[n.IPv4], seen[n.IPv6] = true, true
	}
}

func TestQuarantine(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	a := mustRegister(t, s, 1, t0) // .1
	b := mustRegister(t, s, 2, t0) // .2
	reusable := t0.Add(DefaultQuarantine)
	if _, err := s.DeleteNode(ctx, a.ID, reusable); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteNode(ctx, b.ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		at   time.Time
		want string
	}{
		{t0.Add(time.Minute), "100.64.0.3"},             // both quarantined
		{reusable.Add(-time.Microsecond), "100.64.0.2"}, // b's ended, a's not yet
		{reusable.Add(-time.Microsecond), "100.64.0.4"}, // a's still on
		{reusable, "100.64.0.1"},                        // a's ended
		{reusable, "100.64.0.5"},
	}
	for i, st := range steps {
		n := mustRegister(t, s, 10+i, st.at)
		if n.IPv4.String() != st.want {
			t.Errorf("step %d at %v: got %s, want %s", i, st.at.Sub(t0), n.IPv4, st.want)
		}
	}
}

// seedNodes inserts n tagged nodes in one transaction through the same code
// as registration, which is far faster than n synced transactions.
func seedNodes(t testing.TB, s *SQLStore, n int) {
	t.Helper()
	ctx := context.Background()
	o := owner{tags: []string{"tag:seed"}}
	err := s.db.write(ctx, func(tx *sql.Tx) error {
		for i := range n {
			nn := newNode(1_000_000 + i)
			nn.Name = fmt.Sprintf("seed%d", i)
			if _, err := insertNode(ctx, tx, s.db, t0, nn, o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed %d nodes: %v", n, err)
	}
}

func TestAllocationRecoversFromBadCursor(t *testing.T) {
	tests := []struct {
		name   string
		cursor int64
		want   string
	}{
		{"behind the used range", 1, "100.64.0.201"},
		{"at the end of the range", int64(v4Size - 1), "100.64.0.201"},
		{"past the end", int64(v4Size + 10), "100.64.0.201"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			seedNodes(t, s, 200)
			if err := setMeta(context.Background(), s.db.w, metaAddrCursor, tt.cursor); err != nil {
				t.Fatal(err)
			}
			if n := mustRegister(t, s, 1, t0); n.IPv4.String() != tt.want {
				t.Errorf("got %s, want %s", n.IPv4, tt.want)
			}
		})
	}
}
