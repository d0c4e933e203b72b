package node

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// Resolve returns the overlay address of the active peer named peer
// (case-insensitive) or having that overlay address, IPv4 when the peer
// has one; for an address in a peer's map routes, or a routed device's
// name (the map's RouteHosts, alone or under the fleet domain), the
// device's address and the subnet router it goes through. Peers and
// routers whose key expired are not found.
func (e *Engine) Resolve(peer string) (netip.Addr, wire.Node, error) {
	a, p, ok := e.nm.Load().resolve(peer)
	if !ok || expired(p, e.cfg.Clock()) {
		return netip.Addr{}, wire.Node{}, fmt.Errorf("resolve %q: %w", peer, ErrUnknownPeer)
	}
	return a, p, nil
}

// pathPoll is how often DialPeer looks for an endpoint learned from a
// peer's packets while it waits for one.
const pathPoll = 50 * time.Millisecond

// DialPeer opens a TCP connection through the overlay to port on peer, a
// peer name or overlay address. ctx bounds the handshake.
//
// A port the map says the policy does not grant is refused at once with a
// *NotGrantedError, without sending anything; a port the peer refuses (it
// serves nothing there) ends in a *RefusedError as soon as its reset
// comes back. While the device knows no endpoint for the peer, it waits
// (within ctx) for one before sending anything: a SYN sent with nowhere
// to go would wait in wireguard-go's queue, which the handshake kick that
// follows the endpoint's arrival empties (see handshake.go), and the
// connection would then wait for TCP's retransmission.
func (e *Engine) DialPeer(ctx context.Context, peer string, port uint16) (net.Conn, error) {
	addr, p, err := e.Resolve(peer)
	if err != nil {
		return nil, err
	}
	if routed := addr != p.IPv4 && addr != p.IPv6; !routed {
		// A routed address's grants are the router's to judge: the map's
		// grants are those on the router's own addresses.
		if err := checkGrant(e.Self(), p, port, time.Now()); err != nil {
			return nil, err
		}
	}
	if err := e.waitEndpoint(ctx, keyAt(p, e.cfg.Clock())); err != nil {
		return nil, fmt.Errorf("dial %s: %w", peer, err)
	}
	dp := e.dp.Load()
	if dp == nil {
		return nil, ErrNotRunning
	}
	c, err := dp.net.DialContext(ctx, "tcp", netip.AddrPortFrom(addr, port).String())
	if err != nil {
		return nil, dialError(p, port, err)
	}
	return c, nil
}

// waitEndpoint waits until the device has an endpoint for the peer with
// key k (from the map, or learned from the peer's packets), the peer is no
// longer configured, or ctx is done.
func (e *Engine) waitEndpoint(ctx context.Context, k wire.WGPublic) error {
	var tick <-chan time.Time
	for {
		e.mu.Lock()
		c, configured := e.have[k]
		changed := e.changed
		e.mu.Unlock()
		dp := e.dp.Load()
		if dp == nil {
			return ErrNotRunning
		}
		if !configured || c.endpoint.IsValid() || e.pathOf(k).kind != "none" {
			return nil
		}
		st, err := dp.state()
		if err != nil {
			return err
		}
		if st.peers[k].endpoint.IsValid() {
			return nil
		}
		if tick == nil {
			t := time.NewTicker(pathPoll)
			defer t.Stop()
			tick = t.C
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no endpoint known for the peer yet: %w", ctx.Err())
		case <-changed:
		case <-tick:
		}
	}
}

// Ping sends echo probes through the overlay to peer until one is answered
// or ctx is done (give it a deadline).
func (e *Engine) Ping(ctx context.Context, peer string) (localapi.PingResult, error) {
	addr, p, err := e.Resolve(peer)
	if err != nil {
		return localapi.PingResult{}, err
	}
	dp := e.dp.Load()
	if dp == nil {
		return localapi.PingResult{}, ErrNotRunning
	}
	rtt, err := pingAddr(ctx, dp.net, addr)
	if err != nil {
		return localapi.PingResult{}, err
	}
	pi := e.pathOf(keyAt(p, e.cfg.Clock()))
	return localapi.PingResult{Peer: p.Name, Addr: addr, RTT: rtt, Path: pi.kind, Endpoint: pi.addr}, nil
}

// Status describes the node and its peers as the Engine sees them.
// Coordinator and Connected are left for the caller.
func (e *Engine) Status() localapi.Status {
	nm := e.nm.Load()
	st := localapi.Status{MapVersion: nm.version, Peers: []localapi.Peer{}}
	st.Self = localapi.Self{ID: nm.self.ID, Name: nm.self.Name, FQDN: nm.self.FQDN, IPv4: nm.self.IPv4, IPv6: nm.self.IPv6,
		KeyExpiry: nm.self.KeyExpiry, Exposed: e.cfg.Expose}
	var dev deviceState
	if dp := e.dp.Load(); dp != nil {
		st.Self.ListenPort = dp.port
		s := dp.net.Stats()
		st.Filter = localapi.FilterStats{Allowed: s.Allowed, Denied: s.Denied, Revoked: s.Revoked, Unserved: s.Unserved,
			OutboundDropped: s.OutboundDropped}
		dev, _ = dp.state()
	}
	st.Paths = e.pathsStatus()
	now := e.cfg.Clock()
	for _, p := range nm.peers {
		key := keyAt(p, now)
		ps := peerStatus(p, key, dev, e.pathOf(key))
		if ps.Relay = p.HomeRelay; ps.Relay == "" {
			ps.Relay = st.Paths.Relay
		}
		st.Peers = append(st.Peers, ps)
	}
	sortPeers(st.Peers)
	return st
}

// peerStatus describes peer p, held under key, with the device's view of
// it and its path.
func peerStatus(p wire.Node, key wire.WGPublic, dev deviceState, path pathInfo) localapi.Peer {
	ps := localapi.Peer{ID: p.ID, Name: p.Name, FQDN: p.FQDN, IPv4: p.IPv4, IPv6: p.IPv6, User: p.User, Tags: p.Tags,
		KeyExpiry: p.KeyExpiry, Online: p.Online, Path: "none"}
	if s, ok := dev.peers[key]; ok {
		ps.Active = true
		ps.Path, ps.Endpoint, ps.PathRTT, ps.PathNote = path.kind, path.addr, path.rtt, path.why
		ps.LastHandshake, ps.RxBytes, ps.TxBytes = s.lastHandshake, s.rx, s.tx
	}
	return ps
}

func sortPeers(ps []localapi.Peer) {
	slices.SortFunc(ps, func(a, b localapi.Peer) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}
