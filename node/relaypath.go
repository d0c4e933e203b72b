package node

import (
	"net/netip"

	"golang.zx2c4.com/wireguard/conn"

	"github.com/wardnet/ward/wire"
)

// startRelay starts the relay connection when the Engine has a token
// source; it ends with the Engine.
func (e *Engine) startRelay() {
	if e.cfg.Relays == nil {
		return
	}
	e.relay = newRelayLink(e.cfg.Relays, e.log.With("component", "relay"))
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.relay.run(e.ctx)
	}()
}

// bindFuncLocked returns what makes the next data plane's bind: the
// configured UDP bind, wrapped in a pathBind when there is a relay.
func (e *Engine) bindFuncLocked() func() conn.Bind {
	if e.relay == nil {
		return e.cfg.Bind
	}
	return func() conn.Bind {
		e.bind = newPathBind(e.cfg.Bind(), e.relay)
		return e.bind
	}
}

// notePathsLocked tells the bind each configured peer's map endpoint.
func (e *Engine) notePathsLocked(want map[wire.WGPublic]peerConf) {
	if e.bind == nil {
		return
	}
	eps := make(map[wire.WGPublic]netip.AddrPort, len(want))
	for k, c := range want {
		eps[k] = c.endpoint
	}
	e.bind.setPeers(eps)
}
