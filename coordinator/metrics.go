package coordinator

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wardnet/ward/internal/giveback"
)

// metrics are the coordinator's Prometheus metrics, on a registry of its
// own so several coordinators can run in one process (tests).
type metrics struct {
	reg         *prometheus.Registry
	nodesOnline prometheus.Gauge
	mapSends    prometheus.Counter
	mapLatency  prometheus.Histogram
	// turnStart is how long a map stream took to start making its message
	// once the map budget gave it a turn (mapBudget): a turn counts as
	// making from then, so a stream that is slow to take it up (busy with
	// its removals, or not yet scheduled) holds back the others.
	turnStart prometheus.Histogram
	// mapBuilds counts map computations by kind: "whole" (a node's whole
	// map, diffed against what it holds), "delta" (only the peers a
	// change touched), "removals" (a paced stream's check for peers to
	// drop at once) or "filter" (its check whether its filter narrowed).
	// Keep-alives make none.
	mapBuilds *prometheus.CounterVec
	// mapViews counts the whole maps made from view classes (viewclass.go)
	// by what they cost: "view" (the class's entries made: a grants and
	// routes computation per peer), "diff" (a diff against the held peers
	// made), "shared" (the diff another stream of the class made, taken),
	// "block" (a diff's peers made into one binary block, for the streams
	// of wire.FeatureBinaryPeers), "block-shared" (that block, made by
	// another stream, sent as it is).
	mapViews *prometheus.CounterVec
	// presence counts map streams' connects and disconnects (a node's
	// first stream opening, its last closing), which are not audited.
	presence      *prometheus.CounterVec
	registrations *prometheus.CounterVec
	deniedFlows   prometheus.Counter
	// beatsMissed counts map streams ended because their node stopped
	// beating (wire.MapBeatParam).
	beatsMissed prometheus.Counter
	// beatsForwarded counts beats forwarded to the other coordinators on
	// the database (beats of machines with no stream here).
	beatsForwarded prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		nodesOnline: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ward_nodes_online", Help: "Nodes with an open map stream on this coordinator (see ward_fleet_nodes_online for the whole fleet)."}),
		mapSends: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ward_map_sends_total", Help: "Map messages sent (full and delta, not keep-alives)."}),
		mapLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ward_map_latency_seconds", Help: "Time from a change to its map message being written.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 17)}), // 0.5 ms to 33 s: a 50,000-node policy change takes over 4 s
		turnStart: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ward_map_turn_start_seconds", Help: "Time from the map budget giving a stream its turn to the stream starting to make its message.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10)}),
		mapBuilds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_map_builds_total", Help: "Map computations by kind (whole: a node's whole map; delta: the peers a change touched; removals: a paced stream's check for peers to drop at once; filter: its check whether its filter narrowed)."}, []string{"kind"}),
		mapViews: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_map_views_total", Help: "Whole maps made from view classes by cost (view: a class's peers and grants computed; diff: a diff against the held peers made; shared: a diff another stream of the class made, taken; block: a diff's peers made into one binary block; block-shared: that block, made by another stream, sent as is)."}, []string{"cost"}),
		presence: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_node_presence_total", Help: "Nodes coming online (first map stream) and going offline (last one closed)."}, []string{"state"}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_registrations_total", Help: "Node registrations by result."}, []string{"result"}),
		deniedFlows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ward_denied_flows_total", Help: "Denied inbound flows reported by nodes."}),
		beatsMissed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ward_map_beats_missed_total", Help: "Map streams ended because their node (a subnet router) stopped beating."}),
		beatsForwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ward_beats_forwarded_total", Help: "Beats of machines with no stream on this coordinator forwarded to the others on the database."}),
	}
	m.reg.MustRegister(m.nodesOnline, m.mapSends, m.mapLatency, m.turnStart, m.mapBuilds, m.mapViews, m.presence, m.registrations, m.deniedFlows, m.beatsMissed,
		m.beatsForwarded)
	return m
}

// watchFleet registers ward_fleet_nodes_online, read from nm at each
// scrape: the nodes online on any coordinator of the database, which every
// replica agrees on (ward_nodes_online counts this one's streams only).
func (m *metrics) watchFleet(nm *netmap) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ward_fleet_nodes_online",
		Help: "Nodes with a map stream on any coordinator of the fleet (every replica on one database reports the same).",
	}, func() float64 { return float64(nm.onlineNodes()) }))
}

// watchGiveBacks registers ward_memory_give_backs_total, read from
// giveback.Count at each scrape (0 while --memory-give-back is off).
func (m *metrics) watchGiveBacks() {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "ward_memory_give_backs_total",
		Help: "Times the coordinator gave a burst's memory back to the operating system (two collections each).",
	}, func() float64 { return float64(giveback.Count()) }))
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
