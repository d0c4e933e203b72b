package node

import (
	"context"
	"net/netip"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// pathTick is how often the Engine lets its pathBind run what is due
// without a packet to send (STUN).
const pathTick = time.Second

// startRelay starts the relay connection when the Engine has a token
// source, and the path ticker; both end with the Engine.
func (e *Engine) startRelay() {
	if e.cfg.Relays != nil {
		e.relay = newRelayLink(e.cfg.Relays, e.log.With("component", "relay"))
		e.wg.Go(func() { e.relay.run(e.ctx) })
	}
	e.wg.Go(e.pathLoop)
}

// pathLoop ticks the running data plane's pathBind until the Engine ends.
func (e *Engine) pathLoop() {
	t := time.NewTicker(pathTick)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case now := <-t.C:
			e.mu.Lock()
			b := e.bind
			e.mu.Unlock()
			if b != nil {
				b.tick(now)
			}
		}
	}
}

// bindFuncLocked returns what makes the next data plane's bind: the
// configured UDP bind wrapped in a pathBind over the relay (if any),
// given the STUN servers the last map named.
func (e *Engine) bindFuncLocked() func() conn.Bind {
	return func() conn.Bind {
		b := newPathBind(e.cfg.Bind(), e.relay, e.priv, e.log.With("component", "paths"))
		b.onReflexive = e.reflexiveChanged
		b.setSTUN(e.stun)
		e.bind = b
		return b
	}
}

// reflexiveChanged passes a new reflexive address on to whoever
// announces the node's endpoints.
func (e *Engine) reflexiveChanged(netip.AddrPort) {
	if f := e.onEndpoints.Load(); f != nil {
		(*f)()
	}
}

// OnEndpointsChanged sets f to be called when the endpoints the node
// should announce change (its reflexive address did).
func (e *Engine) OnEndpointsChanged(f func()) { e.onEndpoints.Store(&f) }

// Reflexive returns the node's address as the STUN servers of the map
// see it (zero: not known yet).
func (e *Engine) Reflexive() netip.AddrPort {
	e.mu.Lock()
	b := e.bind
	e.mu.Unlock()
	if b == nil {
		return netip.AddrPort{}
	}
	return b.Reflexive()
}

// relaysChangedLocked takes a full map's relays: the relay link's home,
// and the STUN servers, resolved off the lock.
func (e *Engine) relaysChangedLocked(rs []wire.Relay) {
	if e.relay != nil {
		e.relay.setRelays(rs)
	}
	if e.cfg.Relays == nil {
		return
	}
	e.wg.Go(func() {
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		defer cancel()
		var addrs []netip.AddrPort
		for _, r := range rs {
			if r.STUN == "" {
				continue
			}
			a, err := e.cfg.Relays.STUNAddr(ctx, r)
			if err != nil {
				e.log.Info("relay's STUN address", "relay", r.Name, "err", err)
				continue
			}
			addrs = append(addrs, a)
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		e.stun = addrs
		if e.bind != nil {
			e.bind.setSTUN(addrs)
		}
	})
}

// notePathsLocked tells the bind each configured peer's map endpoints and
// the node's own.
func (e *Engine) notePathsLocked(nm *netmap, want map[wire.WGPublic]peerConf) {
	if e.bind == nil {
		return
	}
	eps := make(map[wire.WGPublic][]netip.AddrPort, len(want))
	for k, c := range want {
		eps[k] = c.endpoints
	}
	e.bind.setPeers(eps)
	e.bind.setSelf(nm.self.Endpoints)
}

// pathOf returns the path to the peer with key k.
func (e *Engine) pathOf(k wire.WGPublic) pathInfo {
	e.mu.Lock()
	b := e.bind
	e.mu.Unlock()
	if b == nil {
		return pathInfo{kind: "none"}
	}
	return b.path(k)
}

// pathsStatus describes the node's paths for Status.
func (e *Engine) pathsStatus() localapi.Paths {
	e.mu.Lock()
	b := e.bind
	e.mu.Unlock()
	var ps localapi.Paths
	if e.relay != nil {
		ps.Relay, ps.RelayConnected = e.relay.homeName(), e.relay.connected()
	}
	if b == nil {
		return ps
	}
	ps.Reflexive = b.Reflexive()
	c := &b.counters
	ps.DirectTxBytes, ps.DirectRxBytes = c.directTx.Load(), c.directRx.Load()
	ps.RelayTxBytes, ps.RelayRxBytes = c.relayTx.Load(), c.relayRx.Load()
	return ps
}
