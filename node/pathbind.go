package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"github.com/wardnet/ward/wire"
)

// relayEndpointPrefix starts the UAPI form of a relay endpoint:
// "relay:<hex WireGuard key>".
const relayEndpointPrefix = "relay:"

// udpSilence is how long UDP from a peer may be silent before packets to
// it go over the relay as well as over UDP.
const udpSilence = 2 * time.Second

// relayEndpoint is wireguard-go's endpoint for a peer reached through the
// node's home relay.
type relayEndpoint struct{ key wire.WGPublic }

func (relayEndpoint) ClearSrc()            {}
func (relayEndpoint) SrcToString() string  { return "" }
func (relayEndpoint) DstIP() netip.Addr    { return netip.Addr{} }
func (relayEndpoint) SrcIP() netip.Addr    { return netip.Addr{} }
func (e relayEndpoint) DstToBytes() []byte { return e.key[:] }
func (e relayEndpoint) DstToString() string {
	return relayEndpointPrefix + hex.EncodeToString(e.key[:])
}

// parseRelayEndpoint parses "relay:<hex key>".
func parseRelayEndpoint(s string) (relayEndpoint, bool) {
	h, ok := strings.CutPrefix(s, relayEndpointPrefix)
	if !ok {
		return relayEndpoint{}, false
	}
	k, err := parseHexKey(h)
	return relayEndpoint{key: k}, err == nil
}

// pathBind is wireguard-go's bind: the UDP bind it wraps plus the relay
// path. Per peer it sends over UDP (to the endpoint wireguard-go chose, or
// else the peer's first map endpoint) and, while no UDP packet from the
// peer arrived in the last udpSilence (or it has no UDP endpoint), over
// the relay too; WireGuard's replay window drops the duplicates. Packets
// from the relay reach wireguard-go with a relayEndpoint, so a peer heard
// only there is answered there.
type pathBind struct {
	udp   conn.Bind
	relay *relayLink

	mu sync.Mutex // mu guards the fields below
	// keyOf maps a peer's map endpoint to its key.
	keyOf map[netip.AddrPort]wire.WGPublic
	// udpOf is each peer's map endpoint (zero when none).
	udpOf map[wire.WGPublic]netip.AddrPort
	// heard is when UDP from each peer last arrived.
	heard map[wire.WGPublic]time.Time
	// closed is closed by Close, ending the relay ReceiveFunc.
	closed chan struct{}
}

func newPathBind(udp conn.Bind, relay *relayLink) *pathBind {
	return &pathBind{udp: udp, relay: relay, keyOf: map[netip.AddrPort]wire.WGPublic{},
		udpOf: map[wire.WGPublic]netip.AddrPort{}, heard: map[wire.WGPublic]time.Time{}}
}

// setPeers records each peer's map endpoint (zero when none).
func (b *pathBind) setPeers(eps map[wire.WGPublic]netip.AddrPort) {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.keyOf)
	clear(b.udpOf)
	for k, ep := range eps {
		b.udpOf[k] = ep
		if ep.IsValid() {
			b.keyOf[ep] = k
		}
	}
}

// Open opens the UDP bind and adds a ReceiveFunc for the relay.
func (b *pathBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	fns, actual, err := b.udp.Open(port)
	if err != nil {
		return nil, 0, err
	}
	closed := make(chan struct{})
	b.mu.Lock()
	b.closed = closed
	b.mu.Unlock()
	out := make([]conn.ReceiveFunc, 0, len(fns)+1)
	for _, fn := range fns {
		out = append(out, b.noteUDP(fn))
	}
	return append(out, b.receiveRelay(closed)), actual, nil
}

// noteUDP wraps fn to record when each known peer was last heard over UDP.
func (b *pathBind) noteUDP(fn conn.ReceiveFunc) conn.ReceiveFunc {
	return func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		n, err := fn(packets, sizes, eps)
		if n > 0 {
			now := time.Now()
			b.mu.Lock()
			for _, ep := range eps[:n] {
				if k, ok := b.keyOf[addrOf(ep)]; ok {
					b.heard[k] = now
				}
			}
			b.mu.Unlock()
		}
		return n, err
	}
}

// receiveRelay returns a ReceiveFunc delivering one relayed packet per
// call until closed is closed.
func (b *pathBind) receiveRelay(closed chan struct{}) conn.ReceiveFunc {
	return func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		for {
			select {
			case <-closed:
				return 0, net.ErrClosed
			case f := <-b.relay.in:
				if len(f.Payload) > len(packets[0]) {
					continue
				}
				sizes[0] = copy(packets[0], f.Payload)
				eps[0] = relayEndpoint{key: f.Key}
				return 1, nil
			}
		}
	}
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
	return b.udp.Close()
}

// SetMark sets the UDP sockets' mark.
func (b *pathBind) SetMark(mark uint32) error { return b.udp.SetMark(mark) }

// BatchSize is the UDP bind's.
func (b *pathBind) BatchSize() int { return b.udp.BatchSize() }

// ParseEndpoint parses a relay endpoint or a UDP one.
func (b *pathBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	if e, ok := parseRelayEndpoint(s); ok {
		return e, nil
	}
	if strings.HasPrefix(s, relayEndpointPrefix) {
		return nil, fmt.Errorf("parse endpoint %q: bad key", s)
	}
	return b.udp.ParseEndpoint(s)
}

// Send sends bufs to the peer of ep over the paths Send's doc names.
func (b *pathBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	key, udp, useRelay := b.route(ep, time.Now())
	var err error
	switch {
	case udp != nil:
		err = b.udp.Send(bufs, udp)
	case !useRelay:
		return errors.New("send: no path to the peer")
	}
	if useRelay {
		for _, buf := range bufs {
			b.relay.send(key, buf)
		}
		return nil
	}
	return err
}

// route returns the peer's key, the UDP endpoint to send to (nil: none)
// and whether to send over the relay too.
func (b *pathBind) route(ep conn.Endpoint, now time.Time) (wire.WGPublic, conn.Endpoint, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if re, ok := ep.(relayEndpoint); ok {
		a := b.udpOf[re.key]
		if !a.IsValid() {
			return re.key, nil, true
		}
		return re.key, &conn.StdNetEndpoint{AddrPort: a}, now.Sub(b.heard[re.key]) > udpSilence
	}
	k, ok := b.keyOf[addrOf(ep)]
	if !ok {
		return wire.WGPublic{}, ep, false
	}
	return k, ep, now.Sub(b.heard[k]) > udpSilence
}

// addrOf returns a UDP endpoint's address.
func addrOf(ep conn.Endpoint) netip.AddrPort {
	if s, ok := ep.(*conn.StdNetEndpoint); ok {
		return s.AddrPort
	}
	a, _ := netip.ParseAddrPort(ep.DstToString())
	return a
}

var _ conn.Bind = (*pathBind)(nil)
