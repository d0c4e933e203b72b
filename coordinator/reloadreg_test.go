package coordinator

import (
	"slices"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
)

// TestReloadRegisteredKeepsOrder: a registration puts the record it
// committed in the netmap without reading it back (reloadRegistered),
// unless the node changed since: a change that reached the netmap (the
// netmap's record is then newer) or a removal of the node while the
// netmap did not hold it (the registration's record must not bring it
// back). Each case is the window between a registration's commit and
// its netmap update, reproduced by running the other update in it.
func TestReloadRegisteredKeepsOrder(t *testing.T) {
	c := startCoord(t, testPolicy)
	ctx := t.Context()

	// The plain case: the record goes in as committed.
	m := c.mustRegister([]string{"tag:camera"}, "cam")
	n := c.storeNode(m)
	if got, ok := c.srv.nm.node(n.ID); !ok || !slices.Equal(got.Tags, n.Tags) {
		t.Fatalf("registered node in the netmap: %v, %v", ok, got.Tags)
	}

	// Retagged after the commit, and the retag's reload ran first: the
	// registration's (older) record must not replace the netmap's.
	stale := n
	if err := c.srv.st.SetNodeTags(ctx, n.ID, []string{"tag:operator"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.srv.reloadNode(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.srv.reloadRegistered(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.srv.nm.node(n.ID); !slices.Equal(got.Tags, []string{"tag:operator"}) {
		t.Fatalf("after a stale registration record: tags %v, want the retag's [tag:operator]", got.Tags)
	}

	// Removed after the commit, the removal reaching the netmap before the
	// registration (the netmap did not hold the node yet): it stays out.
	m2 := c.mustRegister([]string{"tag:camera"}, "cam2")
	n2 := c.storeNode(m2)
	c.srv.dropNode(n2.ID) // as if the registration's update had not come yet
	if _, ok := c.srv.nm.node(n2.ID); ok {
		t.Fatal("dropNode left the node in the netmap")
	}
	if _, err := c.srv.st.DeleteNode(ctx, n2.ID, time.Now().Add(store.DefaultQuarantine)); err != nil {
		t.Fatal(err)
	}
	c.srv.dropNode(n2.ID) // the removal, reaching a netmap without the node
	if _, err := c.srv.reloadRegistered(ctx, n2); err == nil {
		t.Fatal("a removed node's registration record was applied without error")
	}
	if _, ok := c.srv.nm.node(n2.ID); ok {
		t.Fatal("a removed node came back with its registration's record")
	}
}

func TestGoneIDsBounded(t *testing.T) {
	var g goneIDs
	for i := range goneMax + 10 {
		g.add(store.NodeID(i + 1))
		g.add(store.NodeID(i + 1))
	}
	if len(g.set) != goneMax || len(g.order) != goneMax {
		t.Fatalf("holds %d (%d in order), want %d", len(g.set), len(g.order), goneMax)
	}
	if g.has(1) || !g.has(goneMax+10) {
		t.Fatal("the oldest should have left, the newest stayed")
	}
}
