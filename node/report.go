package node

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"time"

	"github.com/wardnet/ward/wire"
)

const (
	// reportInterval is the least time between two reports.
	reportInterval = time.Second
	// reportRetry is the wait before a failed report is tried again.
	reportRetry = 5 * time.Second
)

// requestEndpoints makes the reporter send the endpoints soon.
func (a *Agent) requestEndpoints() {
	a.needEndpoints.Store(true)
	kick(a.kickReport)
}

// reportLoop sends reports: the endpoints when asked, and denied flows as
// they come, at most one report per reportInterval, until ctx is done.
func (a *Agent) reportLoop(ctx context.Context) {
	var last time.Time
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.kickReport:
		case <-a.eng.denied.ready:
		case <-retry:
		}
		retry = nil
		if !sleep(ctx, time.Until(last.Add(reportInterval))) {
			return
		}
		last = time.Now()
		if !a.reportOnce(ctx) {
			retry = time.After(reportRetry)
		}
	}
}

// reportOnce sends one report and reports whether it went through; what
// it carried is kept for the next try when it did not.
func (a *Agent) reportOnce(ctx context.Context) bool {
	r := wire.Report{DeniedFlows: a.eng.denied.take(wire.MaxDeniedPerReport)}
	// Endpoints wait for the data plane (and its port); HandleMap asks
	// again when it starts.
	sendEndpoints := a.eng.ListenPort() != 0 && a.needEndpoints.Swap(false)
	if sendEndpoints {
		r.Endpoints = a.endpoints()
	}
	if len(r.DeniedFlows) == 0 && !sendEndpoints {
		return true
	}
	a.logDenied(r.DeniedFlows)
	if err := a.client.Report(ctx, r); err != nil {
		a.log.Info("send report", "err", err)
		a.eng.denied.putBack(r.DeniedFlows)
		if sendEndpoints {
			a.needEndpoints.Store(true)
		}
		return false
	}
	return true
}

// logDenied logs each denied-flow aggregate with the source's identity.
func (a *Agent) logDenied(flows []wire.DeniedFlow) {
	nm := a.eng.nm.Load()
	for _, f := range flows {
		src := nm.peers[nm.byAddr[f.Src]]
		a.log.Info("denied inbound flow", "src", f.Src, "src_node", src.Name, "src_user", src.User, "src_tags", src.Tags,
			"dst", f.Dst, "proto", f.Proto, "port", f.Port, "count", f.Count)
	}
}

// endpoints returns the UDP endpoints to announce: the configured ones,
// else 127.0.0.1 when the coordinator is on loopback (a development
// setup), else the host's non-loopback unicast addresses; all with the
// WireGuard listen port.
func (a *Agent) endpoints() []netip.AddrPort {
	port := a.eng.ListenPort()
	var out []netip.AddrPort
	if a.cfg.Endpoints != nil {
		for _, ep := range a.cfg.Endpoints {
			if ep.Port() == 0 {
				ep = netip.AddrPortFrom(ep.Addr(), port)
			}
			out = append(out, ep)
		}
		return capEndpoints(out)
	}
	if u, err := url.Parse(a.client.URL()); err == nil && isLoopbackHost(u.Hostname()) {
		return []netip.AddrPort{netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port)}
	}
	addrs, _ := net.InterfaceAddrs()
	for _, ad := range addrs {
		p, err := netip.ParsePrefix(ad.String())
		if err != nil || p.Addr().IsLoopback() || p.Addr().IsLinkLocalUnicast() || !p.Addr().IsGlobalUnicast() {
			continue
		}
		out = append(out, netip.AddrPortFrom(p.Addr(), port))
	}
	return capEndpoints(out)
}

func capEndpoints(eps []netip.AddrPort) []netip.AddrPort {
	return eps[:min(len(eps), wire.MaxEndpoints)]
}

// isLoopbackHost reports whether host is "localhost" or a loopback IP.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// sleep waits d (nothing when d <= 0) or until ctx is done, and reports
// whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
