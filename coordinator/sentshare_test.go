package coordinator

import (
	"testing"

	"github.com/wardnet/ward/wire"
)

// TestSharedSentPeersCopiedOnChange checks that a shared set (a view
// class's, held by every node of the class) is never changed through one
// of its holders: a change copies it first, and a change that changes
// nothing keeps it shared.
func TestSharedSentPeersCopiedOnChange(t *testing.T) {
	b := newSentPeersBuilder(3)
	for id := wire.NodeID(1); id <= 3; id++ {
		b.add(id, sentPeer{ver: uint64(id)})
	}
	class := b.done()
	class.share()
	a, c := class, class // two holders
	a.set(2, sentPeer{ver: 2})
	if a.shared == 0 {
		t.Error("a set that changes nothing made the holder's own copy")
	}
	a.set(2, sentPeer{ver: 9})
	if a.shared != 0 {
		t.Error("a changed set is still marked shared")
	}
	if p, _ := c.get(2); p.ver != 2 {
		t.Errorf("another holder's peer 2 has version %d after one holder's change, want 2", p.ver)
	}
	if p, _ := class.get(2); p.ver != 2 {
		t.Errorf("the class's peer 2 has version %d, want 2", p.ver)
	}
	if !c.remove(3) || c.shared != 0 || !class.has(3) {
		t.Error("a removal through one holder changed the shared set")
	}
	if c.remove(7) {
		t.Error("removed a peer not held")
	}
	r := class.clone()
	if r.shared != class.shared || &r.sorted[0] != &class.sorted[0] {
		t.Error("a resumed stream's clone of a shared set copied it")
	}
	r.set(4, sentPeer{ver: 4})
	if class.has(4) || class.len() != 3 {
		t.Error("an addition through a clone changed the shared set")
	}
}
