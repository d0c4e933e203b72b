package coordinator

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/wardnet/ward/wire"
)

// TestAppendMsgGrowsOnce: a message of thousands of peer records is made
// with one growth of its buffer, not a doubling per power of two, and is
// still the JSON of its parts.
func TestAppendMsgGrowsOnce(t *testing.T) {
	peers := make([]encPeer, 5000)
	grants := make([]encPeer, 5000)
	for i := range peers {
		peers[i] = encPeer{id: wire.NodeID(i + 1), enc: fmt.Appendf(nil, `{"id":%d,"name":"camera-%d","tags":["tag:camera"]}`, i+1, i+1)}
		grants[i] = encPeer{id: wire.NodeID(i + 1), enc: []byte(`[{"proto":6,"ports":[{"first":554,"last":554}]}]`)}
	}
	head := &wire.MapResponse{Version: 7}
	var msg []byte
	allocs := testing.AllocsPerRun(5, func() {
		msg = appendMsg(nil, head, "peers_changed", peers, grants, nil, nil, nil, nil)
	})
	// The head's json.Marshal takes a few; the buffer one.
	if allocs > 4 {
		t.Errorf("appendMsg of 5,000 peers and grants made %.0f allocations, want at most 4", allocs)
	}
	var m wire.MapResponse
	if err := json.Unmarshal(msg, &m); err != nil {
		t.Fatalf("message does not decode: %v", err)
	}
	if len(m.PeersChanged) != len(peers) || len(m.PeersGrants) != len(grants) || m.Version != 7 {
		t.Fatalf("decoded %d peers, %d grants, version %d", len(m.PeersChanged), len(m.PeersGrants), m.Version)
	}
}
