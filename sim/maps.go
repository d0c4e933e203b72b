package sim

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/wardnet/ward/wire"
)

// errGotMap ends a sizing stream after its first message.
var errGotMap = errors.New("got the full map")

// sizer is a map handler that keeps the first message's size: as JSON,
// and as a node of this version gets it (its peers in binary,
// wire.FeatureBinaryPeers).
type sizer struct {
	bytes, wireBytes, peers int
}

func (s *sizer) HandleMap(m wire.MapResponse) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	s.bytes, s.wireBytes, s.peers = len(b), len(b), len(m.Peers)
	if len(m.Peers) > 0 {
		block := wire.AppendPeerBlockHead(nil, len(m.Peers))
		for i := range m.Peers {
			if block, err = wire.AppendPeerRecord(block, &m.Peers[i]); err != nil {
				return err
			}
		}
		m.Peers, m.PeersBin = nil, len(block)
		if b, err = json.Marshal(m); err != nil {
			return err
		}
		s.wireBytes = len(b) + 1 + len(block)
	}
	return errGotMap
}

func (s *sizer) SetConnected(bool) {}

// fullMaps opens one more stream, from scratch, for the first node of
// each tag and records the full map's size and how long it took.
func (r *run) fullMaps(ctx context.Context, res *Result) {
	res.MapBytes, res.MapWireBytes, res.MapPeers, res.MapTime = map[string]int{}, map[string]int{}, map[string]int{}, map[string]time.Duration{}
	for _, tag := range []string{TagGateway, TagCamera, TagSensor} {
		for _, n := range r.nodes {
			if n.tag != tag {
				continue
			}
			var s sizer
			t0 := time.Now()
			if _, _, err := n.cl.StreamMap(ctx, 0, &s); errors.Is(err, errGotMap) {
				res.MapBytes[tag], res.MapPeers[tag], res.MapTime[tag] = s.bytes, s.peers, time.Since(t0)
				res.MapWireBytes[tag] = s.wireBytes
			} else {
				r.cfg.Log("full map of %s: %v", n.self.Name, err)
			}
			break
		}
	}
}
