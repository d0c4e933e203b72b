package coordinator

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// TestStreamOpeningWhileAnotherClosesStaysOnline: a node's map stream
// closes and, between the coordinator's check that the node has no stream
// left and its offline mark, the node opens a new one (the test's hook
// holds the closing stream there until the new stream is subscribed, and
// up to 300 ms more for it to be marked online, which it can only be
// once the closing stream's mark is made). The node is marked online
// in the netmap (what its peers' maps say), and stays so: not offline with a stream open.
func TestStreamOpeningWhileAnotherClosesStaysOnline(t *testing.T) {
	c := startCoord(t, testPolicy)
	m := c.mustRegister([]string{"tag:camera"}, "cam1")
	var armed atomic.Bool
	reached := make(chan struct{})
	hook := func(id store.NodeID, on bool) {
		if on || !armed.CompareAndSwap(true, false) {
			return
		}
		close(reached)
		for deadline := time.Now().Add(10 * time.Second); !c.srv.hub.connected(id) && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); {
			if onlineIn(c.srv.nm, id) {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	c.srv.control.settleHook.Store(&hook)
	s1 := c.openMap(m, 0)
	s1.next()
	armed.Store(true)
	s1.resp.Body.Close()
	select {
	case <-reached:
	case <-time.After(20 * time.Second):
		t.Fatal("the closed stream's offline check did not run within 20 s")
	}
	s2 := c.openMap(m, 0)
	s2.next()
	var an wire.AdminNode
	if code := c.admin(http.MethodGet, wire.PathAdminNodes+"/cam1", nil, &an); code != http.StatusOK {
		t.Fatalf("get cam1: %d", code)
	}
	id := store.NodeID(an.ID)
	deadline := time.Now().Add(10 * time.Second)
	for !onlineIn(c.srv.nm, id) {
		if time.Now().After(deadline) {
			t.Fatal("cam1 is marked offline in the netmap with its new stream open")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 10 { // and stays so
		time.Sleep(50 * time.Millisecond)
		if !onlineIn(c.srv.nm, id) {
			t.Fatal("cam1 was marked offline in the netmap with its new stream open")
		}
	}
}

// onlineIn reports whether nm marks node id online.
func onlineIn(nm *netmap, id store.NodeID) bool {
	nm.mu.Lock()
	defer nm.mu.Unlock()
	return nm.online[id]
}
