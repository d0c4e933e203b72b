package coordinator

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/coordinator/store"
)

// Unusual-traffic bounds.
const (
	// baselineDays is the window the baselines learn from: a device's
	// hour of day is compared with the same hour of the days before.
	baselineDays = 7
	// trafficReadBatch bounds the flow records one read folds in.
	trafficReadBatch = 8192
	// maxNewPerRun bounds the new_peer_or_port alerts of one device in one
	// run; past it one alert says how many more there were.
	maxNewPerRun = 8
	// trafficCursor names the job's cursor (the last flow record folded
	// in) among the store's cursors.
	trafficCursor = "traffic"
)

// hourStats is one device's accepted flows in one hour.
type hourStats struct {
	flows, bytes float64
	peers        map[netip.Addr]struct{}
	ports        map[uint32]struct{}
}

// metric returns the stats' value of an alert.Metric.
func (h *hourStats) metric(m string) float64 {
	switch m {
	case alert.MetricFlows:
		return h.flows
	case alert.MetricBytes:
		return h.bytes
	case alert.MetricPeers:
		return float64(len(h.peers))
	}
	return float64(len(h.ports))
}

// baseline is one device's sums over the same hour of the days before,
// and how many days it existed in.
type baseline struct {
	sums    map[string]float64 // by metric
	samples int
}

// history is what a device's accepted flows used in the window.
type history struct {
	first time.Time
	peers map[netip.Addr]bool
	ports map[uint32]bool
}

// trafficJob learns per-device baselines from the stored flow logs and
// evaluates the traffic_anomaly and new_peer_or_port rules. It belongs to
// trafficLoop's goroutine (no lock). It folds in each record once, by ID
// after a cursor kept in the store, so a restart or another coordinator
// taking the job over resumes where it stopped; once an hour it sums the
// same hour of the last baselineDays days (one grouped query a day).
type trafficJob struct {
	// rules are the traffic rules in force, taken at each run (the rules
	// may be replaced while running).
	rules []alert.Rule
	// loaded is set once the state below was read for this run of the
	// job; cleared when another coordinator runs it.
	loaded bool
	cursor store.FlowID
	// hour is the hour cur and base are about.
	hour time.Time
	cur  map[string]*hourStats
	base map[string]baseline
	seen map[string]*history
}

// trafficRules returns the traffic rules of rs.
func trafficRules(rs *alert.Rules) []alert.Rule {
	var out []alert.Rule
	for _, r := range rs.Rules {
		if alert.Traffic(r.Kind) {
			out = append(out, r)
		}
	}
	return out
}

// trafficLoop runs the traffic job every TrafficEvery until ctx is done,
// while there are traffic rules and this coordinator holds the job.
func (s *core) trafficLoop(ctx context.Context) {
	if s.alerts == nil {
		return
	}
	j := &trafficJob{}
	t := time.NewTicker(s.cfg.TrafficEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if j.rules = trafficRules(s.alerts.ruleSet()); len(j.rules) == 0 || !s.runsJob(jobTraffic) {
			j.loaded = false
			continue
		}
		if err := s.trafficOnce(ctx, j, s.now()); err != nil && ctx.Err() == nil {
			s.log.Error("unusual-traffic job", "err", err)
			j.loaded = false
		}
	}
}

// now is the time of the jobs that take Config.Clock.
func (s *core) now() time.Time {
	if s.cfg.Clock != nil {
		return s.cfg.Clock()
	}
	return time.Now()
}

// trafficOnce folds in the records stored since the last run and
// evaluates the rules as of now.
func (s *core) trafficOnce(ctx context.Context, j *trafficJob, now time.Time) error {
	if !j.loaded {
		if err := s.trafficLoad(ctx, j, now); err != nil {
			return err
		}
	}
	if hour := now.UTC().Truncate(time.Hour); !hour.Equal(j.hour) {
		if err := s.trafficHour(ctx, j, hour); err != nil {
			return err
		}
	}
	tags := s.nodeTags()
	for {
		rs, err := s.st.FlowsAfter(ctx, j.cursor, trafficReadBatch)
		if err != nil {
			return err
		}
		s.trafficFold(ctx, j, rs, tags, now)
		if len(rs) < trafficReadBatch {
			break
		}
	}
	if err := s.st.SetCursor(ctx, trafficCursor, int64(j.cursor)); err != nil {
		return err
	}
	s.trafficJudge(ctx, j, tags, now)
	s.flushAlerts(ctx, time.Now())
	return nil
}

// trafficLoad reads the job's state: its cursor (on first use the last
// record, so the past raises nothing), what each device used in the
// window up to it, and this hour's records up to it.
func (s *core) trafficLoad(ctx context.Context, j *trafficJob, now time.Time) error {
	c, ok, err := s.st.Cursor(ctx, trafficCursor)
	if err != nil {
		return err
	}
	j.cursor = store.FlowID(c)
	if !ok {
		if j.cursor, err = s.st.LastFlowID(ctx); err != nil {
			return err
		}
	}
	j.hour = now.UTC().Truncate(time.Hour)
	uses, err := s.st.FlowUses(ctx, j.hour.Add(-baselineDays*24*time.Hour), j.cursor)
	if err != nil {
		return err
	}
	j.seen = map[string]*history{}
	for _, u := range uses {
		j.note(u.Node, u.Peer, portKey(u.Proto, u.Port), u.First)
	}
	if err := s.trafficHour(ctx, j, j.hour); err != nil {
		return err
	}
	recent, err := s.st.ListFlows(ctx, store.FlowFilter{Since: j.hour})
	if err != nil {
		return err
	}
	for _, r := range recent {
		if r.ID <= j.cursor && !r.Denied {
			j.count(r)
		}
	}
	j.loaded = true
	return nil
}

// trafficHour starts hour: its stats empty, and each device's baseline the
// same hour of the baselineDays days before, counting a day the device
// existed in without flows as zero. Alerts of an hour before that is back
// within bounds resolve at the next judgement.
func (s *core) trafficHour(ctx context.Context, j *trafficJob, hour time.Time) error {
	j.hour, j.cur, j.base = hour, map[string]*hourStats{}, map[string]baseline{}
	for d := 1; d <= baselineDays; d++ {
		from := hour.Add(-time.Duration(d) * 24 * time.Hour)
		totals, err := s.st.FlowTotals(ctx, from, from.Add(time.Hour))
		if err != nil {
			return err
		}
		for _, t := range totals {
			b := j.base[t.Node]
			if b.sums == nil {
				b.sums = map[string]float64{}
			}
			b.sums[alert.MetricFlows] += t.Flows
			b.sums[alert.MetricBytes] += t.Bytes
			b.sums[alert.MetricPeers] += t.Peers
			b.sums[alert.MetricPorts] += t.Ports
			j.base[t.Node] = b
		}
	}
	for node, h := range j.seen {
		b := j.base[node]
		b.samples = daysBefore(h.first, hour)
		j.base[node] = b
	}
	return nil
}

// daysBefore counts the days d in 1..baselineDays whose hour d days
// before hour began after first (the device existed then).
func daysBefore(first, hour time.Time) int {
	n := 0
	for d := 1; d <= baselineDays; d++ {
		if !hour.Add(-time.Duration(d) * 24 * time.Hour).Before(first.Truncate(time.Hour)) {
			n++
		}
	}
	return n
}

// note records that node used peer and port at at; it reports which of
// them are new to node's history.
func (j *trafficJob) note(node string, peer netip.Addr, port uint32, at time.Time) (newPeer, newPort bool) {
	h := j.seen[node]
	if h == nil {
		h = &history{first: at, peers: map[netip.Addr]bool{}, ports: map[uint32]bool{}}
		j.seen[node] = h
	}
	if at.Before(h.first) {
		h.first = at
	}
	newPeer, newPort = !h.peers[peer], !h.ports[port]
	h.peers[peer], h.ports[port] = true, true
	return newPeer, newPort
}

// count adds r to its device's stats of this hour.
func (j *trafficJob) count(r store.FlowRecord) {
	h := j.cur[r.NodeName]
	if h == nil {
		h = &hourStats{peers: map[netip.Addr]struct{}{}, ports: map[uint32]struct{}{}}
		j.cur[r.NodeName] = h
	}
	h.flows += float64(r.Count)
	h.bytes += float64(r.BytesSent) + float64(r.BytesRecv)
	h.peers[flowPeer(r)] = struct{}{}
	h.ports[portKey(r.Proto, r.Port)] = struct{}{}
}

// flowPeer is r's other end, as store.FlowStats defines it.
func flowPeer(r store.FlowRecord) netip.Addr {
	if r.Inbound {
		return r.Src
	}
	return r.Dst
}

// portKey packs a protocol and port as the store's totals count them.
func portKey(proto uint8, port uint16) uint32 { return uint32(proto)<<16 | uint32(port) }

// portName renders a portKey: "tcp/22".
func portName(k uint32) string {
	names := map[uint32]string{6: "tcp", 17: "udp", 132: "sctp"}
	name, ok := names[k>>16]
	if !ok {
		name = fmt.Sprintf("proto %d", k>>16)
	}
	return fmt.Sprintf("%s/%d", name, k&0xffff)
}

// trafficFold folds rs into the state and raises new_peer_or_port for
// what a device with enough history never used before.
func (s *core) trafficFold(ctx context.Context, j *trafficJob, rs []store.FlowRecord, tags map[string][]string, now time.Time) {
	news := map[string][]string{}
	for _, r := range rs {
		j.cursor = r.ID
		if r.Denied {
			continue
		}
		old := j.seen[r.NodeName] != nil
		newPeer, newPort := j.note(r.NodeName, flowPeer(r), portKey(r.Proto, r.Port), r.End)
		if !r.End.Before(j.hour) {
			j.count(r)
		}
		if !old {
			continue
		}
		if newPeer {
			news[r.NodeName] = append(news[r.NodeName], fmt.Sprintf("new peer %s%s (%s)", flowPeer(r), peerName(r), portName(portKey(r.Proto, r.Port))))
		}
		if newPort {
			news[r.NodeName] = append(news[r.NodeName], fmt.Sprintf("new port %s (with %s%s)", portName(portKey(r.Proto, r.Port)), flowPeer(r), peerName(r)))
		}
	}
	for node, what := range news {
		s.newPeerAlerts(ctx, j, node, what, tags[node], now)
	}
}

// peerName is " name" of r's other end's node, or "".
func peerName(r store.FlowRecord) string {
	n := r.DstNode
	if r.Inbound {
		n = r.SrcNode
	}
	if n == "" {
		return ""
	}
	return " " + n
}

// newPeerAlerts fires each new_peer_or_port rule that looks at node (by
// tags, and its history at least the rule's min_history) for what it
// used first, at most maxNewPerRun alerts and one saying how many more.
func (s *core) newPeerAlerts(ctx context.Context, j *trafficJob, node string, what []string, tags []string, now time.Time) {
	h := j.seen[node]
	for _, r := range j.rules {
		if r.Kind != alert.KindNewPeerOrPort || !tagged(r, tags) || now.Sub(h.first) < r.Traffic.MinHistory {
			continue
		}
		for i, w := range what {
			if i == maxNewPerRun {
				w = fmt.Sprintf("and %d more new peers or ports", len(what)-maxNewPerRun)
			}
			s.addEvent(ctx, r, "node:"+node, fmt.Sprintf("%s: %s, not in its flow history since %s (the last %d days)",
				node, w, h.first.UTC().Format(time.RFC3339), baselineDays), tags, now.UTC())
			if i == maxNewPerRun {
				break
			}
		}
	}
}

// trafficJudge fires each traffic_anomaly rule for the devices whose hour
// so far reaches its factor times their baseline mean and its floor, and
// resolves the alerts of earlier hours when this one is within bounds.
func (s *core) trafficJudge(ctx context.Context, j *trafficJob, tags map[string][]string, now time.Time) {
	for _, r := range j.rules {
		if r.Kind != alert.KindTrafficAnomaly {
			continue
		}
		for node, h := range j.cur {
			if msg, high := j.judge(r, node, h, tags[node], now); high {
				s.fire(ctx, r, "node:"+node, j.hour, msg, tags[node])
			}
		}
		for _, subject := range s.alerts.openBefore(r.Name, j.hour) {
			node := strings.TrimPrefix(subject, "node:")
			h := j.cur[node]
			if h == nil {
				h = &hourStats{}
			}
			if _, high := j.judge(r, node, h, tags[node], now); !high {
				s.resolve(ctx, r, subject, now, fmt.Sprintf("%s's %s back within %v× its baseline (%.4g this hour so far)",
					node, r.Traffic.Metric, r.Traffic.Factor, h.metric(r.Traffic.Metric)))
			}
		}
	}
}

// judge says whether node's hour h departs from its baseline as r sets,
// and explains it with the numbers.
func (j *trafficJob) judge(r alert.Rule, node string, h *hourStats, tags []string, now time.Time) (string, bool) {
	hist, b := j.seen[node], j.base[node]
	if hist == nil || !tagged(r, tags) || now.Sub(hist.first) < r.Traffic.MinHistory || b.samples == 0 {
		return "", false
	}
	t := r.Traffic
	mean := b.sums[t.Metric] / float64(b.samples)
	got := h.metric(t.Metric)
	if got < t.Floor || got < t.Factor*mean {
		return "", false
	}
	factor := "no traffic at this hour before"
	if mean > 0 {
		factor = fmt.Sprintf("%.1f× the mean", got/mean)
	}
	return fmt.Sprintf("%s: %s %.0f in the hour from %s UTC so far; baseline mean %.1f for that hour over %d days (%s; rule: at least %v× and %v)",
		node, t.Metric, got, j.hour.Format("15:04"), mean, b.samples, factor, t.Factor, t.Floor), true
}

// openBefore returns the subjects of rule's open alerts that began before
// t.
func (a *alerter) openBefore(rule string, t time.Time) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for k, al := range a.firing {
		if k[0] == rule && al.StartsAt.Before(t) {
			out = append(out, k[1])
		}
	}
	slices.Sort(out)
	return out
}

// nodeTags returns every node's tags by name.
func (s *core) nodeTags() map[string][]string {
	out := map[string][]string{}
	for _, n := range s.nm.presence() {
		out[n.name] = n.tags
	}
	return out
}
