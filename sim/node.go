package sim

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/wire"
)

// simNode is one simulated device: a real control client (sessions signed
// with its machine key, registration, the map stream and its decoding)
// without a data plane. It keeps the set of its peers as the stream
// builds it.
type simNode struct {
	tag  string
	cl   *control.Client
	self wire.Node
	// obs hears of every message the stream delivers.
	obs observer

	// mu guards the following.
	mu    sync.Mutex
	peers peerSet
	// opened is when the current map stream opened; mapAt when its first
	// message arrived (zero before it).
	opened, mapAt time.Time
}

// observer hears of a node's map messages as they arrive.
type observer interface {
	observe(n *simNode, m *wire.MapResponse, at time.Time)
}

// sourceAddr is the loopback address simulated node i sends from: one per
// node, as devices have, so per-source limits see a fleet, not one host.
func sourceAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, byte(1 + i>>16), byte(i >> 8), byte(i)})
}

// simMapReadBuffer is a simulated node's map stream read buffer
// (control.Config.MapReadBuffer).
const simMapReadBuffer = 4 << 10

// simStreamWindow is the HTTP/2 receive window of a simulated node's
// stream (net/http's default is 4 MiB). With the map gate a stream's
// message waits unread until a slot frees; a window that holds the largest
// message (a gateway's 4.3 MB share of the default policy change at
// 50,000 nodes, its 13 MB full map) lets the coordinator finish writing it
// meanwhile instead of waiting on the window up to its write timeout
// (30 s), after which it would end the stream.
const simStreamWindow = 32 << 20

// mapGateSlots is how many simulated streams read and decode a message at
// once (control.Config.MapGate): two per CPU, so that the sim's cores are
// busy while the others wait in the order their bytes came, each holding
// only its unread bytes. Without it a change reaching every stream had
// them all decode at once, each holding its line and its half-decoded
// peers: at 20,000 nodes the sim's RSS reached 4.4 GB for the 1.4 GB the
// policy change sent.
func mapGateSlots() int { return max(2, 2*runtime.GOMAXPROCS(0)) }

// registerWait bounds a simulated node's control calls.
const registerWait = 5 * time.Minute

// groupAddr is the loopback address the shared connection of group g
// (Config.StreamsPerConn) dials from, apart from the nodes' own.
func groupAddr(g int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, byte(200 + g>>16), byte(g >> 8), byte(g)})
}

// ownTransport is node i's own transport: HTTP/1.1 from the node's own
// loopback source address, one connection at a time.
func ownTransport(i int, dials *atomic.Int64) *http.Transport {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: sourceAddr(i).AsSlice()}, Timeout: 30 * time.Second}
	return &http.Transport{DialContext: counted(d, dials), MaxIdleConnsPerHost: 1, IdleConnTimeout: 30 * time.Second}
}

// sharedTransport is group g's transport: one HTTP/2 connection with
// prior knowledge (h2c), as an HTTP/2 load balancer holds to its
// upstream, carrying every request of the group's nodes.
func sharedTransport(g int, dials *atomic.Int64) *http.Transport {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: groupAddr(g).AsSlice()}, Timeout: 30 * time.Second}
	return &http.Transport{DialContext: counted(d, dials), Protocols: p, MaxConnsPerHost: 1,
		IdleConnTimeout: 30 * time.Second, HTTP2: &http.HTTP2Config{MaxReceiveBufferPerStream: simStreamWindow}}
}

// counted is d's DialContext counting the connections it makes in n.
func counted(d *net.Dialer, n *atomic.Int64) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			n.Add(1)
		}
		return c, err
	}
}

// forwardedFor sends each request through base with addr in
// X-Forwarded-For, as a load balancer does, so the coordinator's
// per-source limits and audit see the node, not the shared connection.
// It has no CloseIdleConnections: one node closing its idle connections
// (simNode.register) must not close its group's.
type forwardedFor struct {
	base http.RoundTripper
	addr string
}

// RoundTrip implements http.RoundTripper.
func (f forwardedFor) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("X-Forwarded-For", f.addr)
	return f.base.RoundTrip(req)
}

// newSimNode makes a node's keys and its control client, sending through
// tr, its map stream reading a message only with a slot of gate
// (control.Config.MapGate).
func newSimNode(base string, tr http.RoundTripper, gate chan struct{}, tag string, obs observer) (*simNode, error) {
	mk, err := wire.NewMachinePrivate()
	if err != nil {
		return nil, err
	}
	// The calls wait registerWait, not a device's 30 s: on a loaded
	// machine a gateway's registration (every sensor's stream learns of
	// it) can take longer, and a device that asked again would be refused
	// (its machine key is registered by then). The run counts such calls.
	// The map stream's read buffer is 4 KiB, not a device's 64 KiB: the
	// buffer is held for as long as the stream is open, 3.2 GB for
	// 50,000 streams (three quarters of the sim's heap at 10,000 nodes);
	// a longer message is read in pieces of it.
	cl, err := control.New(control.Config{URL: base, AllowInsecureHTTP: true, MachineKey: mk, CallTimeout: registerWait,
		MapReadBuffer: simMapReadBuffer, MapGate: gate,
		HTTPClient: &http.Client{Transport: tr}, Logger: slog.New(slog.DiscardHandler),
		Backoff: control.Backoff{Min: time.Second, Max: 30 * time.Second}})
	if err != nil {
		return nil, fmt.Errorf("control client: %w", err)
	}
	return &simNode{tag: tag, cl: cl, obs: obs}, nil
}

// register registers the node with key under hostname.
func (n *simNode) register(ctx context.Context, key, hostname string) error {
	wk, err := wire.NewWGPrivate()
	if err != nil {
		return err
	}
	self, err := n.cl.Register(ctx, wire.RegisterRequest{AuthKey: key, WGKey: wk.Public(), Hostname: hostname, OS: "sim", Version: "sim"})
	if err != nil {
		return err
	}
	n.self = self
	// The map stream needs a connection of its own; the one registration
	// used would sit idle and hold a file descriptor on both ends.
	n.cl.HTTPClient().CloseIdleConnections()
	return nil
}

// follow follows the map stream until ctx ends.
func (n *simNode) follow(ctx context.Context) {
	n.cl.FollowMap(ctx, 0, n)
}

// HandleMap implements control.MapHandler: it applies m to the peer set
// and tells the observer.
func (n *simNode) HandleMap(m wire.MapResponse) error {
	at := time.Now()
	n.mu.Lock()
	if n.mapAt.IsZero() {
		n.mapAt = at
	}
	if m.Full {
		n.peers.reset()
		for _, p := range m.Peers {
			n.peers.add(p.ID)
		}
	}
	for _, p := range m.PeersChanged {
		n.peers.add(p.ID)
	}
	for _, id := range m.PeersRemoved {
		n.peers.remove(id)
	}
	n.mu.Unlock()
	n.obs.observe(n, &m, at)
	// Nothing above keeps the lists: the next message's decoding reuses
	// them, as a device's does (node.Session.HandleMap).
	wire.ReleaseMap(&m)
	return nil
}

// SetConnected implements control.MapHandler: it notes when a stream
// opens.
func (n *simNode) SetConnected(up bool) {
	if !up {
		return
	}
	n.mu.Lock()
	n.opened, n.mapAt = time.Now(), time.Time{}
	n.mu.Unlock()
}

// mapSince reports whether the node holds a map from a stream opened
// after t, and when that stream's first message came.
func (n *simNode) mapSince(t time.Time) (time.Time, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mapAt, n.opened.After(t) && !n.mapAt.IsZero()
}

// peerCount is how many peers the node holds.
func (n *simNode) peerCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.peers.len()
}

// hasPeers reports whether the node holds exactly want.
func (n *simNode) hasPeers(want map[wire.NodeID]bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.peers.len() != len(want) {
		return false
	}
	for id := range want {
		if !n.peers.has(id) {
			return false
		}
	}
	return true
}
