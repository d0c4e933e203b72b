package coordinator

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// turnGiven reports whether t has been given (its channel closed).
func turnGiven(t *mapTurn) bool { return received(t.granted) }

// TestMapBudgetTurns: turns are given in the order asked while the bytes
// in flight are under the budget and fewer than maxMaking are making
// theirs; a cancelled wait leaves the queue, a cancelled turn is given
// back.
func TestMapBudgetTurns(t *testing.T) {
	b := newMapBudget(100, 2)
	given := turnGiven
	t1, now1 := b.ask()
	t2, now2 := b.ask()
	if !now1 || !now2 || !given(t1) || !given(t2) {
		t.Fatal("the first two turns (maxMaking 2) were not given at once")
	}
	t3, now3 := b.ask()
	t4, _ := b.ask()
	t5, _ := b.ask()
	if now3 || given(t3) {
		t.Fatal("a third turn was given while two were making their message")
	}
	b.made(150) // over the budget: no turn until it is written
	if given(t3) {
		t.Fatal("a turn was given while the bytes in flight were over the budget")
	}
	b.made(0) // t2 had nothing to send
	if given(t3) {
		t.Fatal("a turn was given while the bytes in flight were over the budget")
	}
	b.cancel(t4) // t4 stops waiting
	b.written(150)
	if !given(t3) || given(t4) || !given(t5) {
		t.Fatalf("after the write: t3 %v, t4 %v, t5 %v; want t3 and t5 given in order, t4 (cancelled) not", given(t3), given(t4), given(t5))
	}
	if _, _, waiting := b.stats(); waiting != 0 {
		t.Fatalf("%d waiting, want none", waiting)
	}
	b.cancel(t3) // given, never used: handed back
	b.made(10)   // t5's message
	t6, now6 := b.ask()
	if !now6 || !given(t6) {
		t.Fatal("a turn handed back was not free again")
	}
	b.made(0)
	b.written(10)
	if in, peak, _ := b.stats(); in != 0 || peak != 150 {
		t.Fatalf("in flight %d, peak %d; want 0 and 150", in, peak)
	}
	var none *mapBudget // no budget: every turn at once
	if tn, now := none.ask(); !now || !given(tn) {
		t.Fatal("a nil budget did not give a turn at once")
	}
	none.made(1 << 30)
	none.written(1 << 30)
}

// TestMapBudgetUpdateWaitsRemovalsDoNot: while the map messages made and
// unwritten fill the budget (here the test holds it), a node's update
// (a join) waits for its turn, a revocation reaches it at once in a
// message of its own, and the update comes once the budget frees.
// Without the budget the join came at once.
func TestMapBudgetUpdateWaitsRemovalsDoNot(t *testing.T) {
	c := startCoordWith(t, testPolicy, func(cfg *Config) {
		cfg.MapWriteBudget = 1
		cfg.MapCoalesce = -1
	})
	gw := c.mustRegister([]string{"tag:operator"}, "gw")
	cam1 := c.mustRegister([]string{"tag:camera"}, "cam1")
	gwID, cam1ID := c.storeNode(gw).ID, c.storeNode(cam1).ID
	s := c.openMap(gw, 0)
	if first := s.next(); len(first.Peers) != 1 {
		t.Fatalf("first map: %d peers, want cam1", len(first.Peers))
	}
	b := c.srv.control.budget
	if b == nil {
		t.Fatal("no map budget")
	}
	// The test takes the budget, as a stream whose message is unwritten.
	if held, now := b.ask(); !now {
		<-held.granted // the first map's turn may still be handed back
	}
	b.made(1)

	cam2ID := c.storeNode(c.mustRegister([]string{"tag:camera"}, "cam2")).ID
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, waiting := b.stats()
		if waiting == 1 && slices.Contains(c.pendingPeers(gwID), cam2ID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway's stream does not wait for a turn with cam2's join pending (waiting %d, pending %v)", waiting, c.pendingPeers(gwID))
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.expireNode(cam1ID)
	m := s.next()
	wantRemovedAlone(t, m, cam1ID, "while the budget is full")
	if !slices.Contains(c.pendingPeers(gwID), cam2ID) {
		t.Fatal("cam2's join is no longer pending: sent while the budget was full")
	}

	b.written(1)
	m = s.next()
	var got []store.NodeID
	for _, p := range append(m.Peers, m.PeersChanged...) {
		got = append(got, store.NodeID(p.ID))
	}
	if !slices.Equal(got, []store.NodeID{cam2ID}) {
		t.Fatalf("message once the budget freed: peers %v, want cam2", got)
	}
	if _, _, waiting := b.stats(); waiting != 0 {
		t.Fatalf("%d streams still waiting", waiting)
	}
}

// TestNarrowingFilterChangesBypassMapBudget: while the budget is full, a
// join waits for its turn, but a policy change that narrows the node's
// filter goes at once (with what was pending), and one that widens it
// waits.
func TestNarrowingFilterChangesBypassMapBudget(t *testing.T) {
	c := startCoordWith(t, pacedPolicy("", 22, 80), func(cfg *Config) {
		cfg.MapWriteBudget = 1
		cfg.MapCoalesce = -1
	})
	c.mustRegister([]string{"tag:operator"}, "op1")
	cam := c.mustRegister([]string{"tag:camera"}, "cam")
	camID := c.storeNode(cam).ID
	s := c.openMapQuery(cam, fmt.Sprintf("%s=%d", wire.MapVersionParam, wire.ProtocolVersion))
	if first := s.next(); len(first.Filter) != 2 {
		t.Fatalf("first map: filter %+v, want two accepts", first.Filter)
	}
	b := c.srv.control.budget
	if held, now := b.ask(); !now {
		<-held.granted
	}
	b.made(1) // the test fills the budget
	defer b.written(1)

	op2ID := c.storeNode(c.mustRegister([]string{"tag:operator"}, "op2")).ID
	waitFor(t, "op2's join pending while the budget is full", func() bool {
		_, _, waiting := b.stats()
		return waiting == 1 && slices.Contains(c.pendingPeers(camID), op2ID)
	})
	setPolicy := func(text string) {
		t.Helper()
		var cur wire.PolicyVersion
		c.admin("GET", wire.PathAdminPolicy, nil, &cur)
		if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: text, ParentID: cur.ID}, nil); code != http.StatusOK {
			t.Fatalf("set policy: %d", code)
		}
	}
	setPolicy(pacedPolicy(`{"action": "deny", "src": ["tag:operator"], "dst": ["tag:camera:22"]}`, 22, 80))
	m := s.next()
	if !m.FilterChanged || !slices.ContainsFunc(m.Filter, func(r filter.Rule) bool { return r.Deny }) {
		t.Fatalf("message after the deny: filter %+v; want the narrowed filter at once", m.Filter)
	}
	if pend := c.pendingPeers(camID); len(pend) > 0 {
		t.Errorf("pending after the narrowed filter went: %v; want op2's join sent with it", pend)
	}

	// Widening waits for its turn.
	checks := func() float64 { return valueOf(t, c.srv.metrics.mapBuilds.WithLabelValues("filter")) }
	before := checks()
	setPolicy(pacedPolicy(`{"action": "deny", "src": ["tag:operator"], "dst": ["tag:camera:22"]}`, 22, 80, 443))
	waitFor(t, "the waiting stream's filter check", func() bool { return checks() > before })
	if !c.pendingAll(camID) {
		t.Error("a widening policy change was sent while the budget was full")
	}
}

// TestMapBudgetHoldEnds: a message whose write does not end (a node that
// stopped reading) counts against the budget for the hold only, so the
// streams behind it get their turn; its release after that changes
// nothing.
func TestMapBudgetHoldEnds(t *testing.T) {
	b := newMapBudget(10, 1)
	// Long enough that the ask just after holdFor comes within it on a
	// loaded machine (20 ms did not, once), short enough for a test.
	b.hold = 500 * time.Millisecond
	if _, now := b.ask(); !now {
		t.Fatal("the first turn was not given at once")
	}
	b.made(100)
	release := b.holdFor(100)
	next, now := b.ask()
	if now {
		t.Fatal("a turn was given while the bytes in flight were over the budget")
	}
	select {
	case <-next.granted:
	case <-time.After(30 * time.Second):
		t.Fatal("the stuck message's bytes still count after its hold")
	}
	release() // the write ends at last: counted once
	b.made(0)
	if in, _, _ := b.stats(); in != 0 {
		t.Fatalf("%d bytes in flight after the release, want 0", in)
	}
}

// TestRemovableLeavesOutJoins: the removals' candidates are the pending
// peers with a change other than their join; a join then a removal of
// the same node is one.
func TestRemovableLeavesOutJoins(t *testing.T) {
	for _, tc := range []struct {
		name   string
		joined []bool // the changes recorded for node 7, in order
		want   bool
	}{
		{"join", []bool{true}, false},
		{"joins", []bool{true, true}, false},
		{"change", []bool{false}, true},
		{"join then removal", []bool{true, false}, true},
		{"change then join", []bool{false, true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &subscriber{wake: make(chan struct{}, 1)}
			for _, j := range tc.joined {
				s.add(false, 7, true, j)
			}
			if s.onlyAdds() == tc.want {
				t.Fatalf("onlyAdds() = %v, want %v", tc.want, !tc.want)
			}
			got, all := s.removable()
			if all || slices.Contains(got, 7) != tc.want {
				t.Fatalf("removable() = %v %v, want node 7 among them: %v", got, all, tc.want)
			}
			// Checked once: not again until it changes again.
			if got, _ := s.removable(); len(got) > 0 {
				t.Fatalf("removable() again = %v, want none (checked)", got)
			}
			s.add(false, 7, false, false)
			if got, _ := s.removable(); !slices.Equal(got, []store.NodeID{7}) {
				t.Fatalf("removable() after another change = %v, want [7]", got)
			}
			s.add(false, 7, false, true) // a join after: still checked
			if got, _ := s.removable(); len(got) > 0 {
				t.Fatalf("removable() after a join = %v, want none", got)
			}
			if peers, _ := s.peek(); !slices.Equal(peers, []store.NodeID{7}) {
				t.Fatalf("peek() = %v, want [7] whatever the changes", peers)
			}
		})
	}
}

// TestMapBudgetSetAside: a turn set aside (its holder busy with its
// removals) is not given while aside, keeps its place in the order asked
// when put back, and a turn given before it was set aside says so. The
// waiting count includes turns set aside, and cancelling one forgets it.
// Without setAside the first in the queue got the turn whether its holder
// could take it or not.
func TestMapBudgetSetAside(t *testing.T) {
	b := newMapBudget(1<<20, 1)
	given := turnGiven
	_, now := b.ask()
	if !now {
		t.Fatal("the first turn was not given at once")
	}
	t2, _ := b.ask()
	t3, _ := b.ask()
	if b.setAside(t2) {
		t.Fatal("setAside reported a waiting turn as given")
	}
	t4, _ := b.ask()
	if _, _, w := b.stats(); w != 3 {
		t.Fatalf("%d waiting, want 3 (one of them aside)", w)
	}
	b.made(0) // t1 done: the next ready turn is t3, not t2 (aside)
	if given(t2) || !given(t3) || given(t4) {
		t.Fatalf("after t1: t2 %v t3 %v t4 %v; want only t3", given(t2), given(t3), given(t4))
	}
	b.putBack(t2) // no turn free: waits, ahead of t4 (asked before it)
	if given(t2) {
		t.Fatal("a turn put back was given while another was making")
	}
	b.made(0) // t3 done
	if !given(t2) || given(t4) {
		t.Fatalf("after t3: t2 %v t4 %v; want t2 (asked first) given, t4 waiting", given(t2), given(t4))
	}
	if !b.setAside(t2) {
		t.Fatal("setAside of a given turn did not say it was given")
	}
	b.made(0) // t2 done
	if !given(t4) {
		t.Fatal("t4 was not given")
	}
	t5, _ := b.ask()
	b.setAside(t5)
	b.cancel(t5)
	b.putBack(t5) // after cancel: nothing
	if _, _, w := b.stats(); w != 0 {
		t.Fatalf("%d waiting after the cancelled turn, want 0", w)
	}
	b.made(0)
	if tn, now := b.ask(); !now || !given(tn) {
		t.Fatal("the budget did not free after every turn was done")
	}
	var none *mapBudget
	if !none.setAside(t5) {
		t.Fatal("a nil budget's turns are always given")
	}
	none.putBack(t5)
}
