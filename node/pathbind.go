package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/stun/v3"
	"golang.zx2c4.com/wireguard/conn"

	"github.com/wardnet/ward/disco"
	"github.com/wardnet/ward/netcheck"
	"github.com/wardnet/ward/netstack"
	"github.com/wardnet/ward/relay"
	"github.com/wardnet/ward/wire"
)

// peerEndpointPrefix starts the UAPI form of a peer endpoint:
// "peer:<hex WireGuard key>".
const peerEndpointPrefix = "peer:"

// Path timings (see DESIGN.md, "Paths").
const (
	// freshFor is how long a direct path counts as working after its
	// last pong (a ping of ours answered from that address: packets from
	// it only show the peer's half works): past it, packets go over the
	// relay as well, so a dead direct path, or one that lost our half,
	// costs at most this much.
	freshFor = 2 * time.Second
	// trustPingEvery: a packet sent over a fresh direct path whose last
	// pong is this old carries a ping along, so a path carrying traffic
	// stays fresh at about one ping a second (an idle one pings nothing).
	trustPingEvery = time.Second
	// probeAfter: an active direct path (traffic either way within
	// activeFor) that nothing came from for this long gets a ping at once
	// (from the send or the tick); a ping to it that nothing answers (no
	// pong, no packet) within pongGrace makes it suspect, and a suspect
	// path gets the relay copy too. A TCP flow whose path died
	// retransmits after 0.2, 0.6, 1.4 and 3 s: the copy must be on the
	// relay (and the relay connection checked) by the 1.4 s one.
	probeAfter = 500 * time.Millisecond
	// pongGraceMin is the least pongGrace (three round trips).
	pongGraceMin = 250 * time.Millisecond
	// activeFor: a direct path WireGuard packets came from, or packets
	// went to, within this long is active (probing runs only then, and
	// the data check only while packets go to it).
	activeFor = time.Second
	// dataSilence: a direct path packets have gone to for this long
	// without one WireGuard packet coming back, while pongs still do,
	// has failed (something passes disco but drops WireGuard: an on-path
	// dropper). WireGuard's passive keepalive answers received data within
	// 10 s, so a one-way flow never gets there.
	dataSilence = 12 * time.Second
	// failedFor is how long a direct path that failed the data check is
	// not taken again (doubling for each failure of the same address up
	// to failedForMax; a change of the node's own addresses clears it).
	failedFor    = 30 * time.Second
	failedForMax = 8 * time.Minute
	// deadPings is how many pings a direct path may leave unanswered
	// (one per pingEvery while packets go to it) before it is dropped and
	// the pair is on the relay alone.
	deadPings = 6
	// pingEvery is the least time between two pings to one address, and
	// replyPingEvery between two pings answering the peer's pings (which
	// the peer paces).
	pingEvery      = 500 * time.Millisecond
	replyPingEvery = 50 * time.Millisecond
	// discoverMin and discoverMax bound the wait between two discovery
	// rounds (call-me-maybe over the relay and pings to every candidate)
	// for a pair without a working direct path; it doubles each round
	// and starts over at discoverMin when either side's addresses change.
	discoverMin = time.Second
	discoverMax = 16 * time.Second
	// pingLife is how long a ping waits for its pong.
	pingLife = 5 * time.Second
	// learnedLife is how long an address learned from a ping or a
	// call-me-maybe stays a candidate.
	learnedLife = 2 * time.Minute
	// maxLearned bounds one peer's learned candidates.
	maxLearned = 32
	// pingReplayWindow is how long a ping's transaction id is remembered
	// (a captured ping replayed within it gets no pong), and maxSeenPings
	// bounds how many are, per peer (a peer pings at most a few addresses
	// every pingEvery).
	pingReplayWindow = 10 * time.Minute
	maxSeenPings     = 4096
	// betterRTT: a new direct path replaces a working one only when its
	// round trip is below this share of the current one's.
	betterRTT = 0.7
	// stunEvery is how often the node asks its STUN servers for its
	// reflexive address.
	stunEvery = 20 * time.Second
)

// errNoPath is a send to a peer without any path (no address, no relay).
var errNoPath = errors.New("send: no path to the peer")

// peerEndpoint is wireguard-go's endpoint for every peer as configured:
// the peer's key, so a Send names the peer and the pathBind picks the
// path. Relayed packets reach wireguard-go with it; UDP packets keep
// their source, so WireGuard's roaming (to the source of an authenticated
// packet) works as in stock WireGuard, and a Send to a source address a
// pong confirmed for a peer is routed as a Send to that peer (peerFor).
// Packets are never attributed to a peer by address on the way in: a key
// rotation or two sites announcing the same private address would send
// one peer's packets down another's path.
type peerEndpoint struct{ key wire.WGPublic }

func (peerEndpoint) ClearSrc()            {}
func (peerEndpoint) SrcToString() string  { return "" }
func (peerEndpoint) DstIP() netip.Addr    { return netip.Addr{} }
func (peerEndpoint) SrcIP() netip.Addr    { return netip.Addr{} }
func (e peerEndpoint) DstToBytes() []byte { return e.key[:] }
func (e peerEndpoint) DstToString() string {
	return peerEndpointPrefix + hex.EncodeToString(e.key[:])
}

// parsePeerEndpoint parses "peer:<hex key>".
func parsePeerEndpoint(s string) (peerEndpoint, bool) {
	h, ok := strings.CutPrefix(s, peerEndpointPrefix)
	if !ok {
		return peerEndpoint{}, false
	}
	k, err := parseHexKey(h)
	return peerEndpoint{key: k}, err == nil
}

// peerPath is what the pathBind knows about the paths to one peer.
type peerPath struct {
	key    wire.WGPublic
	id     wire.NodeID
	shared disco.Key
	// mapEPs are the peer's endpoints from the map; home is the relay it
	// listens on ("": the node's own home).
	mapEPs []netip.AddrPort
	home   string
	// learned are addresses a ping or a call-me-maybe gave, with when.
	learned map[netip.AddrPort]time.Time
	// best is the working direct path (zero: none), rtt its round trip
	// at the last pong, heard when anything (pong or WireGuard packet)
	// last came from it, ponged when a pong last did, dataIn when a
	// WireGuard packet last did.
	best   netip.AddrPort
	rtt    time.Duration
	heard  time.Time
	ponged time.Time
	dataIn time.Time
	// lastOut is when a packet last went to the peer; outSinceHeard and
	// outSinceData when the first one went after heard and after dataIn;
	// probeAt when the first ping went to best after heard.
	lastOut       time.Time
	outSinceHeard time.Time
	outSinceData  time.Time
	probeAt       time.Time
	// relayedIn is when a WireGuard packet from the peer last came over
	// the relay (the peer does not trust the direct path either).
	relayedIn time.Time
	// failed are addresses that failed the data check, until when and
	// for how long the last time.
	failed map[netip.AddrPort]failure
	// pinged is when each address was last pinged.
	pinged map[netip.AddrPort]time.Time
	// nextDiscovery and discoverWait schedule discovery rounds.
	nextDiscovery time.Time
	discoverWait  time.Duration
	// eps caches conn endpoints per address (Send allocates none).
	eps map[netip.AddrPort]conn.Endpoint
	// unanswered counts pings to best since its last pong; at deadPings
	// the path is dropped, and lost keeps it as the UDP destination for
	// when there is no relay either.
	unanswered int
	lost       netip.AddrPort
	// silenceNoted is set once the direct path's silence was acted on
	// (STUN asked, relay checked); a pong from the path clears it.
	silenceNoted bool
	// seenPings are the transaction ids of the peer's pings taken
	// recently (replay protection).
	seenPings map[disco.TxID]time.Time
	// lastRelayed is when a packet last went over the relay, lastCMM
	// when the peer's last call-me-maybe was taken.
	lastRelayed time.Time
	lastCMM     time.Time
	// bday is the peer's birthday probing state (birthday.go).
	bday birthday
	// leads is set when this node leads the pair (see handshake.go);
	// init is then its unanswered handshake initiation (crossing.go).
	// answered is when this node last answered the peer's initiation.
	// yield is set once an initiation of the leader's went unanswered,
	// until one is answered: the leader then drops no initiation.
	// won is when the peer last answered one of the leader's
	// initiations: for crossResendEvery after, the peer's initiations are
	// late copies of one that crossed it (sent over UDP and the relay at
	// once), which the leader drops too.
	leads    bool
	init     *leaderInit
	answered time.Time
	yield    bool
	won      time.Time
}

// failure is a direct path's failure of the data check.
type failure struct {
	until time.Time
	wait  time.Duration
}

// pongGrace is how long a ping to p's direct path may go unanswered
// before the path is suspect.
func (p *peerPath) pongGrace() time.Duration { return max(pongGraceMin, 3*p.rtt) }

// suspect reports whether p's direct path looks dead although its last
// pong is recent: a ping sent after the last packet heard from it has
// had nothing back for pongGrace, or the peer sent over the relay after
// the path had been silent for probeAfter (its side sees the path fail).
func (p *peerPath) suspect(now time.Time) bool {
	return p.probeAt.After(p.heard) && now.Sub(p.probeAt) >= p.pongGrace() ||
		p.relayedIn.Sub(p.heard) >= probeAfter
}

// fresh reports whether p has a working direct path: a pong within
// freshFor and not suspect. Packets go to a fresh path alone.
func (p *peerPath) fresh(now time.Time) bool {
	return p.best.IsValid() && now.Sub(p.ponged) < freshFor && !p.suspect(now)
}

// active reports whether p's direct path carries traffic: packets went
// to p within activeFor (the first of them after the last thing heard
// from the path), or WireGuard packets came from it within activeFor
// (a node that only receives must find out too: its relay connection
// may have died with the path, and the peer's relay copies need it).
func (p *peerPath) active(now time.Time) bool {
	return now.Sub(p.lastOut) < activeFor && p.outSinceHeard.After(p.heard) || now.Sub(p.dataIn) < activeFor
}

// pingSent is a ping waiting for its pong.
type pingSent struct {
	peer wire.WGPublic
	to   netip.AddrPort
	at   time.Time
}

// stunSent is a STUN request waiting for its answer.
type stunSent struct {
	server netip.AddrPort
	at     time.Time
}

// pathCounters count bytes per path (read by Status and metrics).
type pathCounters struct {
	directTx, directRx, relayTx, relayRx atomic.Uint64
}

// pathBind is wireguard-go's bind. It wraps the UDP bind and the relay
// link and decides, per packet, where a peer's packets go: to the peer's
// direct path while it works, over the relay (and to the direct path or
// the first map endpoint) while none works; it finds direct paths with
// disco pings and call-me-maybes, learns its own reflexive address over
// STUN on the WireGuard socket, and keeps disco and STUN packets from
// wireguard-go. The first packet to a peer never waits for any of this.
type pathBind struct {
	udp   conn.Bind
	relay *relayLink // nil: no relay
	log   *slog.Logger
	// onReflexive is called (on its own goroutine) when the reflexive
	// address changes.
	onReflexive func(netip.AddrPort)
	counters    pathCounters
	// wake tells the Engine's path loop to tick now (a send scheduled
	// something sooner than its next tick: a probe's deadline).
	wake chan struct{}
	// dataSilence is the data check's limit (dataSilence; tests shorten
	// it before the bind is used).
	dataSilence time.Duration
	// out and in are the netstack's gates on the packets wireguard-go
	// holds (netstack.Stack.InFlight; nil: none), set before the device
	// opens the bind: Send lets packets out of out; receiveUDP waits on
	// in and counts the data packets it hands wireguard-go into it.
	out, in *netstack.Gate

	mu sync.Mutex // mu guards the fields below
	// own holds the sender indices of the handshakes this node sent, each
	// until it can no longer name a session (sessionindex.go): only data
	// to one of them is counted into the inbound gate. ownPruned is when
	// own was last pruned.
	own       map[uint32]time.Time
	ownPruned time.Time
	// priv and pub are the node's WireGuard keys (disco seals with them).
	priv wire.WGPrivate
	pub  wire.WGPublic
	// peers are the configured peers; confirmed maps each address a pong
	// confirmed to its peer (only confirmed ones: two sites may announce
	// the same private address).
	peers     map[wire.WGPublic]*peerPath
	confirmed map[netip.AddrPort]wire.WGPublic
	// replaced maps a peer's old key to the key that replaced it (a key
	// rotation): wireguard-go may still hold an endpoint naming the old
	// one, from a packet relayed under it.
	replaced map[wire.WGPublic]wire.WGPublic
	// candidateOf maps each peer's candidate addresses (map endpoints and
	// learned ones) to it; an address two peers share maps to the zero
	// key (nobody's).
	candidateOf map[netip.AddrPort]wire.WGPublic
	// noBatch holds the addresses whose batches the kernel refused as
	// too large (see sendUDP).
	noBatch map[netip.AddrPort]bool
	pings   map[disco.TxID]pingSent
	// self are the node's own candidates (map endpoints), reflexive its
	// STUN-learned address.
	self      []netip.AddrPort
	reflexive netip.AddrPort
	// stunServers and stunTx: the servers asked and the requests out.
	stunServers []netip.AddrPort
	stunTx      map[[stun.TransactionIDSize]byte]stunSent
	nextSTUN    time.Time
	// stunRTT is each server's last round trip.
	stunRTT map[netip.AddrPort]time.Duration
	// nat is the node's NAT class and the answers it comes from.
	nat natState
	// bday is the birthday probing's state (birthday.go).
	bday bindBirthday
	// closed is closed by Close, ending the relay ReceiveFunc.
	closed chan struct{}
}

func newPathBind(udp conn.Bind, relay *relayLink, priv wire.WGPrivate, log *slog.Logger) *pathBind {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &pathBind{udp: udp, relay: relay, log: log, wake: make(chan struct{}, 1), dataSilence: dataSilence, peers: map[wire.WGPublic]*peerPath{},
		confirmed: map[netip.AddrPort]wire.WGPublic{}, replaced: map[wire.WGPublic]wire.WGPublic{}, noBatch: map[netip.AddrPort]bool{}, candidateOf: map[netip.AddrPort]wire.WGPublic{}, pings: map[disco.TxID]pingSent{},
		stunTx: map[[stun.TransactionIDSize]byte]stunSent{}, stunRTT: map[netip.AddrPort]time.Duration{}}
	b.bday.in = make(chan hardPacket, hardQueue)
	b.setPrivateKey(priv)
	return b
}

// setPrivateKey changes the node's key: every peer's disco key with it.
func (b *pathBind) setPrivateKey(priv wire.WGPrivate) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.priv, b.pub = priv, priv.Public()
	for k, p := range b.peers {
		p.shared, _ = disco.SharedKey(priv, k)
		p.init = nil
	}
}

// peerRoute is what the map says about reaching a peer: its node, its
// endpoints and its home relay.
type peerRoute struct {
	id   wire.NodeID
	eps  []netip.AddrPort
	home string
	// leads is set when this node leads the pair (see handshake.go).
	leads bool
}

// setPeers takes the configured peers and their map routes. A peer whose
// endpoints changed starts discovery over.
func (b *pathBind) setPeers(routes map[wire.WGPublic]peerRoute) {
	b.mu.Lock()
	defer b.mu.Unlock()
	byID := make(map[wire.NodeID]wire.WGPublic, len(routes))
	for k, r := range routes {
		byID[r.id] = k
	}
	if len(b.replaced) > 2*len(routes)+64 {
		clear(b.replaced)
	}
	for k, p := range b.peers {
		if _, ok := routes[k]; !ok {
			delete(b.peers, k)
			b.forgetAddrsLocked(p)
			b.dropBirthdayLocked(p)
			if next, ok := byID[p.id]; ok && p.id != 0 {
				b.replaced[k] = next
			}
		}
	}
	for k, r := range routes {
		m := r.eps
		p, ok := b.peers[k]
		if !ok {
			p = &peerPath{key: k, learned: map[netip.AddrPort]time.Time{}, pinged: map[netip.AddrPort]time.Time{},
				eps: map[netip.AddrPort]conn.Endpoint{}, seenPings: map[disco.TxID]time.Time{}, failed: map[netip.AddrPort]failure{}}
			p.shared, _ = disco.SharedKey(b.priv, k)
			b.peers[k] = p
		}
		if !slices.Equal(p.mapEPs, m) {
			p.mapEPs = append([]netip.AddrPort(nil), m...)
			p.nextDiscovery, p.discoverWait = time.Time{}, 0
			b.birthdayMapLocked(p, time.Now())
		}
		p.home, p.id = r.home, r.id
		if p.leads != r.leads {
			p.leads, p.init = r.leads, nil
		}
	}
	b.indexCandidatesLocked()
}

// indexCandidatesLocked rebuilds candidateOf.
func (b *pathBind) indexCandidatesLocked() {
	clear(b.candidateOf)
	for k, p := range b.peers {
		for _, a := range p.mapEPs {
			b.addCandidateLocked(a, k)
		}
		for a := range p.learned {
			b.addCandidateLocked(a, k)
		}
	}
}

// addCandidateLocked records a as a candidate of k (of nobody when
// another peer has it too).
func (b *pathBind) addCandidateLocked(a netip.AddrPort, k wire.WGPublic) {
	if prev, ok := b.candidateOf[a]; ok && prev != k {
		k = wire.WGPublic{}
	}
	b.candidateOf[a] = k
}

// forgetAddrsLocked drops the address attributions to p.
func (b *pathBind) forgetAddrsLocked(p *peerPath) {
	for a, k := range b.confirmed {
		if k == p.key {
			delete(b.confirmed, a)
		}
	}
}

// setSelf takes the node's own endpoints as the map gives them; a change
// starts every peer's discovery over.
func (b *pathBind) setSelf(eps []netip.AddrPort) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if slices.Equal(b.self, eps) {
		return
	}
	b.self = append([]netip.AddrPort(nil), eps...)
	b.restartDiscoveryLocked()
}

// setSTUN takes the STUN servers to learn the reflexive address from.
func (b *pathBind) setSTUN(servers []netip.AddrPort) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !slices.Equal(b.stunServers, servers) {
		b.stunServers, b.nextSTUN = append([]netip.AddrPort(nil), servers...), time.Time{}
		clear(b.stunRTT)
	}
}

// restartDiscoveryLocked starts every peer's discovery over (the node's
// own addresses changed): failed direct paths may be taken again.
func (b *pathBind) restartDiscoveryLocked() {
	for _, p := range b.peers {
		p.nextDiscovery, p.discoverWait = time.Time{}, 0
		clear(p.failed)
	}
}

// Reflexive returns the address STUN last reported (zero: none yet).
func (b *pathBind) Reflexive() netip.AddrPort {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reflexive
}

// pathInfo is one peer's path as status shows it.
type pathInfo struct {
	// kind is "direct", "relay" or "none".
	kind string
	// addr is the direct path's address; rtt its last round trip.
	addr netip.AddrPort
	rtt  time.Duration
	// why says why a pair is not direct.
	why string
}

// path returns the current path to the peer with key k.
func (b *pathBind) path(k wire.WGPublic) pathInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.peers[k]
	now := time.Now()
	relayUp := b.relay != nil && b.relay.connected()
	switch {
	case !ok:
		return pathInfo{kind: "none"}
	case p.fresh(now):
		return pathInfo{kind: "direct", addr: p.best, rtt: p.rtt}
	case p.best.IsValid() && relayUp:
		return pathInfo{kind: "direct", addr: p.best, rtt: p.rtt, why: "direct path unconfirmed (no recent pong, or silent): probing it, the relay carries packets too"}
	case p.best.IsValid():
		return pathInfo{kind: "direct", addr: p.best, rtt: p.rtt, why: "idle"}
	case relayUp:
		return pathInfo{kind: "relay", why: b.whyRelayedLocked(p, now)}
	case p.lost.IsValid():
		return pathInfo{kind: "direct", addr: p.lost, why: "direct path lost and no relay"}
	case len(p.mapEPs) > 0:
		return pathInfo{kind: "direct", addr: p.mapEPs[0], why: "unconfirmed: no pong yet"}
	}
	return pathInfo{kind: "none", why: "no address and no relay"}
}

// whyRelayedLocked explains why p has no direct path.
func (b *pathBind) whyRelayedLocked(p *peerPath, now time.Time) string {
	switch {
	case len(p.mapEPs) == 0 && len(p.learned) == 0:
		return "the peer announced no UDP address"
	case len(p.pinged) == 0:
		return "no packet sent yet; probing starts with the first"
	case p.lost.IsValid() && p.failed[p.lost].until.After(now):
		return "the direct path passed pings but not WireGuard packets; not retried for a while"
	}
	if why := b.birthdayWhyLocked(p); why != "" {
		return why
	}
	return "no direct pong yet (NAT or firewall between the two)"
}

// Open opens the UDP bind and adds one ReceiveFunc for the packets that
// come another way: through the relay and the birthday probes' sockets.
// One, not one each: wireguard-go gives every ReceiveFunc a goroutine
// holding a batch of 64 KiB message buffers (128, 8 MiB, which the
// garbage collector counts though a one-packet ReceiveFunc writes only
// the first).
func (b *pathBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	fns, actual, err := b.udp.Open(port)
	if err != nil {
		return nil, 0, err
	}
	closed := make(chan struct{})
	b.mu.Lock()
	b.closed = closed
	b.nextSTUN = time.Time{}
	b.mu.Unlock()
	out := make([]conn.ReceiveFunc, 0, len(fns)+1)
	for _, fn := range fns {
		out = append(out, b.receiveUDP(fn))
	}
	out = append(out, b.receiveOther(closed))
	return out, actual, nil
}

// receiveUDP wraps fn: disco and STUN packets are handled here (their
// size set to 0, which wireguard-go skips); WireGuard packets from a
// peer's direct path mark it heard.
func (b *pathBind) receiveUDP(fn conn.ReceiveFunc) conn.ReceiveFunc {
	return func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		b.in.Wait(nil) // bounded: it gives up after the gate's stall time
		n, err := fn(packets, sizes, eps)
		if n == 0 {
			return n, err
		}
		now := time.Now()
		var rx uint64
		data := 0
		var out []outPacket
		var resend []crossResend
		wake := false
		b.mu.Lock()
		for i := range n {
			if sizes[i] == 0 {
				continue // a buffer the bind left empty
			}
			pkt := packets[i][:sizes[i]]
			switch {
			case disco.Is(pkt):
				out = b.handleDiscoLocked(pkt, addrOf(eps[i]), eps[i], now, out)
				sizes[i] = 0
			case stun.IsMessage(pkt):
				b.handleSTUNLocked(pkt, addrOf(eps[i]), now)
				sizes[i] = 0
			default:
				if messageType(pkt) != 0 {
					k := b.sourceLocked(eps[i])
					drop, again := b.crossedLocked(k, pkt, now)
					if again != nil {
						resend = append(resend, crossResend{to: k, pkt: again})
					}
					if drop {
						b.log.Debug("crossed initiation dropped", "peer", k.ShortString(), "via", "udp", "resend", again != nil)
						sizes[i] = 0
						continue
					}
				}
				rx += uint64(sizes[i])
				if b.ownSessionDataLocked(pkt, now) {
					data++ // wireguard-go hands it to the netstack's Write
				}
				wake = b.heardLocked(addrOf(eps[i]), now) || wake
			}
		}
		b.mu.Unlock()
		for _, r := range resend {
			b.resendInit(r.to, r.pkt)
		}
		if wake {
			b.wakeLoop()
		}
		b.counters.directRx.Add(rx)
		b.in.Enter(data)
		b.sendAll(out)
		return n, err
	}
}

// heardLocked notes a WireGuard packet from a: when a is a peer's direct
// path, the path is heard from and carries data. It reports whether the
// path's traffic starts with it, so the caller wakes the path loop to
// watch it.
func (b *pathBind) heardLocked(a netip.AddrPort, now time.Time) (wake bool) {
	if p := b.peers[b.confirmed[a]]; p != nil && p.best == a {
		wake = !p.active(now)
		p.heard, p.dataIn = now, now
	}
	return wake
}

// receiveOther returns a ReceiveFunc delivering one packet per call,
// relayed or from a birthday probe's socket (receiveHard), until closed is
// closed.
func (b *pathBind) receiveOther(closed chan struct{}) conn.ReceiveFunc {
	var relayIn chan relay.Frame // nil without a relay: never ready
	if b.relay != nil {
		relayIn = b.relay.in
	}
	return func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		for {
			select {
			case <-closed:
				return 0, net.ErrClosed
			case f := <-relayIn:
				if b.receiveRelayed(f, packets[0], sizes, eps) {
					return 1, nil
				}
			case h := <-b.bday.in:
				if b.receiveHard(h, packets[0], sizes, eps) {
					return 1, nil
				}
			}
		}
	}
}

// receiveRelayed copies a relayed WireGuard packet into buf (sizes[0],
// eps[0]) and reports whether it did; disco packets from the relay are
// handled here.
func (b *pathBind) receiveRelayed(f relay.Frame, buf []byte, sizes []int, eps []conn.Endpoint) bool {
	if disco.Is(f.Payload) {
		b.mu.Lock()
		out := b.handleDiscoLocked(f.Payload, netip.AddrPort{}, nil, time.Now(), nil)
		b.mu.Unlock()
		b.sendAll(out)
		return false
	}
	if len(f.Payload) > len(buf) {
		return false
	}
	now := time.Now()
	b.mu.Lock()
	drop, again := b.crossedLocked(f.Key, f.Payload, now)
	if p := b.peers[f.Key]; p != nil && !drop {
		p.relayedIn = now
	}
	b.mu.Unlock()
	if drop {
		b.log.Debug("crossed initiation dropped", "peer", f.Key.ShortString(), "via", "relay", "resend", again != nil)
	}
	if again != nil {
		b.resendInit(f.Key, again)
	}
	if drop {
		return false
	}
	sizes[0] = copy(buf, f.Payload)
	eps[0] = peerEndpoint{key: f.Key}
	b.counters.relayRx.Add(uint64(sizes[0]))
	return true
}

// Close closes the UDP bind and ends the relay ReceiveFunc; the relay
// connection stays (it belongs to the Engine).
func (b *pathBind) Close() error {
	b.mu.Lock()
	if b.closed != nil {
		close(b.closed)
		b.closed = nil
	}
	b.mu.Unlock()
	b.stopBirthday()
	return b.udp.Close()
}

// SetMark sets the UDP sockets' mark.
func (b *pathBind) SetMark(mark uint32) error { return b.udp.SetMark(mark) }

// BatchSize is the UDP bind's.
func (b *pathBind) BatchSize() int { return b.udp.BatchSize() }

// ParseEndpoint parses a peer endpoint or a UDP one.
func (b *pathBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	if e, ok := parsePeerEndpoint(s); ok {
		return e, nil
	}
	if strings.HasPrefix(s, peerEndpointPrefix) {
		return nil, fmt.Errorf("parse endpoint %q: bad key", s)
	}
	return b.udp.ParseEndpoint(s)
}

// outPacket is a packet the pathBind sends on its own (disco, STUN).
type outPacket struct {
	pkt []byte
	// to is the UDP destination; when not valid, viaRelay names the
	// peer to send to over the relay.
	to       conn.Endpoint
	viaRelay wire.WGPublic
	home     string // the peer's home relay
}

// sendAll sends out (after the lock is released).
func (b *pathBind) sendAll(out []outPacket) {
	for _, o := range out {
		if o.to != nil {
			b.sendUDP([][]byte{o.pkt}, o.to)
			continue
		}
		if b.relay != nil {
			b.relay.send(o.viaRelay, o.home, o.pkt)
		}
	}
}

// Send sends bufs to the peer ep names over the path plan picks; an
// endpoint that is no peer's (a handshake answer to an unknown address)
// is sent to as given, over UDP.
func (b *pathBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	b.out.Leave(len(bufs))
	b.noteOwnIndices(bufs, time.Now())
	key, ok := b.peerFor(ep)
	if !ok {
		now := time.Now()
		owner, home, relayCopy := b.unconfirmedFor(addrOf(ep), now)
		if owner != (wire.WGPublic{}) {
			b.noteSentHandshakes(owner, bufs, now)
		}
		if relayCopy {
			for _, buf := range bufs {
				b.relay.send(owner, home, buf)
			}
		}
		return b.sendUDP(bufs, ep)
	}
	pe := peerEndpoint{key: key}
	now := time.Now()
	b.noteSentHandshakes(key, bufs, now)
	udp, viaRelay, home, out := b.plan(pe.key, now)
	b.sendAll(out)
	var size uint64
	for _, buf := range bufs {
		size += uint64(len(buf))
	}
	var err error
	if udp != nil {
		err = b.sendUDP(bufs, udp)
		b.counters.directTx.Add(size)
	}
	if viaRelay {
		for _, buf := range bufs {
			b.relay.send(pe.key, home, buf)
		}
		b.counters.relayTx.Add(size)
		return nil // the relay copy may arrive where UDP failed
	}
	if udp == nil {
		return errNoPath
	}
	return err
}

// unconfirmedFor handles a send to an address no pong confirmed, for the
// peer that has a among its candidates when exactly one has: WireGuard
// roamed there (its packets came from there), so the packet goes there
// as WireGuard wants, and a ping to a (and a due discovery round) go out
// too; until a pong confirms a the packet goes over the relay as well
// (returned: the peer, its home relay and whether to), as to any path
// not known to work. An address no peer has is sent to as given (a
// handshake answer to an unknown address).
func (b *pathBind) unconfirmedFor(a netip.AddrPort, now time.Time) (wire.WGPublic, string, bool) {
	b.mu.Lock()
	owner := b.peers[b.candidateOf[a]]
	var out []outPacket
	relayUp := b.relay != nil && b.relay.connected()
	var key wire.WGPublic
	var home string
	if owner != nil {
		key, home = owner.key, owner.home
		out = b.pingLocked(owner, a, now, out)
		out = b.discoverDueLocked(owner, now, relayUp, out)
		if relayUp {
			owner.lastRelayed = now
		}
	}
	b.mu.Unlock()
	b.sendAll(out)
	return key, home, owner != nil && relayUp
}

// sendUDP sends bufs to ep over the UDP bind. A batch the kernel refuses
// as too large (UDP segmentation offload cannot split a datagram larger
// than the path's MTU, where plain sends are fragmented) goes again one
// datagram per send, and so does every later batch to that address.
func (b *pathBind) sendUDP(bufs [][]byte, ep conn.Endpoint) error {
	if se, ok := ep.(*sockEndpoint); ok {
		return b.sendSock(bufs, se)
	}
	if len(bufs) == 1 {
		return b.udp.Send(bufs, ep)
	}
	a := addrOf(ep)
	b.mu.Lock()
	single := b.noBatch[a]
	b.mu.Unlock()
	if !single {
		err := b.udp.Send(bufs, ep)
		if err == nil || !tooBigForBatch(err) {
			return err
		}
		b.mu.Lock()
		if len(b.noBatch) > 1024 {
			clear(b.noBatch)
		}
		b.noBatch[a] = true
		b.mu.Unlock()
		b.log.Info("batched UDP sends refused as too large; sending one datagram at a time", "to", a, "err", err)
	}
	var first error
	for _, buf := range bufs {
		if err := b.udp.Send([][]byte{buf}, ep); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// peerFor returns the configured peer a Send to ep is for: a peer
// endpoint's key (or the key that replaced it, after a rotation), or the
// peer a pong confirmed a UDP address for. A UDP address nobody
// confirmed is no peer's: the packet goes there as given.
func (b *pathBind) peerFor(ep conn.Endpoint) (wire.WGPublic, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var k wire.WGPublic
	if pe, ok := ep.(peerEndpoint); ok {
		k = pe.key
	} else if k, ok = b.confirmed[addrOf(ep)]; !ok {
		return wire.WGPublic{}, false
	}
	if _, ok := b.peers[k]; ok {
		return k, true
	}
	if next, ok := b.replaced[k]; ok {
		if _, ok := b.peers[next]; ok {
			return next, true
		}
	}
	if _, ok := ep.(peerEndpoint); ok {
		return k, true // plan finds no path: errNoPath
	}
	return wire.WGPublic{}, false
}

// plan picks the paths for a packet to peer k at now: the UDP endpoint
// (nil: none) and whether the relay carries it too (to the peer's home
// relay, returned), plus disco and STUN packets to send first.
func (b *pathBind) plan(k wire.WGPublic, now time.Time) (conn.Endpoint, bool, string, []outPacket) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.stunDueLocked(now, nil)
	p, ok := b.peers[k]
	if !ok {
		return nil, false, "", out
	}
	relayUp := b.relay != nil && b.relay.connected()
	if p.best.IsValid() && !p.active(now) {
		b.wakeLoop() // traffic starts: the path loop watches it
	}
	p.noteSentLocked(now)
	b.dropFailedLocked(p, now)
	var udp netip.AddrPort
	viaRelay := false
	fresh := p.fresh(now)
	switch {
	case fresh:
		udp = p.best
		if now.Sub(p.ponged) >= trustPingEvery || p.active(now) && now.Sub(p.heard) >= probeAfter {
			out = b.probeLocked(p, now, out)
		}
	case p.best.IsValid():
		udp, viaRelay = p.best, relayUp
		out = b.probeLocked(p, now, out)
		if p.suspect(now) || now.Sub(p.heard) >= freshFor || p.unanswered >= 2 {
			// Not just a pong too old on a path packets still come from
			// (a keepalive after a while of only receiving).
			out = b.noteSilenceLocked(p, now, out)
		}
	case !relayUp:
		udp = p.lost
		if !udp.IsValid() && len(p.mapEPs) > 0 {
			udp = p.mapEPs[0]
		}
		// While the relay connection is dialled, the relay link holds
		// the packet for it (the first handshake of a starting node).
		viaRelay = b.relay != nil
	default:
		// Starting out: the relay, and the first map endpoint as well
		// for the first rounds (on a LAN it answers first).
		viaRelay = true
		if len(p.mapEPs) > 0 && p.discoverWait <= 2*discoverMin {
			udp = p.mapEPs[0]
		}
	}
	if !fresh {
		out = b.discoverDueLocked(p, now, relayUp, out)
	}
	if viaRelay {
		p.lastRelayed = now
	}
	if !udp.IsValid() {
		return nil, viaRelay, p.home, out
	}
	return p.endpoint(udp), viaRelay, p.home, out
}

// noteSentLocked records that a packet goes to p at now.
func (p *peerPath) noteSentLocked(now time.Time) {
	p.lastOut = now
	if !p.outSinceHeard.After(p.heard) {
		p.outSinceHeard = now
	}
	if !p.outSinceData.After(p.dataIn) {
		p.outSinceData = now
	}
}

// dropFailedLocked drops p's direct path when it is dead: deadPings pings
// unanswered, or the data check failed (WireGuard packets went to it for
// the bind's dataSilence and none came back while pongs did). An
// address that failed the data check is not taken again for a while.
func (b *pathBind) dropFailedLocked(p *peerPath, now time.Time) {
	if !p.best.IsValid() {
		return
	}
	dataDead := now.Sub(p.lastOut) < activeFor && p.outSinceData.After(p.dataIn) &&
		now.Sub(p.outSinceData) >= b.dataSilence && now.Sub(p.ponged) < freshFor
	switch {
	case dataDead:
		f := p.failed[p.best]
		f.wait = min(max(2*f.wait, failedFor), failedForMax)
		f.until = now.Add(f.wait)
		p.failed[p.best] = f
		b.log.Warn("direct path passes pings but no WireGuard packets: back to the relay", "peer", p.key.ShortString(),
			"addr", p.best, "no_data_for", now.Sub(p.outSinceData).Round(time.Millisecond), "retry_in", f.wait)
	case p.unanswered >= deadPings:
		b.log.Info("direct path lost", "peer", p.key.ShortString(), "addr", p.best, "silent", now.Sub(p.heard).Round(time.Millisecond))
	default:
		return
	}
	p.lost, p.best, p.nextDiscovery, p.discoverWait = p.best, netip.AddrPort{}, time.Time{}, 0
}

// probeLocked pings p's direct path; the first ping after the path was
// last heard starts pongGrace, and the Engine's path loop is woken to
// act when it ends.
func (b *pathBind) probeLocked(p *peerPath, now time.Time, out []outPacket) []outPacket {
	out = b.pingLocked(p, p.best, now, out)
	if at := p.pinged[p.best]; at.After(p.heard) && !p.probeAt.After(p.heard) {
		p.probeAt = at
		b.wakeLoop()
	}
	return out
}

// wakeLoop has the Engine's path loop tick now (it sleeps up to pathTick
// otherwise): a path's traffic started, or a probe's grace started.
func (b *pathBind) wakeLoop() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// noteSilenceLocked acts once on p's direct path no longer being fresh:
// the node's own address may have changed (ask STUN now) and the relay
// is about to carry the packets (check its connections now).
func (b *pathBind) noteSilenceLocked(p *peerPath, now time.Time, out []outPacket) []outPacket {
	if p.silenceNoted {
		return out
	}
	p.silenceNoted = true
	b.nextSTUN = time.Time{}
	out = b.stunDueLocked(now, out)
	if b.relay != nil {
		go b.relay.check()
	}
	return out
}

// endpoint returns the cached UDP endpoint for a.
func (p *peerPath) endpoint(a netip.AddrPort) conn.Endpoint {
	if ep := p.keptEndpoint(a); ep != nil {
		return ep // birthday probing's winning socket
	}
	ep, ok := p.eps[a]
	if !ok {
		if len(p.eps) > 2*maxLearned {
			clear(p.eps)
		}
		ep = &conn.StdNetEndpoint{AddrPort: a}
		p.eps[a] = ep
	}
	return ep
}

// discoverDueLocked runs a discovery round for p when one is due: a
// call-me-maybe over the relay with the node's candidates, and a ping to
// each of p's candidates.
func (b *pathBind) discoverDueLocked(p *peerPath, now time.Time, relayUp bool, out []outPacket) []outPacket {
	if now.Before(p.nextDiscovery) {
		return out
	}
	p.discoverWait = min(max(2*p.discoverWait, discoverMin), discoverMax)
	p.nextDiscovery = now.Add(p.discoverWait)
	if relayUp {
		if pkt, err := disco.Seal(p.shared, b.pub, disco.Message{Type: disco.TypeCallMeMaybe, Endpoints: b.candidatesLocked()}); err == nil {
			out = append(out, outPacket{pkt: pkt, viaRelay: p.key, home: p.home})
		}
	}
	out = b.birthdayRoundLocked(p, now, relayUp, out)
	for _, a := range b.peerCandidatesLocked(p, now) {
		out = b.pingLocked(p, a, now, out)
	}
	return out
}

// candidatesLocked returns the node's own candidates for a call-me-maybe.
func (b *pathBind) candidatesLocked() []netip.AddrPort {
	out := make([]netip.AddrPort, 0, len(b.self)+1)
	if b.reflexive.IsValid() {
		out = append(out, b.reflexive)
	}
	for _, a := range b.self {
		if a != b.reflexive && len(out) < disco.MaxEndpoints {
			out = append(out, a)
		}
	}
	return out
}

// peerCandidatesLocked returns p's candidates: map endpoints and
// unexpired learned ones (expired ones are dropped).
func (b *pathBind) peerCandidatesLocked(p *peerPath, now time.Time) []netip.AddrPort {
	out := append([]netip.AddrPort(nil), p.mapEPs...)
	for a, at := range p.learned {
		if now.Sub(at) > learnedLife {
			delete(p.learned, a)
			if b.candidateOf[a] == p.key && !slices.Contains(p.mapEPs, a) {
				delete(b.candidateOf, a)
			}
			continue
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// pingLocked pings p at a unless a was pinged within pingEvery.
func (b *pathBind) pingLocked(p *peerPath, a netip.AddrPort, now time.Time, out []outPacket) []outPacket {
	return b.pingEveryLocked(p, a, now, pingEvery, out)
}

// pingEveryLocked pings p at a unless a was pinged within every.
func (b *pathBind) pingEveryLocked(p *peerPath, a netip.AddrPort, now time.Time, every time.Duration, out []outPacket) []outPacket {
	if !a.IsValid() || now.Sub(p.pinged[a]) < every {
		return out
	}
	tx := disco.NewTxID()
	pkt, err := disco.Seal(p.shared, b.pub, disco.Message{Type: disco.TypePing, TxID: tx})
	if err != nil {
		return out
	}
	if len(p.pinged) > 2*maxLearned {
		clear(p.pinged)
	}
	p.pinged[a] = now
	if a == p.best {
		p.unanswered++
	}
	b.expirePingsLocked(now)
	b.pings[tx] = pingSent{peer: p.key, to: a, at: now}
	return append(out, outPacket{pkt: pkt, to: p.endpoint(a)})
}

// expirePingsLocked drops pings past pingLife once they pile up.
func (b *pathBind) expirePingsLocked(now time.Time) {
	if len(b.pings) < 256 {
		return
	}
	for tx, s := range b.pings {
		if now.Sub(s.at) > pingLife {
			delete(b.pings, tx)
		}
	}
}

// handleDiscoLocked handles a disco packet that came over UDP from src
// (with the receive endpoint ep) or, when src is not valid, over the
// relay. Packets from anyone but a configured peer, or that fail to
// open, are dropped.
func (b *pathBind) handleDiscoLocked(pkt []byte, src netip.AddrPort, ep conn.Endpoint, now time.Time, out []outPacket) []outPacket {
	from, err := disco.Sender(pkt)
	if err != nil {
		return out
	}
	p, ok := b.peers[from]
	if !ok {
		return out
	}
	m, err := disco.Open(p.shared, pkt)
	if err != nil {
		return out
	}
	switch m.Type {
	case disco.TypePing:
		if !src.IsValid() || b.seenPingLocked(p, m.TxID, now) {
			return out // pings probe UDP paths only; a replayed one gets nothing
		}
		b.learnLocked(p, src, now)
		if pong, err := disco.Seal(p.shared, b.pub, disco.Message{Type: disco.TypePong, TxID: m.TxID, Src: src}); err == nil {
			out = append(out, outPacket{pkt: pong, to: ep})
		}
		if src != p.best || !p.fresh(now) {
			// Answer a ping with a ping at once, even if this address was
			// pinged moments ago: that ping likely died at the peer's NAT,
			// which this ping from the peer has just opened.
			out = b.pingEveryLocked(p, src, now, replyPingEvery, out)
		}
	case disco.TypePong:
		s, ok := b.pings[m.TxID]
		if !ok || s.peer != from || s.to != src || !src.IsValid() {
			return out
		}
		delete(b.pings, m.TxID)
		b.confirmLocked(p, src, now.Sub(s.at), now)
	case disco.TypeCallMeMaybe:
		// At most one a second per peer: a peer cannot make the node
		// ping addresses of its choosing faster than that.
		if now.Sub(p.lastCMM) < discoverMin {
			return out
		}
		p.lastCMM = now
		for _, a := range m.Endpoints {
			if a.IsValid() && a.Port() != 0 {
				b.learnLocked(p, a, now)
			}
		}
		if !p.fresh(now) {
			for _, a := range b.peerCandidatesLocked(p, now) {
				out = b.pingLocked(p, a, now, out)
			}
		}
	case disco.TypeNAT:
		b.takeNATLocked(p, m, src, now)
	}
	return out
}

// learnLocked records a as a candidate of p.
func (b *pathBind) learnLocked(p *peerPath, a netip.AddrPort, now time.Time) {
	if !probeable(a) {
		return
	}
	if _, ok := p.learned[a]; !ok && len(p.learned) >= maxLearned {
		return
	}
	p.learned[a] = now
	b.addCandidateLocked(a, p.key)
}

// probeable reports whether a may be learned as a candidate: a unicast
// address with a port (a peer cannot make the node ping a broadcast,
// multicast, unspecified or zone-bound link-local address).
func probeable(a netip.AddrPort) bool {
	ip := a.Addr()
	return a.IsValid() && a.Port() != 0 && !ip.IsUnspecified() && !ip.IsMulticast() &&
		!ip.IsLinkLocalUnicast() && !ip.IsLinkLocalMulticast() && ip != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// seenPingLocked reports whether p's ping with transaction tx was taken
// within pingReplayWindow (a replayed capture), and records it.
func (b *pathBind) seenPingLocked(p *peerPath, tx disco.TxID, now time.Time) bool {
	if at, ok := p.seenPings[tx]; ok && now.Sub(at) < pingReplayWindow {
		return true
	}
	if len(p.seenPings) >= maxSeenPings {
		for t, at := range p.seenPings {
			if now.Sub(at) >= pingReplayWindow {
				delete(p.seenPings, t)
			}
		}
		if len(p.seenPings) >= maxSeenPings {
			clear(p.seenPings) // more than a peer sends: forget, never refuse genuine pings
		}
	}
	p.seenPings[tx] = now
	return false
}

// confirmLocked takes a pong from a (round trip rtt): a becomes p's
// direct path when p has none that works, or when a is clearly faster.
func (b *pathBind) confirmLocked(p *peerPath, a netip.AddrPort, rtt time.Duration, now time.Time) {
	if len(b.confirmed) > 4*len(b.peers)+64 {
		b.pruneConfirmedLocked()
	}
	b.confirmed[a] = p.key
	if a == p.best {
		p.heard, p.ponged, p.rtt, p.unanswered, p.silenceNoted = now, now, rtt, 0, false
		return
	}
	if f, ok := p.failed[a]; ok && now.Before(f.until) {
		return // it passed pings, not WireGuard packets, lately
	}
	if p.fresh(now) && float64(rtt) >= betterRTT*float64(p.rtt) {
		return
	}
	b.log.Info("direct path", "peer", p.key.ShortString(), "addr", a, "rtt", rtt.Round(time.Microsecond), "was", p.best)
	p.best, p.rtt, p.heard, p.ponged, p.dataIn, p.unanswered, p.lost, p.silenceNoted = a, rtt, now, now, now, 0, netip.AddrPort{}, false
	p.outSinceHeard, p.outSinceData, p.probeAt = time.Time{}, time.Time{}, time.Time{}
	p.discoverWait = 0
}

// pruneConfirmedLocked keeps only the confirmed addresses that are some
// peer's direct path.
func (b *pathBind) pruneConfirmedLocked() {
	for a, k := range b.confirmed {
		if p := b.peers[k]; p == nil || p.best != a {
			delete(b.confirmed, a)
		}
	}
}

// stunDueLocked sends STUN binding requests to every server when due.
func (b *pathBind) stunDueLocked(now time.Time, out []outPacket) []outPacket {
	if len(b.stunServers) == 0 || now.Before(b.nextSTUN) {
		return out
	}
	b.nextSTUN = now.Add(stunEvery)
	if len(b.stunTx) > 64 {
		clear(b.stunTx)
	}
	for _, s := range b.stunTargetsLocked() {
		m, err := netcheck.BindingRequest()
		if err != nil {
			continue
		}
		b.stunTx[m.TransactionID] = stunSent{server: s, at: now}
		out = append(out, outPacket{pkt: m.Raw, to: &conn.StdNetEndpoint{AddrPort: s}})
	}
	return out
}

// handleSTUNLocked takes a STUN answer from src at now: the server's
// round trip and the reflexive address, for one of the requests out.
func (b *pathBind) handleSTUNLocked(pkt []byte, src netip.AddrPort, now time.Time) {
	m := &stun.Message{Raw: append([]byte(nil), pkt...)}
	if err := m.Decode(); err != nil || m.Type != stun.BindingSuccess {
		return
	}
	sent, ok := b.stunTx[m.TransactionID]
	if !ok || sent.server != src {
		return
	}
	delete(b.stunTx, m.TransactionID)
	b.stunRTT[src] = now.Sub(sent.at)
	var xa stun.XORMappedAddress
	if err := xa.GetFrom(m); err != nil {
		return
	}
	ip, ok := netip.AddrFromSlice(xa.IP)
	if !ok {
		return
	}
	refl := netip.AddrPortFrom(ip.Unmap(), uint16(xa.Port))
	b.noteMappingLocked(src, refl, sent.at)
	if refl == b.reflexive || b.isAltLocked(src) {
		return
	}
	b.log.Info("reflexive address", "addr", refl, "was", b.reflexive, "stun", src)
	b.reflexive = refl
	b.restartDiscoveryLocked()
	if b.onReflexive != nil {
		go b.onReflexive(refl)
	}
}

// stunRTTs returns each STUN server's last round trip.
func (b *pathBind) stunRTTs() map[netip.AddrPort]time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.stunRTT)
}

// kickSTUN makes the next send ask the STUN servers at once.
func (b *pathBind) kickSTUN() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextSTUN = time.Time{}
}

// tick runs what is due without a packet to send: STUN requests (so a
// node that sends nothing still learns its reflexive address), and for
// each peer being sent to, the probe of a direct path gone quiet and
// what a suspect one needs (watchLocked). It returns when it next has
// something due before the Engine's next tick (zero: nothing).
func (b *pathBind) tick(now time.Time) time.Time {
	b.mu.Lock()
	out := b.stunDueLocked(now, nil)
	var next time.Time
	for _, p := range b.peers {
		var due time.Time
		out, due = b.watchLocked(p, now, out)
		if !due.IsZero() && (next.IsZero() || due.Before(next)) {
			next = due
		}
	}
	b.mu.Unlock()
	b.sendAll(out)
	return next
}

// watchLocked watches p's direct path between sends: an active one
// (carrying traffic either way) that has been quiet for probeAfter is
// pinged, one that is suspect has its silence acted on at once (so the
// relay connection is checked before the next packet needs it), one that
// failed is dropped. It returns when p next needs a look (zero: not
// before a send or the next regular tick).
func (b *pathBind) watchLocked(p *peerPath, now time.Time, out []outPacket) ([]outPacket, time.Time) {
	b.dropFailedLocked(p, now)
	if !p.best.IsValid() {
		return out, time.Time{}
	}
	if p.active(now) && now.Sub(p.heard) >= probeAfter {
		out = b.probeLocked(p, now, out)
	}
	switch {
	case p.suspect(now):
		return b.noteSilenceLocked(p, now, out), time.Time{}
	case p.probeAt.After(p.heard):
		return out, p.probeAt.Add(p.pongGrace()) // the probe's answer, or its absence
	case p.active(now):
		return out, p.heard.Add(probeAfter) // while traffic flows, a look every probeAfter
	}
	return out, time.Time{}
}

// addrOf returns a UDP endpoint's address.
func addrOf(ep conn.Endpoint) netip.AddrPort {
	if s, ok := ep.(*conn.StdNetEndpoint); ok {
		return netip.AddrPortFrom(s.AddrPort.Addr().Unmap(), s.AddrPort.Port())
	}
	a, _ := netip.ParseAddrPort(ep.DstToString())
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

var _ conn.Bind = (*pathBind)(nil)
