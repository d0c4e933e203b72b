package node

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/wire"
)

// checkRoutes asks the reporter to send the advertised routes once per
// run: when the node advertises some, or when its map says it serves
// routes it no longer advertises (served holds Self.Routes). A
// coordinator older than wire.FeatureSubnetRoutes is not asked.
func (s *Session) checkRoutes(served []netip.Prefix) {
	if s.routesSent.Load() || (len(s.cfg.routes) == 0 && len(served) == 0) {
		return
	}
	if !wire.Supports(s.client.ServerVersion(), wire.FeatureSubnetRoutes) {
		return
	}
	s.needRoutes.Store(true)
	kick(s.kickReport)
}

// routerBeat is the map stream beat (control.Config.Beat) of a node that
// advertises routes: control.DefaultRouterBeat, so that its routes move
// to another router within seconds of it stopping; none for other nodes.
func routerBeat(routes []netip.Prefix) time.Duration {
	if len(routes) == 0 {
		return 0
	}
	return control.DefaultRouterBeat
}

// reportRoutes sends the advertised routes when asked to, in a report of
// their own (as reportPorts). A permanent refusal is final for this run.
func (s *Session) reportRoutes(ctx context.Context) (sent bool, err error) {
	if !s.needRoutes.Swap(false) {
		return false, nil
	}
	routes := append([]netip.Prefix{}, s.cfg.routes...) // never nil: empty withdraws
	err = s.client.Report(ctx, wire.Report{AdvertisedRoutes: routes})
	switch {
	case err == nil:
		s.routesSent.Store(true)
		s.log.Info("advertised routes reported", "routes", routes)
	case control.IsPermanent(err):
		s.routesSent.Store(true)
		s.log.Warn("coordinator refused the advertised routes", "routes", routes, "err", err)
	default:
		s.needRoutes.Store(true)
		return true, fmt.Errorf("send advertised routes: %w", err)
	}
	return true, nil
}

// cutRoutesLocked follows the subnet routes the map gives this node: it
// routes them into the TUN (EngineConfig.TUNRoutes) when they change, and
// ends the flows toward one that left (see netstack.Stack.CutUnreachable).
func (e *Engine) cutRoutesLocked(dp *dataplane, nm *netmap) {
	var now []netip.Prefix
	for _, p := range nm.peers {
		now = append(now, p.Routes...)
	}
	gone := slices.ContainsFunc(e.routed, func(r netip.Prefix) bool { return !slices.Contains(now, r) })
	changed := gone || slices.ContainsFunc(now, func(r netip.Prefix) bool { return !slices.Contains(e.routed, r) })
	e.routed = now
	if changed && e.cfg.TUNRoutes != nil {
		if err := e.cfg.TUNRoutes(now); err != nil {
			e.log.Warn("route subnet routes into the tun", "routes", now, "err", err)
		}
	}
	if kn, ok := dp.net.(*kernelNet); ok && changed {
		if err := kn.k.SetPeerRoutes(now); err != nil {
			e.log.Warn("route subnet routes into the wireguard link", "routes", now, "err", err)
		}
	}
	if !gone {
		return
	}
	dp.net.CutUnreachable(func(a netip.Addr) bool {
		if _, ok := nm.byAddr[a]; ok {
			return true
		}
		_, ok := nm.routerOf(a)
		return ok
	})
}
