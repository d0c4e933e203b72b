package node

import (
	"context"
	"errors"
	"fmt"
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
func (s *Session) requestEndpoints() {
	s.needEndpoints.Store(true)
	kick(s.kickReport)
}

// reportLoop sends reports: the endpoints and exposed ports when asked,
// denied flows as they come, and the paths when they change or are due
// (see pathReporter, looked at every pathCheckEvery), until ctx is done. Reports are paced to
// one per reportInterval, except the first endpoints of a data plane
// (its listen port): no peer can reach the node before the coordinator
// has passed them on, so they go out at once. The coordinator limits each
// node's reports (by default 30 at once, then two a second), so this pace
// stays well inside it even under a port scan. When it answers 429 (or
// 503) with Retry-After, nothing is sent before that wait has passed,
// however often denied flows or map changes ask.
func (s *Session) reportLoop(ctx context.Context) {
	var last time.Time       // when the last report was sent
	var notBefore time.Time  // no report before this (the coordinator's Retry-After)
	var endpointsPort uint16 // the listen port of the last endpoints sent
	var retry <-chan time.Time
	var paths pathReporter
	pathTick := time.NewTicker(pathCheckEvery)
	defer pathTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kickReport:
		case <-s.eng.denied.ready:
		case <-retry:
		case <-pathTick.C:
		}
		retry = nil
		port := s.eng.ListenPort()
		urgent := port != 0 && port != endpointsPort && s.needEndpoints.Load()
		wait := time.Until(last.Add(reportInterval))
		if urgent {
			wait = 0
		}
		if !sleep(ctx, max(wait, time.Until(notBefore))) {
			return
		}
		r := s.reportOnce(ctx, &paths)
		if r.sent {
			last = time.Now()
		}
		if r.retryIn == 0 && r.endpointsPort != 0 {
			endpointsPort = r.endpointsPort
		}
		if r.retryIn > 0 {
			retry = time.After(r.retryIn)
		}
		if r.holdOff {
			notBefore = time.Now().Add(r.retryIn)
		}
	}
}

// reportResult tells what reportOnce sent and when to try again.
type reportResult struct {
	// sent is set when a report was sent (whether or not it went through).
	sent bool
	// endpointsPort is the listen port of the endpoints it carried; 0
	// when none.
	endpointsPort uint16
	// retryIn is the wait before what did not go through is tried again;
	// 0 when everything did.
	retryIn time.Duration
	// holdOff is set when the coordinator asked for that wait (429, or
	// Retry-After): nothing may be sent before it has passed.
	holdOff bool
}

// reportOnce sends what there is to report; what did not go through is
// kept for the next try. After a failure it sends nothing more: the
// exposed ports and the paths wait for the next try with the rest.
func (s *Session) reportOnce(ctx context.Context, paths *pathReporter) reportResult {
	r, err := s.reportFlowsAndEndpoints(ctx)
	if err == nil {
		var sent bool
		sent, err = s.reportPorts(ctx)
		r.sent = r.sent || sent
	}
	if err == nil {
		var sent bool
		sent, err = s.reportRoutes(ctx)
		r.sent = r.sent || sent
	}
	if err == nil {
		var sent bool
		sent, err = s.reportPaths(ctx, paths)
		r.sent = r.sent || sent
	}
	if err != nil {
		r.retryIn, r.holdOff = reportRetryIn(err)
		s.log.Info("send report", "err", err, "retry_in", r.retryIn)
	}
	return r
}

// reportRetryIn returns the wait after a failed report, and whether the
// coordinator asked for it (then nothing may be sent before it passes): a
// 429 or a Retry-After waits what the coordinator said (at least
// minRetryAfter), anything else reportRetry.
func reportRetryIn(err error) (wait time.Duration, holdOff bool) {
	if d, ok := control.RetryAfter(err); ok {
		return max(d, minRetryAfter), true
	}
	return reportRetry, errors.Is(err, control.ErrRateLimited)
}

// reportFlowsAndEndpoints sends the denied flows and, when asked, the
// endpoints (nothing when there is neither); what it carried is kept for
// the next try when it did not go through.
func (s *Session) reportFlowsAndEndpoints(ctx context.Context) (reportResult, error) {
	r := wire.Report{DeniedFlows: s.eng.denied.take(wire.MaxDeniedPerReport)}
	// Endpoints wait for the data plane (and its port); HandleMap asks
	// again when it starts.
	port := s.eng.ListenPort()
	sendEndpoints := port != 0 && s.needEndpoints.Swap(false)
	if sendEndpoints {
		r.Endpoints = s.endpoints(port)
		if wire.Supports(s.client.ServerVersion(), wire.FeatureStandaloneRelays) {
			r.HomeRelay = s.eng.HomeRelay()
		}
	}
	if len(r.DeniedFlows) == 0 && !sendEndpoints {
		return reportResult{}, nil
	}
	s.logDenied(r.DeniedFlows)
	sent := reportResult{sent: true}
	if sendEndpoints {
		sent.endpointsPort = port
	}
	if err := s.client.Report(ctx, r); err != nil {
		s.eng.denied.putBack(r.DeniedFlows)
		if sendEndpoints {
			s.needEndpoints.Store(true)
		}
		return sent, err
	}
	return sent, nil
}

// reportPorts sends the exposed ports when asked to, in a report of their
// own: a coordinator older than wire.Report.ExposedPorts refuses the whole
// report (400), which must not hold back endpoints and denied flows. Such
// a refusal is final for this run. It reports whether a report was sent,
// and the error when they are to be sent again.
func (s *Session) reportPorts(ctx context.Context) (sent bool, err error) {
	if !s.needPorts.Swap(false) {
		return false, nil
	}
	ports := sortedPorts(s.cfg.expose)
	err = s.client.Report(ctx, wire.Report{ExposedPorts: ports})
	switch {
	case err == nil:
		s.portsSent.Store(true)
		s.log.Info("exposed ports reported", "ports", ports)
	case control.IsPermanent(err):
		s.portsSent.Store(true)
		s.log.Warn("coordinator refused the exposed ports; they stay as registered", "ports", ports, "err", err)
	default:
		s.needPorts.Store(true)
		return true, fmt.Errorf("send exposed ports: %w", err)
	}
	return true, nil
}

// checkExposed asks the reporter to send the exposed ports when the
// coordinator's registered ones differ from the configured ones (the node
// was restarted with other --expose ports). An empty configuration cannot
// be sent (see wire.Report.ExposedPorts). They are sent once per run: a
// coordinator that ignores them is not asked again.
func (s *Session) checkExposed(registered []uint16) {
	if len(s.cfg.expose) == 0 || s.portsSent.Load() || slices.Equal(sortedPorts(registered), sortedPorts(s.cfg.expose)) {
		return
	}
	s.needPorts.Store(true)
	kick(s.kickReport)
}

// sortedPorts returns ports sorted, without duplicates, in a new slice.
func sortedPorts(ports []uint16) []uint16 {
	out := slices.Clone(ports)
	slices.Sort(out)
	return slices.Compact(out)
}

// logDenied logs each denied-flow aggregate with the source's identity.
func (s *Session) logDenied(flows []wire.DeniedFlow) {
	nm := s.eng.nm.Load()
	for _, f := range flows {
		src := nm.peers[nm.byAddr[f.Src]]
		s.log.Info("denied inbound flow", "src", f.Src, "src_node", src.Name, "src_user", src.User, "src_tags", src.Tags,
			"dst", f.Dst, "proto", f.Proto, "port", f.Port, "count", f.Count)
	}
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
