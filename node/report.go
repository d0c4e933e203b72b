package node

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"github.com/wardnet/ward/node/control"
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

// reportLoop sends reports: the endpoints and exposed ports when asked,
// and denied flows as they come, until ctx is done. Reports are paced to
// one per reportInterval, except the first endpoints of a data plane
// (its listen port): no peer can reach the node before the coordinator
// has passed them on, so they go out at once.
func (a *Agent) reportLoop(ctx context.Context) {
	var last time.Time       // when the last report was sent
	var endpointsPort uint16 // the listen port of the last endpoints sent
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
		port := a.eng.ListenPort()
		urgent := port != 0 && port != endpointsPort && a.needEndpoints.Load()
		if !urgent && !sleep(ctx, time.Until(last.Add(reportInterval))) {
			return
		}
		r, ok := a.reportOnce(ctx)
		if r.sent {
			last = time.Now()
		}
		if ok && r.endpointsPort != 0 {
			endpointsPort = r.endpointsPort
		}
		if !ok {
			retry = time.After(reportRetry)
		}
	}
}

// reportSent tells what reportOnce sent.
type reportSent struct {
	// sent is set when a report was sent (whether or not it went through).
	sent bool
	// endpointsPort is the listen port of the endpoints it carried; 0
	// when none.
	endpointsPort uint16
}

// reportOnce sends what there is to report and reports whether it all
// went through (true when there was nothing to send); what did not is
// kept for the next try.
func (a *Agent) reportOnce(ctx context.Context) (reportSent, bool) {
	sent, ok := a.reportFlowsAndEndpoints(ctx)
	portsSent, portsOK := a.reportPorts(ctx)
	sent.sent = sent.sent || portsSent
	return sent, ok && portsOK
}

// reportFlowsAndEndpoints sends the denied flows and, when asked, the
// endpoints, and reports whether they went through (true when there was
// nothing to send); what it carried is kept for the next try when it did
// not.
func (a *Agent) reportFlowsAndEndpoints(ctx context.Context) (reportSent, bool) {
	r := wire.Report{DeniedFlows: a.eng.denied.take(wire.MaxDeniedPerReport)}
	// Endpoints wait for the data plane (and its port); HandleMap asks
	// again when it starts.
	port := a.eng.ListenPort()
	sendEndpoints := port != 0 && a.needEndpoints.Swap(false)
	if sendEndpoints {
		r.Endpoints = a.endpoints(port)
	}
	if len(r.DeniedFlows) == 0 && !sendEndpoints {
		return reportSent{}, true
	}
	a.logDenied(r.DeniedFlows)
	sent := reportSent{sent: true}
	if sendEndpoints {
		sent.endpointsPort = port
	}
	if err := a.client.Report(ctx, r); err != nil {
		a.log.Info("send report", "err", err)
		a.eng.denied.putBack(r.DeniedFlows)
		if sendEndpoints {
			a.needEndpoints.Store(true)
		}
		return sent, false
	}
	return sent, true
}

// reportPorts sends the exposed ports when asked to, in a report of their
// own: a coordinator older than wire.Report.ExposedPorts refuses the whole
// report (400), which must not hold back endpoints and denied flows. Such
// a refusal is final for this run. It reports whether a report was sent
// and whether there is nothing left to retry.
func (a *Agent) reportPorts(ctx context.Context) (sent, ok bool) {
	if !a.needPorts.Swap(false) {
		return false, true
	}
	ports := sortedPorts(a.cfg.Expose)
	err := a.client.Report(ctx, wire.Report{ExposedPorts: ports})
	switch {
	case err == nil:
		a.portsSent.Store(true)
		a.log.Info("exposed ports reported", "ports", ports)
	case control.IsPermanent(err):
		a.portsSent.Store(true)
		a.log.Warn("coordinator refused the exposed ports; they stay as registered", "ports", ports, "err", err)
	default:
		a.log.Info("send exposed ports", "err", err)
		a.needPorts.Store(true)
		return true, false
	}
	return true, true
}

// checkExposed asks the reporter to send the exposed ports when the
// coordinator's registered ones differ from the configured ones (the node
// was restarted with other --expose ports). An empty configuration cannot
// be sent (see wire.Report.ExposedPorts). They are sent once per run: a
// coordinator that ignores them is not asked again.
func (a *Agent) checkExposed(registered []uint16) {
	if len(a.cfg.Expose) == 0 || a.portsSent.Load() || slices.Equal(sortedPorts(registered), sortedPorts(a.cfg.Expose)) {
		return
	}
	a.needPorts.Store(true)
	kick(a.kickReport)
}

// sortedPorts returns ports sorted, without duplicates, in a new slice.
func sortedPorts(ports []uint16) []uint16 {
	out := slices.Clone(ports)
	slices.Sort(out)
	return slices.Compact(out)
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
// setup), else the host's non-loopback unicast addresses; all with port
// (WireGuard's listen port) unless configured otherwise.
func (a *Agent) endpoints(port uint16) []netip.AddrPort {
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
