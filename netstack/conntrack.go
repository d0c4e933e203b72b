package netstack

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Flow lifetimes without traffic.
const (
	tcpOpeningTimeout     = time.Minute
	tcpEstablishedTimeout = 2 * time.Hour
	tcpClosingTimeout     = 30 * time.Second
	udpTimeout            = 2 * time.Minute
	icmpTimeout           = 30 * time.Second
	// touchGranularity is how stale lastSeen may get before a packet
	// rewrites it; it keeps the hot path from writing a shared cache line
	// for every packet.
	touchGranularity = int64(time.Second / 4)
	// conntrackShards is the number of independently locked shards.
	conntrackShards = 64
)

// origin says which side opened a flow.
type origin uint8

const (
	fromLocal  origin = iota + 1 // this node opened it (Read side)
	fromRemote                   // a peer opened it (Write side)
)

// Flow states.
const (
	stateOpening     uint32 = iota // only the opener has sent
	stateEstablished               // both sides have sent
	stateClosing                   // a FIN or RST was seen
	stateRevoked                   // cut by a Filter change: drop both ways
)

// flowKey names a flow from this node's point of view.
type flowKey struct {
	local, remote         netip.Addr
	localPort, remotePort uint16
	proto                 uint8
}

// flow is one tracked flow. origin and proto never change; the rest is
// updated atomically by the packet path.
type flow struct {
	origin origin
	proto  uint8
	// state is one of the state* constants.
	state atomic.Uint32
	// lastSeen is the table clock (nanoseconds) of the last packet.
	lastSeen atomic.Int64
	// gen is the filter generation this remote-opened flow was last
	// allowed under.
	gen atomic.Uint64
	// born is the table clock when the flow was inserted; never changes.
	born int64
	// counts are the flow-log counters.
	counts flowCounts
	// ended is set once a revoked flow has been handed to the stack to
	// end (guard.revokeDenied).
	ended atomic.Bool
}

// timeout is how long f lives without traffic.
func (f *flow) timeout() int64 {
	switch f.proto {
	case ProtoTCP:
		switch f.state.Load() {
		case stateOpening:
			return int64(tcpOpeningTimeout)
		case stateEstablished:
			return int64(tcpEstablishedTimeout)
		default:
			return int64(tcpClosingTimeout)
		}
	case ProtoUDP:
		return int64(udpTimeout)
	default:
		return int64(icmpTimeout)
	}
}

func (f *flow) expired(now int64) bool {
	return now-f.lastSeen.Load() > f.timeout()
}

// touch records a packet at time now.
func (f *flow) touch(now int64) {
	if now-f.lastSeen.Load() > touchGranularity {
		f.lastSeen.Store(now)
	}
}

// observe updates f's state for packet p, sent by the opener when
// fromOpener is set.
func (f *flow) observe(p *packet, fromOpener bool, now int64) {
	f.touch(now)
	st := f.state.Load()
	if st == stateRevoked || st == stateClosing {
		return
	}
	if p.proto == ProtoTCP && p.tcpFlags&(tcpFIN|tcpRST) != 0 {
		f.state.CompareAndSwap(st, stateClosing)
		return
	}
	if st == stateOpening && !fromOpener {
		f.state.CompareAndSwap(stateOpening, stateEstablished)
	}
}

// conntrack is a bounded, sharded flow table. Lookups take one shard's read
// lock; inserts take its write lock.
type conntrack struct {
	epoch    time.Time
	perShard int
	evicted  atomic.Uint64
	shards   [conntrackShards]ctShard
}

type ctShard struct {
	// mu guards flows.
	mu    sync.RWMutex
	flows map[flowKey]*flow
}

func newConntrack(maxFlows int) *conntrack {
	ct := &conntrack{epoch: time.Now(), perShard: max(maxFlows/conntrackShards, 1)}
	for i := range ct.shards {
		ct.shards[i].flows = make(map[flowKey]*flow)
	}
	return ct
}

// now is the table clock: monotonic nanoseconds since the table was made.
func (ct *conntrack) now() int64 {
	return int64(time.Since(ct.epoch))
}

func (ct *conntrack) shard(k *flowKey) *ctShard {
	r := k.remote.As16()
	h := uint32(k.localPort)*31 + uint32(k.remotePort)*17 + uint32(k.proto)
	h += uint32(r[12])<<24 | uint32(r[13])<<16 | uint32(r[14])<<8 | uint32(r[15])
	h ^= h >> 16
	h *= 0x45d9f3b
	h ^= h >> 16
	return &ct.shards[h%conntrackShards]
}

// lookup returns the live flow for k, or nil.
func (ct *conntrack) lookup(k *flowKey, now int64) *flow {
	sh := ct.shard(k)
	sh.mu.RLock()
	f := sh.flows[*k]
	sh.mu.RUnlock()
	if f == nil || f.expired(now) {
		return nil
	}
	return f
}

// insert tracks a new flow for k and returns it. It replaces an expired or
// closing flow; if another live flow raced in first, that one is returned.
func (ct *conntrack) insert(k *flowKey, o origin, gen uint64, now int64) *flow {
	sh := ct.shard(k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if f := sh.flows[*k]; f != nil && !f.expired(now) && f.state.Load() != stateClosing {
		return f
	}
	if len(sh.flows) >= ct.perShard {
		ct.makeRoomLocked(sh, now)
	}
	f := &flow{origin: o, proto: k.proto, born: now}
	f.lastSeen.Store(now)
	f.gen.Store(gen)
	sh.flows[*k] = f
	return f
}

// makeRoomLocked removes expired flows from sh, and if none had expired,
// the least recently seen one. sh.mu must be held.
func (ct *conntrack) makeRoomLocked(sh *ctShard, now int64) {
	if sweepLocked(sh, now) > 0 {
		return
	}
	var oldestKey flowKey
	oldest := int64(1<<63 - 1)
	for k, f := range sh.flows {
		if t := f.lastSeen.Load(); t < oldest {
			oldest, oldestKey = t, k
		}
	}
	delete(sh.flows, oldestKey)
	ct.evicted.Add(1)
}

// sweepLocked deletes expired flows from sh and returns how many.
func sweepLocked(sh *ctShard, now int64) int {
	n := 0
	for k, f := range sh.flows {
		if f.expired(now) {
			delete(sh.flows, k)
			n++
		}
	}
	return n
}

// sweep deletes expired flows from every shard.
func (ct *conntrack) sweep() {
	now := ct.now()
	for i := range ct.shards {
		sh := &ct.shards[i]
		sh.mu.Lock()
		sweepLocked(sh, now)
		sh.mu.Unlock()
	}
}

// len returns the number of flows in the table, expired ones included.
func (ct *conntrack) len() int {
	n := 0
	for i := range ct.shards {
		sh := &ct.shards[i]
		sh.mu.RLock()
		n += len(sh.flows)
		sh.mu.RUnlock()
	}
	return n
}

// each calls fn for every flow in the table, expired ones included, with
// the flow's shard read-locked: fn must not touch the table.
func (ct *conntrack) each(fn func(k *flowKey, f *flow)) {
	for i := range ct.shards {
		sh := &ct.shards[i]
		sh.mu.RLock()
		for k, f := range sh.flows {
			fn(&k, f)
		}
		sh.mu.RUnlock()
	}
}
