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

// sizer is a map handler that keeps the first message's size.
type sizer struct {
	bytes, peers int
}

func (s *sizer) HandleMap(m wire.MapResponse) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	s.bytes, s.peers = len(b), len(m.Peers)
	return errGotMap
}

func (s *sizer) SetConnected(bool) {}

// fullMaps opens one more stream, from scratch, for the first node of
// each tag and records the full map's size and how long it took.
func (r *run) fullMaps(ctx context.Context, res *Result) {
	res.MapBytes, res.MapPeers, res.MapTime = map[string]int{}, map[string]int{}, map[string]time.Duration{}
	for _, tag := range []string{TagGateway, TagCamera, TagSensor} {
		for _, n := range r.nodes {
			if n.tag != tag {
				continue
			}
			var s sizer
			t0 := time.Now()
			if _, _, err := n.cl.StreamMap(ctx, 0, &s); errors.Is(err, errGotMap) {
				res.MapBytes[tag], res.MapPeers[tag], res.MapTime[tag] = s.bytes, s.peers, time.Since(t0)
			} else {
				r.cfg.Log("full map of %s: %v", n.self.Name, err)
			}
			break
		}
	}
}
