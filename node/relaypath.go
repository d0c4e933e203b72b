package node

import (
	"context"
	"net/netip"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"

	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// pathTick is how often the Engine lets its pathBind run what is due
// without a packet to send (STUN) at the least; it ticks sooner when the
// pathBind asks (a probe's deadline).
const pathTick = time.Second

// startRelay starts the relay connection when the Engine has a token
// source, and the path ticker; both end with the Engine.
func (e *Engine) startRelay() {
	if e.cfg.Relays != nil {
		e.relay = newRelayLink(e.cfg.Relays, e.log.With("component", "relay"))
		e.relay.pinned = e.cfg.HomeRelay
		e.relay.onHome = func(string) { e.announceChanged(netip.AddrPort{}) }
		e.relay.inits.leads, e.relay.inits.online = e.leads, e.peerOnline
		e.wg.Go(func() { e.relay.run(e.ctx) })
	}
	e.wg.Go(e.pathLoop)
}

// leads reports whether the node leads the pair with the configured peer
// holding key k (see handshake.go).
func (e *Engine) leads(k wire.WGPublic) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.have[k]
	return ok && c.leads
}

// handshakeUnderWayLocked reports whether a handshake with the peer
// holding key k is under way, which a kick would only replace (dropping
// the packets queued for the session, see handshake.go): wireguard-go's
// last initiation to the peer went over the relay (held until it
// connects, or resent while refused) less than device.RekeyTimeout ago
// and nothing else went to the peer since, or the device answered the
// peer's initiation less than device.RekeyTimeout ago.
func (e *Engine) handshakeUnderWayLocked(k wire.WGPublic) bool {
	now := time.Now()
	if e.bind != nil && e.bind.answeredWithin(k, now, device.RekeyTimeout) {
		return true
	}
	return e.relay != nil && e.relay.inits.underWay(k, now)
}

// peerOnline reports whether the map says the configured peer holding
// key k is online (its map stream is open).
func (e *Engine) peerOnline(k wire.WGPublic) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.have[k]
	return ok && e.nm.Load().peers[c.id].Online
}

// CheckPaths has the node check its paths at once: ask the STUN servers
// (on the path loop's next turn) and ping its relay connections. The
// Session calls it when the map stream breaks: a NAT that rebinds cuts
// every TCP connection through it, the relay's among them, and a node
// that has nothing to send (the listener of a flow whose peer's packets
// no longer arrive) would learn of its dead relay connection only from
// its next keepalive, 10 s later, while its peer's relayed packets are
// lost.
func (e *Engine) CheckPaths() {
	e.mu.Lock()
	b := e.bind
	e.mu.Unlock()
	if b != nil {
		b.kickSTUN()
		b.wakeLoop()
	}
	if e.relay != nil {
		e.relay.check()
	}
}

// pathLoop ticks the running data plane's pathBind until the Engine
// ends: every pathTick, when the pathBind wakes it, and when a tick says
// something is due sooner.
func (e *Engine) pathLoop() {
	t := time.NewTimer(pathTick)
	defer t.Stop()
	for {
		e.mu.Lock()
		b := e.bind
		e.mu.Unlock()
		var wake chan struct{}
		if b != nil {
			wake = b.wake
		}
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		now := time.Now()
		next := now.Add(pathTick)
		if b != nil {
			if due := b.tick(now); !due.IsZero() && due.Before(next) {
				next = due
			}
			e.chooseHome(b)
		}
		t.Reset(max(time.Until(next), 10*time.Millisecond))
	}
}

// chooseHome lets the relay link pick the nearest relay as home from the
// STUN round trips to each relay.
func (e *Engine) chooseHome(b *pathBind) {
	if e.relay == nil {
		return
	}
	e.mu.Lock()
	of := e.stunOf
	e.mu.Unlock()
	if len(of) < 2 {
		return
	}
	byAddr := b.stunRTTs()
	rtts := make(map[string]time.Duration, len(of))
	for name, a := range of {
		if d, ok := byAddr[a]; ok {
			rtts[name] = d
		}
	}
	e.relay.chooseHome(rtts)
}

// bindFuncLocked returns what makes the next data plane's bind: the
// configured UDP bind wrapped in a pathBind over the relay (if any),
// given the STUN servers the last map named.
func (e *Engine) bindFuncLocked() func() conn.Bind {
	return func() conn.Bind {
		b := newPathBind(e.cfg.Bind(), e.relay, e.priv, e.log.With("component", "paths"))
		b.onReflexive = e.announceChanged
		b.setSTUN(e.stun)
		b.setSTUNAlt(e.stunAlt)
		e.bind = b
		return b
	}
}

// announceChanged tells whoever announces the node's endpoints and home
// relay that they changed (a new reflexive address or home relay).
func (e *Engine) announceChanged(netip.AddrPort) {
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
	// A later list replaces this one: its resolution's result is dropped
	// if it finishes after a newer one started.
	e.stunGen++
	gen := e.stunGen
	e.wg.Go(func() {
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		defer cancel()
		var addrs, alts []netip.AddrPort
		of := map[string]netip.AddrPort{}
		for _, r := range rs {
			if r.STUN == "" {
				continue
			}
			a, err := e.cfg.Relays.STUNAddr(ctx, r)
			if err != nil {
				e.log.Info("relay's STUN address", "relay", r.Name, "err", err)
				continue
			}
			addrs, of[r.Name] = append(addrs, a), a
			if r.STUNAlt == "" {
				continue
			}
			if alt, err := e.cfg.Relays.STUNAddr(ctx, wire.Relay{Name: r.Name, URL: r.URL, STUN: r.STUNAlt}); err == nil {
				alts = append(alts, alt)
			} else {
				e.log.Info("relay's second STUN address", "relay", r.Name, "err", err)
			}
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if gen != e.stunGen {
			return
		}
		e.stun, e.stunAlt, e.stunOf = addrs, alts, of
		if e.bind != nil {
			e.bind.setSTUN(addrs)
			e.bind.setSTUNAlt(alts)
		}
	})
}

// notePathsLocked tells the bind each configured peer's map endpoints and
// the node's own.
func (e *Engine) notePathsLocked(nm *netmap, want map[wire.WGPublic]peerConf) {
	if e.bind == nil {
		return
	}
	routes := make(map[wire.WGPublic]peerRoute, len(want))
	for k, c := range want {
		routes[k] = peerRoute{id: c.id, eps: c.endpoints, home: nm.peers[c.id].HomeRelay, leads: c.leads}
	}
	e.bind.setPeers(routes)
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

// HomeRelay names the relay the node listens on ("" without a relay
// connection).
func (e *Engine) HomeRelay() string {
	if e.relay == nil || !e.relay.connected() {
		return ""
	}
	return e.relay.homeName()
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
	ps.Reflexive, ps.NAT = b.Reflexive(), b.natClass()
	e.mu.Lock()
	of := e.stunOf
	e.mu.Unlock()
	rtts := b.stunRTTs()
	for name, a := range of {
		if d, ok := rtts[a]; ok {
			if ps.RelayRTT == nil {
				ps.RelayRTT = map[string]time.Duration{}
			}
			ps.RelayRTT[name] = d
		}
	}
	c := &b.counters
	ps.DirectTxBytes, ps.DirectRxBytes = c.directTx.Load(), c.directRx.Load()
	ps.RelayTxBytes, ps.RelayRxBytes = c.relayTx.Load(), c.relayRx.Load()
	return ps
}
