package coordinator

import (
	"fmt"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// checkNameIndex fails unless every name the netmap indexes names a record
// of that name, and every live record is the one its name names.
func (c *testCoord) checkNameIndex() {
	c.t.Helper()
	m := c.srv.nm
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, id := range m.byName {
		if n, ok := m.nodes[id]; !ok || n.Name != name {
			c.t.Errorf("name index: %q -> node %d, which is %q (present: %v)", name, id, n.Name, ok)
		}
	}
	for id := range m.live {
		if n := m.nodes[id]; m.byName[n.Name] != id {
			c.t.Errorf("live node %d (%q) is not the one its name indexes (%d)", id, n.Name, m.byName[n.Name])
		}
	}
}

// TestRefusedDuplicateNameKeepsNameIndex: an attacker registers a node
// whose hostname is the name of a node an admin is removing, between the
// removal's store delete and its netmap update (the window removeNode
// leaves; reproduced here by running its two halves around the
// registration). The store gives the attacker's node the freed name; the
// netmap, still holding the removed record under it, refuses it into the
// policy for now. That refusal must not point the name at the new record
// while the policy still knows the old one by it, nor lose the new record
// when the old one leaves: the new node joins the policy then, and its
// peers see it.
func TestRefusedDuplicateNameKeepsNameIndex(t *testing.T) {
	c := startCoord(t, testPolicy)
	op := c.mustRegister([]string{"tag:operator"}, "op")
	victim := c.mustRegister([]string{"tag:camera"}, "cam")
	victimID := c.storeNode(victim).ID

	// The admin's DELETE, first half: the store forgets the node.
	if _, err := c.srv.st.DeleteNode(t.Context(), victimID, time.Now().Add(store.DefaultQuarantine)); err != nil {
		t.Fatal(err)
	}
	// The attacker, with a pre-auth key for cameras, asks for the name.
	attacker := newMachine(t)
	code, self := c.register(attacker, c.authKey([]string{"tag:camera"}, false, ""), "cam")
	if code != 200 || self.Name != "cam" {
		t.Fatalf("register the attacker's camera: %d, name %q; want 200, cam (the store freed it)", code, self.Name)
	}
	c.checkNameIndex()
	// The admin's DELETE, second half: the netmap drops the old record.
	c.srv.dropNode(victimID)
	c.checkNameIndex()

	attackerID := c.storeNode(attacker).ID
	c.srv.nm.mu.Lock()
	live := c.srv.nm.live[attackerID]
	c.srv.nm.mu.Unlock()
	if !live {
		t.Fatal("the new record of the name never joined the policy")
	}
	p, ok := c.peerNamed(op, "cam")
	if !ok || p.ID != wire.NodeID(attackerID) || p.WGKey != attacker.wg.Public() {
		t.Fatalf("the operator's map: cam %+v (present %v); want node %d with the new key", p, ok, attackerID)
	}
	// The name index still serves updates: the node's own update and its
	// removal reach its peers.
	if code := c.admin("DELETE", fmt.Sprintf("%s/%d", wire.PathAdminNodes, attackerID), nil, nil); code != 204 {
		t.Fatalf("remove the new cam: %d", code)
	}
	c.checkNameIndex()
	if _, ok := c.peerNamed(op, "cam"); ok {
		t.Error("the operator still sees cam after its removal")
	}
}
