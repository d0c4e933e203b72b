package coordinator

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// encPeer is a peer's JSON in a message, by id; for a peer record also
// the record and the viewer's grants and routes (grantTable ids), whence
// its binary form (peerRec.bin).
type encPeer struct {
	id       wire.NodeID
	enc      []byte
	rec      *peerRec
	gid, rid uint32
}

func cmpEncPeer(x, y encPeer) int { return cmp.Compare(x.id, y.id) }

// appendMsg appends head as one line of the map stream with peers (under
// the key "peers" for a full map, "peers_changed" for a delta; sorted by
// id here), the peers' new grants (wire.PeerGrants: grants' enc is the
// grants' JSON, nil for none) and, when not empty, the filter rules (a
// rule whose srcFrom entry is not -1 with null sources, and srcFrom as
// wire.MapResponse.FilterSrcFrom, deltas as its FilterSrcDelta): the JSON
// json.Marshal would make of the whole message (field order aside), but
// made of parts encoded once and shared by every stream that sends them
// (peer records, each rule's source list).
//
// With bin (a node of wire.FeatureBinaryPeers) the peers go as a binary
// block after the line (head's PeersBin or PeersChangedBin, as peersKey
// says), each record's binary form made once and shared as its JSON is;
// when one cannot be made, the message goes as JSON. block, when not
// nil, is peers' block made already (classDiff.block, shared by the
// streams that send the same diff).
func appendMsg(b []byte, head *wire.MapResponse, peersKey string, peers, grants []encPeer, rules []filter.Rule, srcFrom []int, deltas []ruleDelta, src *srcCache, bin *peerTables, block []byte) []byte {
	if len(peers) > 0 && !slices.IsSortedFunc(peers, cmpEncPeer) { // a class's diff is sorted, and shared
		slices.SortFunc(peers, cmpEncPeer)
	}
	// The binary block's length first (the line says it), then its
	// records (peerRec.bin: a shared form, read without a lock).
	binLen := 0
	switch {
	case bin == nil || len(peers) == 0:
		block = nil
	case block != nil:
		binLen = len(block)
	default:
		binLen = peerBlockLen(peers, bin)
	}
	binPeers := peers
	if binLen > 0 {
		h := *head
		if peersKey == "peers" {
			h.PeersBin = binLen
		} else {
			h.PeersChangedBin = binLen
		}
		head, peers = &h, nil
	}
	h, _ := json.Marshal(head) // a message always has a version: "{...}"
	// partsLen is an estimate and the block goes last: short by a byte, the
	// buffer would grow (a copy of the whole message) at the block, so a
	// margin (a 10,000-node run's gateway full maps came out 24 bytes
	// over, 1 MB copied each).
	need := len(h) + partsLen(peers, grants, rules, srcFrom, deltas, src) + binLen + 1<<10
	if len(b)+need > cap(b) && need > maxPooledBuf {
		b = append(bigBuf(len(b)+need), b...)
	}
	b = slices.Grow(b, need)
	b = append(b, h[:len(h)-1]...)
	if len(peers) > 0 {
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
	if len(grants) > 0 {
		if !slices.IsSortedFunc(grants, cmpEncPeer) {
			slices.SortFunc(grants, cmpEncPeer)
		}
		b = append(b, `,"peers_grants":[`...)
		for i, g := range grants {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = strconv.AppendInt(b, int64(g.id), 10)
			if g.enc != nil {
				b = append(b, `,"grants":`...)
				b = append(b, g.enc...)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(rules) > 0 {
		b = append(b, `,"filter":[`...)
		for i, r := range rules {
			if i > 0 {
				b = append(b, ',')
			}
			if srcFrom != nil && srcFrom[i] >= 0 {
				r.Src = nil // the node has them
			}
			b = appendRule(b, r, src)
		}
		b = append(b, ']')
	}
	if srcFrom != nil {
		b = append(b, `,"filter_src_from":[`...)
		for i, j := range srcFrom {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(j), 10)
		}
		b = append(b, ']')
	}
	if len(deltas) > 0 {
		b = append(b, `,"filter_src_delta":[`...)
		for i, d := range deltas {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"rule":`...)
			b = strconv.AppendInt(b, int64(d.rule), 10)
			b = append(b, ',')
			b = append(b, d.enc...)
		}
		b = append(b, ']')
	}
	b = append(b, '}', '\n')
	switch {
	case block != nil:
		b = append(b, block...)
	case binLen > 0:
		b = appendPeerBlock(b, binPeers, bin)
	}
	return b
}

// peerBlockLen is the length of peers (sorted by id) as a binary peer
// block with t's grants and routes, 0 when a record has no binary form.
func peerBlockLen(peers []encPeer, t *peerTables) int {
	n := len(wire.AppendPeerBlockHead(nil, len(peers)))
	for _, p := range peers {
		r := []byte(nil)
		if p.rec != nil {
			r = p.rec.bin(p.gid, p.rid, t)
		}
		if r == nil {
			return 0
		}
		n += len(r)
	}
	return n
}

// appendPeerBlock appends peers, which have a binary form each
// (peerBlockLen is not 0), as a binary peer block.
func appendPeerBlock(b []byte, peers []encPeer, t *peerTables) []byte {
	b = wire.AppendPeerBlockHead(b, len(peers))
	for _, p := range peers {
		b = append(b, p.rec.bin(p.gid, p.rid, t)...)
	}
	return b
}

// peerBlock returns peers (sorted by id) as a binary peer block of its
// own, nil when there are none or a record has no binary form.
func peerBlock(peers []encPeer, t *peerTables) []byte {
	if len(peers) == 0 || !slices.IsSortedFunc(peers, cmpEncPeer) {
		return nil
	}
	n := peerBlockLen(peers, t)
	if n == 0 {
		return nil
	}
	return appendPeerBlock(make([]byte, 0, n), peers, t)
}

// partsLen is about the bytes peers, grants and rules take in a message:
// its buffer grows once for them, not by doubling as thousands of records
// are appended one by one and again for each rule's source list (a
// gateway's share of a policy change is 12,250 records and lists of every
// sensor, megabytes, in a buffer too large for the pool: each growth was a
// copy and an allocation for the collector, 11 % of the coordinator's CPU
// over a 20,000-node policy change).
//
// The rules' source deltas (wire.SrcDelta) count too: they were left out,
// so a message with a large one outgrew its buffer; with the binary block
// appended last, that growth is a second buffer of the whole message and
// a copy (appendMsg adds a margin for the rest of the estimate).
func partsLen(peers, grants []encPeer, rules []filter.Rule, srcFrom []int, deltas []ruleDelta, src *srcCache) int {
	n := 64 // keys and brackets
	for _, p := range peers {
		n += len(p.enc) + 1
	}
	for _, g := range grants {
		n += len(g.enc) + len(`{"id":,"grants":},`) + 20
	}
	for i, r := range rules {
		n += 128 // destinations, protocols, keys
		if r.Src != nil && (srcFrom == nil || srcFrom[i] < 0) {
			n += len(src.json(src.info(r.Src), r.Src))
		}
	}
	for _, d := range deltas {
		n += len(d.enc) + len(`{"rule":,},`) + 20
	}
	return n + 8*len(srcFrom)
}

// appendRule appends r's JSON, its source list from the cache.
func appendRule(b []byte, r filter.Rule, src *srcCache) []byte {
	b = append(b, `{"src":`...)
	if r.Src == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, src.json(src.info(r.Src), r.Src)...)
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
