package tunnel

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// The ward ping protocol (node/ping.go): a UDP datagram to node.PingPort
// holding pingMagic and an 8-byte nonce, answered with pongMagic and the
// same nonce. The constants are repeated here because node keeps them
// unexported.
const (
	pingMagic = "WARDPING"
	pongMagic = "WARDPONG"
	pingLen   = len(pingMagic) + 8
	pingRetry = time.Second
)

// Resolve returns the overlay address of the active peer named peer, or
// having that address (IPv4 when a named peer has one).
func (e *Engine) Resolve(peer string) (netip.Addr, wire.Node, error) {
	a, p, ok := e.view.Load().Resolve(peer, time.Now())
	if !ok {
		return netip.Addr{}, wire.Node{}, fmt.Errorf("resolve %q: %w", peer, ErrUnknownPeer)
	}
	return a, p, nil
}

// DialPeer opens a TCP connection to port on peer (a name or an overlay
// address) through the OS, whose routes send it into the TUN.
func (e *Engine) DialPeer(ctx context.Context, peer string, port uint16) (net.Conn, error) {
	addr, _, err := e.Resolve(peer)
	if err != nil {
		return nil, err
	}
	if e.ln.Load() == nil {
		return nil, ErrNotRunning
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", netip.AddrPortFrom(addr, port).String())
}

// Ping sends ward ping probes to peer through the TUN until one is
// answered or ctx is done.
func (e *Engine) Ping(ctx context.Context, peer string) (localapi.PingResult, error) {
	addr, p, err := e.Resolve(peer)
	if err != nil {
		return localapi.PingResult{}, err
	}
	ln := e.ln.Load()
	if ln == nil {
		return localapi.PingResult{}, ErrNotRunning
	}
	rtt, err := pingAddr(ctx, addr)
	if err != nil {
		return localapi.PingResult{}, err
	}
	res := localapi.PingResult{Peer: p.Name, Addr: addr, RTT: rtt, Path: "none"}
	if st, err := ln.state(); err == nil {
		res.Endpoint = st.peers[p.WGKey].endpoint
		res.Path = pathOf(res.Endpoint)
	}
	return res, nil
}

// pingAddr probes addr's echo once a second until an answer or ctx's end.
func pingAddr(ctx context.Context, addr netip.Addr) (time.Duration, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", netip.AddrPortFrom(addr, node.PingPort).String())
	if err != nil {
		return 0, fmt.Errorf("ping %v: %w", addr, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for ctx.Err() == nil {
		rtt, ok, err := probe(c)
		if err != nil && ctx.Err() == nil {
			return 0, fmt.Errorf("ping %v: %w", addr, err)
		}
		if ok {
			return rtt, nil
		}
	}
	return 0, fmt.Errorf("ping %v: %w", addr, context.Cause(ctx))
}

// probe sends one ping and waits up to pingRetry for its answer.
func probe(c net.Conn) (time.Duration, bool, error) {
	req := make([]byte, pingLen)
	copy(req, pingMagic)
	if _, err := rand.Read(req[len(pingMagic):]); err != nil {
		return 0, false, err
	}
	start := time.Now()
	if _, err := c.Write(req); err != nil {
		return 0, false, err
	}
	if err := c.SetReadDeadline(start.Add(pingRetry)); err != nil {
		return 0, false, err
	}
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		if n == pingLen && string(buf[:len(pongMagic)]) == pongMagic && bytes.Equal(buf[len(pongMagic):n], req[len(pingMagic):]) {
			return time.Since(start), true, nil
		}
	}
}

func pathOf(ep netip.AddrPort) string {
	if ep.IsValid() {
		return "direct"
	}
	return "none"
}

// Status describes the node and its peers as the Engine sees them;
// Coordinator and Connected are left for the caller.
func (e *Engine) Status() localapi.Status {
	v := e.view.Load()
	st := localapi.Status{MapVersion: v.Version, Peers: []localapi.Peer{}}
	st.Self = localapi.Self{ID: v.Self.ID, Name: v.Self.Name, IPv4: v.Self.IPv4, IPv6: v.Self.IPv6, KeyExpiry: v.Self.KeyExpiry}
	dev := deviceState{}
	if ln := e.ln.Load(); ln != nil {
		st.Self.ListenPort = ln.port
		gs := ln.guard.Stats()
		st.Filter = localapi.FilterStats{Allowed: gs.Allowed, Denied: gs.Denied, Revoked: gs.Revoked}
		dev, _ = ln.state()
	}
	for _, p := range sortedPeers(v.Peers) {
		ps := localapi.Peer{ID: p.ID, Name: p.Name, IPv4: p.IPv4, IPv6: p.IPv6, User: p.User, Tags: p.Tags,
			KeyExpiry: p.KeyExpiry, Online: p.Online, Path: "none"}
		if s, ok := dev.peers[p.WGKey]; ok {
			ps.Active = true
			ps.Endpoint, ps.Path = s.endpoint, pathOf(s.endpoint)
			ps.LastHandshake, ps.RxBytes, ps.TxBytes = s.lastHandshake, s.rx, s.tx
		}
		st.Peers = append(st.Peers, ps)
	}
	return st
}
