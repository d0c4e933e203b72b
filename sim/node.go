package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
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
	peers map[wire.NodeID]struct{}
	// firstBytes is the size of the first full map as JSON; 0 before it.
	firstBytes int
	// firstPeers is how many peers it held.
	firstPeers int
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

// newSimNode makes node i's keys and its control client, dialling from
// its own loopback source address.
func newSimNode(base string, i int, tag string, obs observer) (*simNode, error) {
	mk, err := wire.NewMachinePrivate()
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: sourceAddr(i).AsSlice()}, Timeout: 30 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 1, IdleConnTimeout: 30 * time.Second}
	cl, err := control.New(control.Config{URL: base, AllowInsecureHTTP: true, MachineKey: mk,
		HTTPClient: &http.Client{Transport: tr}, Logger: slog.New(slog.DiscardHandler),
		Backoff: control.Backoff{Min: time.Second, Max: 30 * time.Second}})
	if err != nil {
		return nil, fmt.Errorf("control client: %w", err)
	}
	return &simNode{tag: tag, cl: cl, obs: obs, peers: map[wire.NodeID]struct{}{}}, nil
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
		clear(n.peers)
		for _, p := range m.Peers {
			n.peers[p.ID] = struct{}{}
		}
		if n.firstBytes == 0 {
			b, _ := json.Marshal(m)
			n.firstBytes, n.firstPeers = len(b), len(m.Peers)
		}
	}
	for _, p := range m.PeersChanged {
		n.peers[p.ID] = struct{}{}
	}
	for _, id := range m.PeersRemoved {
		delete(n.peers, id)
	}
	n.mu.Unlock()
	n.obs.observe(n, &m, at)
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
	return len(n.peers)
}

// hasPeers reports whether the node holds exactly want.
func (n *simNode) hasPeers(want map[wire.NodeID]bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.peers) != len(want) {
		return false
	}
	for id := range n.peers {
		if !want[id] {
			return false
		}
	}
	return true
}
