package coordinator

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the coordinator's Prometheus metrics, on a registry of its
// own so several coordinators can run in one process (tests).
type metrics struct {
	reg           *prometheus.Registry
	nodesOnline   prometheus.Gauge
	mapSends      prometheus.Counter
	mapLatency    prometheus.Histogram
	registrations *prometheus.CounterVec
	deniedFlows   prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		nodesOnline: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ward_nodes_online", Help: "Nodes with an open map stream."}),
		mapSends: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ward_map_sends_total", Help: "Map messages sent (full and delta, not keep-alives)."}),
		mapLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ward_map_latency_seconds", Help: "Time from a change to its map message being written.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_registrations_total", Help: "Node registrations by result."}, []string{"result"}),
		deniedFlows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ward_denied_flows_total", Help: "Denied inbound flows reported by nodes."}),
	}
	m.reg.MustRegister(m.nodesOnline, m.mapSends, m.mapLatency, m.registrations, m.deniedFlows)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
