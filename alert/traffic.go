package alert

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tailscale/hujson"
)

// Kinds of the unusual-traffic rules, evaluated by the coordinator's
// traffic job from the stored flow logs.
const (
	// KindTrafficAnomaly fires when a device's Metric this hour is at
	// least Factor times its baseline for that hour of day, and at least
	// Floor; it resolves when an hour ends back within bounds.
	KindTrafficAnomaly = "traffic_anomaly"
	// KindNewPeerOrPort fires once for each peer address, or protocol
	// and port, a device's accepted flows use for the first time in its
	// history (one event per new peer or port; no recovery).
	KindNewPeerOrPort = "new_peer_or_port"
)

// Metrics a traffic_anomaly rule compares, per device and hour.
const (
	// MetricFlows counts the connections (flow records' count).
	MetricFlows = "flows"
	// MetricBytes sums the bytes both ways.
	MetricBytes = "bytes"
	// MetricPeers counts the distinct peer addresses.
	MetricPeers = "peers"
	// MetricPorts counts the distinct protocols and ports.
	MetricPorts = "ports"
)

// metrics are the known metrics, in the order the parser names them.
var metrics = []string{MetricFlows, MetricBytes, MetricPeers, MetricPorts}

// DefaultMinHistory is how much flow history a device needs before the
// traffic rules judge it, unless the rule says "min_history".
const DefaultMinHistory = 72 * time.Hour

// TrafficRule is what the unusual-traffic kinds add to a Rule.
type TrafficRule struct {
	// Metric is one of the Metric constants (KindTrafficAnomaly).
	Metric string
	// Factor is how many times the baseline mean the hour must reach
	// (KindTrafficAnomaly; > 1).
	Factor float64
	// Floor is the least the hour must reach besides, in the metric's
	// unit, so a quiet device's mean of 0 or 1 does not page for 5.
	Floor float64
	// MinHistory is how long before now a device's first flow must be
	// for the rule to judge it (DefaultMinHistory when zero).
	MinHistory time.Duration
}

// Traffic reports whether kind is one of the unusual-traffic kinds.
func Traffic(kind string) bool {
	return kind == KindTrafficAnomaly || kind == KindNewPeerOrPort
}

// trafficKey parses a rule key only the traffic kinds have; false when
// key is not one of them.
func (p *parser) trafficKey(r *Rule, key string, v *hujson.Value) bool {
	switch key {
	case "metric":
		r.Traffic.Metric = p.str(v, "metric")
		if !slices.Contains(metrics, r.Traffic.Metric) {
			p.errorf(v.StartOffset, "metric %q: one of %s", r.Traffic.Metric, strings.Join(metrics, ", "))
		}
	case "factor":
		var ok bool
		if r.Traffic.Factor, ok = p.number(v, "factor"); ok && r.Traffic.Factor <= 1 {
			p.errorf(v.StartOffset, "factor must be more than 1")
		}
	case "floor":
		r.Traffic.Floor, _ = p.number(v, "floor")
	case "min_history":
		r.Traffic.MinHistory = p.duration(v, "min_history")
	default:
		return false
	}
	return true
}

// trafficKeys names the keys trafficKey knows, for messages.
const trafficKeys = "metric, factor, floor, min_history"

// number parses a non-negative number; false when v is not one.
func (p *parser) number(v *hujson.Value, what string) (float64, bool) {
	lit, ok := v.Value.(hujson.Literal)
	f, err := strconv.ParseFloat(string(lit), 64)
	if !ok || lit.Kind() != '0' || err != nil || f < 0 {
		p.errorf(v.StartOffset, "%s must be a number of at least 0", what)
		return 0, false
	}
	return f, true
}

// checkTraffic reports what a traffic rule lacks, or traffic keys on a
// rule of another kind.
func (p *parser) checkTraffic(r *Rule, off int) {
	t := r.Traffic
	switch {
	case r.Kind == KindTrafficAnomaly && (t.Metric == "" || t.Factor == 0):
		p.errorf(off, "rule %q: %s needs \"metric\" and \"factor\" (and \"floor\")", r.Name, KindTrafficAnomaly)
	case r.Kind == KindNewPeerOrPort && (t.Metric != "" || t.Factor != 0 || t.Floor != 0):
		p.errorf(off, "rule %q: %s takes no metric, factor or floor", r.Name, KindNewPeerOrPort)
	case !Traffic(r.Kind) && t != TrafficRule{}:
		p.errorf(off, "rule %q: %s are for %s and %s rules only", r.Name, trafficKeys, KindTrafficAnomaly, KindNewPeerOrPort)
	}
	if Traffic(r.Kind) && r.Traffic.MinHistory == 0 {
		r.Traffic.MinHistory = DefaultMinHistory
	}
}
