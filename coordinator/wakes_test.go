package coordinator

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
)

// woken reports whether sub has a wake pending, and clears it.
func woken(sub *subscriber) bool { return received(sub.wake) }

// received reports whether a receive from ch would not block, and takes
// what it had (a wake; for a closed channel, nothing).
func received(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestArmedStreamSkipsAddOnlyWakes: a stream whose loop is armed (its
// pace timer or budget turn will take what is pending) is not woken for
// changes that leave only additions pending (joins, presence), and is
// woken at once for anything that may remove or narrow (a peer's other
// change, a narrowing filter change, a whole map); once it took what was
// pending, every change wakes it again.
func TestArmedStreamSkipsAddOnlyWakes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(h *hub)
		wake    bool
		skipped uint64
	}{
		{"join", func(h *hub) { h.notifyJoined(7, []store.NodeID{1}) }, false, 1},
		{"joins", func(h *hub) {
			h.notifyJoined(7, []store.NodeID{1})
			h.notifyJoined(8, []store.NodeID{1})
		}, false, 2},
		{"presence", func(h *hub) { h.notifyPresence(7, []store.NodeID{1}) }, false, 1},
		{"join then presence", func(h *hub) {
			h.notifyJoined(7, []store.NodeID{1})
			h.notifyPresence(7, []store.NodeID{1})
		}, false, 2},
		{"peer change (may remove)", func(h *hub) { h.notifyPeer(7, []store.NodeID{1}, false) }, true, 0},
		{"join then peer change", func(h *hub) {
			h.notifyJoined(7, []store.NodeID{1})
			h.notifyPeer(8, []store.NodeID{1}, false)
		}, true, 1},
		{"filter change (may narrow)", func(h *hub) { h.notifyPeer(7, []store.NodeID{1}, true) }, true, 0},
		{"whole map", func(h *hub) { h.notify([]store.NodeID{1}) }, true, 0},
		{"policy", func(h *hub) { h.notifyAll() }, true, 0},
		{"own change", func(h *hub) { h.notifyPresence(1, []store.NodeID{1}) }, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(time.Now())
			sub, ok := h.subscribe(1)
			if !ok {
				t.Fatal("subscribe")
			}
			sub.arm()
			tc.change(h)
			if got := woken(sub); got != tc.wake {
				t.Fatalf("woken = %v, want %v", got, tc.wake)
			}
			if got := h.wakesSkipped.Load(); got != tc.skipped {
				t.Fatalf("wakes skipped = %d, want %d", got, tc.skipped)
			}
			// What was recorded unwoken is pending all the same.
			if peers, all := sub.peek(); !all && len(peers) == 0 {
				t.Fatal("nothing pending after the change")
			}
			// Taken: the stream is no longer armed, a join wakes it.
			sub.take()
			h.notifyJoined(9, []store.NodeID{1})
			if !woken(sub) {
				t.Fatal("a join after take did not wake the stream")
			}
		})
	}
}

// TestPresenceOnlyAdds: a peer's presence (online, offline) cannot remove
// it or narrow a filter, so a waiting stream asks no worker for it, while
// a change that may remove still counts, before or after it.
func TestPresenceOnlyAdds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		changes  []string // "presence", "change" (notifyPeer), "join"
		onlyAdds bool
	}{
		{"presence", []string{"presence"}, true},
		{"presences", []string{"presence", "presence"}, true},
		{"join then presence", []string{"join", "presence"}, true},
		{"change then presence", []string{"change", "presence"}, false},
		{"presence then change", []string{"presence", "change"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(time.Now())
			sub, ok := h.subscribe(1)
			if !ok {
				t.Fatal("subscribe")
			}
			for _, c := range tc.changes {
				switch c {
				case "presence":
					h.notifyPresence(7, []store.NodeID{1})
				case "change":
					h.notifyPeer(7, []store.NodeID{1}, false)
				case "join":
					h.notifyJoined(7, []store.NodeID{1})
				}
			}
			if got := sub.onlyAdds(); got != tc.onlyAdds {
				t.Fatalf("onlyAdds() = %v, want %v", got, tc.onlyAdds)
			}
			got, all := sub.removable()
			if all || slices.Contains(got, 7) == tc.onlyAdds {
				t.Fatalf("removable() = %v %v; want node 7 among them: %v", got, all, !tc.onlyAdds)
			}
			if peers, _ := sub.peek(); !slices.Equal(peers, []store.NodeID{7}) {
				t.Fatalf("peek() = %v, want [7]: the record still goes", peers)
			}
		})
	}
}

// TestPacedStreamNotWokenByJoins: a gateway's stream paced by
// Config.MapCoalesce is woken by the first join only (which arms its
// pace); the next joins and the cameras coming online are recorded
// without a wake and all reach it in the paced message
// (TestMapCoalesceJoinsOneMessage: a revocation meanwhile goes at once).
func TestPacedStreamNotWokenByJoins(t *testing.T) {
	c := startCoordWith(t, testPolicy, func(cfg *Config) { cfg.MapCoalesce = 8 * time.Second })
	gw := c.mustRegister([]string{"tag:operator"}, "gw")
	gwID := c.storeNode(gw).ID
	s := c.openMap(gw, 0)
	if first := s.next(); len(first.Peers) != 0 {
		t.Fatalf("first map: %d peers, want none", len(first.Peers))
	}
	hub := c.srv.hub
	cam1 := c.mustRegister([]string{"tag:camera"}, "cam1")
	cam1ID := c.storeNode(cam1).ID
	// The first join wakes the loop, which arms the pace's timer.
	deadline := time.Now().Add(10 * time.Second)
	for !c.armed(gwID) {
		if time.Now().After(deadline) {
			t.Fatal("the gateway's stream did not arm its pace after cam1's join")
		}
		time.Sleep(5 * time.Millisecond)
	}
	before := hub.wakesSkipped.Load()
	var cams []store.NodeID
	for _, name := range []string{"cam2", "cam3"} {
		cams = append(cams, c.storeNode(c.mustRegister([]string{"tag:camera"}, name)).ID)
	}
	c1 := c.openMap(cam1, 0) // cam1 comes online: a presence
	c1.next()
	if got := hub.wakesSkipped.Load() - before; got < 3 {
		t.Fatalf("%d wakes skipped for two joins and a presence while paced; want 3", got)
	}
	if !slices.Contains(c.pendingPeers(gwID), cams[1]) {
		t.Fatal("cam3's join is not pending")
	}
	// The paced message carries them all.
	m := s.next()
	var got []store.NodeID
	for _, p := range append(m.Peers, m.PeersChanged...) {
		got = append(got, store.NodeID(p.ID))
	}
	slices.Sort(got)
	if want := append([]store.NodeID{cam1ID}, cams...); !slices.Equal(got, want) {
		t.Fatalf("paced message: peers %v, want %v (the joins and the presence in one message)", got, want)
	}
}

// armed reports whether a stream of node id is armed (subscriber.armed).
func (c *testCoord) armed(id store.NodeID) bool {
	c.srv.hub.mu.Lock()
	defer c.srv.hub.mu.Unlock()
	for _, sub := range c.srv.hub.subs[id] {
		sub.mu.Lock()
		a := sub.armed
		sub.mu.Unlock()
		if a {
			return true
		}
	}
	return false
}

// TestServedBy: a request's context descends from the server's when
// serve made its base (withServedBy), so the stream's loop watches one
// Done channel; any other context is not taken for it.
func TestServedBy(t *testing.T) {
	a, b := &core{}, &core{}
	base := withServedBy(context.Background(), a)
	child, cancel := context.WithCancel(base)
	defer cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		c    *core
		want bool
	}{
		{"base", base, a, true},
		{"child", child, a, true},
		{"another server", child, b, false},
		{"background", context.Background(), a, false},
	} {
		if got := servedBy(tc.ctx, tc.c); got != tc.want {
			t.Errorf("%s: servedBy = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestPendingJoinsStayBounded: joins and presences are recorded in a
// list without a lookup; repeats are compacted, so a peer flapping its
// presence while the stream waits does not grow it without bound, and
// what is pending names each peer once.
func TestPendingJoinsStayBounded(t *testing.T) {
	s := &subscriber{wake: make(chan struct{}, 1)}
	for i := range 10_000 {
		s.add(false, store.NodeID(1+i%5), false, true)
	}
	s.add(false, 3, false, false) // a change that may remove: in peers too
	if n := len(s.pend.joins); n > 2*joinsCompactMin {
		t.Fatalf("%d joins held for 5 peers", n)
	}
	peers, all := s.peek()
	slices.Sort(peers)
	if all || !slices.Equal(peers, []store.NodeID{1, 2, 3, 4, 5}) {
		t.Fatalf("peek() = %v %v, want [1 2 3 4 5]", peers, all)
	}
	if got, _ := s.removable(); !slices.Equal(got, []store.NodeID{3}) {
		t.Fatalf("removable() = %v, want [3]", got)
	}
	p := s.take()
	if ids := p.ids(); len(ids) != 5 {
		t.Fatalf("taken ids %v, want 5", ids)
	}
}
