package coordinator

import (
	"encoding/json"
	"slices"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// encPeer is a peer's JSON in a message, by id.
type encPeer struct {
	id  wire.NodeID
	enc []byte
}

// appendMsg appends head as one line of the map stream with peers (under
// the key "peers" for a full map, "peers_changed" for a delta; sorted by
// id here) and, when not empty, the filter rules: the JSON
// json.Marshal would make of the whole message (field order aside), but
// made of parts encoded once and shared by every stream that sends them
// (peer records, each rule's source list).
func appendMsg(b []byte, head *wire.MapResponse, peersKey string, peers []encPeer, rules []filter.Rule, src *srcCache) []byte {
	h, _ := json.Marshal(head) // a message always has a version: "{...}"
	b = append(b, h[:len(h)-1]...)
	if len(peers) > 0 {
		slices.SortFunc(peers, func(x, y encPeer) int { return int(x.id) - int(y.id) })
		b = append(b, `,"`...)
		b = append(b, peersKey...)
		b = append(b, `":[`...)
		for i, p := range peers {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, p.enc...)
		}
		b = append(b, ']')
	}
	if len(rules) > 0 {
		b = append(b, `,"filter":[`...)
		for i, r := range rules {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendRule(b, r, src)
		}
		b = append(b, ']')
	}
	return append(b, '}', '\n')
}

// appendRule appends r's JSON, its source list from the cache.
func appendRule(b []byte, r filter.Rule, src *srcCache) []byte {
	b = append(b, `{"src":`...)
	if r.Src == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, src.info(r.Src).enc...)
	}
	d, _ := json.Marshal(r.Dst)
	b = append(b, `,"dst":`...)
	b = append(b, d...)
	p, _ := json.Marshal(r.Protos)
	b = append(b, `,"protos":`...)
	b = append(b, p...)
	if r.Deny {
		b = append(b, `,"deny":true`...)
	}
	if !r.Expires.IsZero() {
		e, _ := json.Marshal(r.Expires)
		b = append(b, `,"expires":`...)
		b = append(b, e...)
	}
	return append(b, '}')
}
