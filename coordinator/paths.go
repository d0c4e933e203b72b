package coordinator

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

const (
	// maxPathReports bounds the nodes whose path report is kept: more
	// than a fleet has; past it the oldest report goes.
	maxPathReports = 1 << 16
	// pathsFresh is how long a path report counts in ward_peer_paths: a
	// node refreshes its report every 30 s, so one older than this is
	// from a node that went away.
	pathsFresh = 2 * time.Minute
)

// pathReports holds each node's latest path report: soft state, in memory
// only (a restart forgets it, and the node's next report brings it back).
// Entries were checked (checkPaths) and list only the node's peers at the
// time of the report.
type pathReports struct {
	max int

	mu sync.Mutex // mu guards the following
	// byNode holds the latest report of each node.
	byNode map[store.NodeID]pathEntry
}

// pathEntry is one node's latest report and when it came.
type pathEntry struct {
	at  time.Time
	rep wire.NodePaths
}

func newPathReports(max int) *pathReports {
	return &pathReports{max: max, byNode: map[store.NodeID]pathEntry{}}
}

// put makes rep node id's latest report, received at now; when the table
// is full, the oldest report of another node goes.
func (r *pathReports) put(id store.NodeID, rep wire.NodePaths, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byNode[id]; !ok && len(r.byNode) >= r.max {
		r.evictOldestLocked()
	}
	r.byNode[id] = pathEntry{at: now, rep: rep}
}

func (r *pathReports) evictOldestLocked() {
	var oldest store.NodeID
	var at time.Time
	for id, e := range r.byNode {
		if at.IsZero() || e.at.Before(at) {
			oldest, at = id, e.at
		}
	}
	delete(r.byNode, oldest)
}

// get returns node id's latest report.
func (r *pathReports) get(id store.NodeID) (pathEntry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byNode[id]
	return e, ok
}

// forget drops node id's report (the node was removed).
func (r *pathReports) forget(id store.NodeID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byNode, id)
}

// pathTotals are the fleet's path figures for the metrics.
type pathTotals struct {
	// directTx, directRx, relayTx, relayRx sum every kept report's bytes.
	directTx, directRx, relayTx, relayRx uint64
	// peers counts the peer paths of fresh reports by kind.
	peers map[string]int
}

// totals sums the kept reports: bytes over all of them (each node's
// counters grow until it restarts), path kinds over those received within
// pathsFresh of now.
func (r *pathReports) totals(now time.Time) pathTotals {
	t := pathTotals{peers: map[string]int{wire.PathKindDirect: 0, wire.PathKindRelay: 0, wire.PathKindNone: 0}}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.byNode {
		p := e.rep
		t.directTx += p.DirectTxBytes
		t.directRx += p.DirectRxBytes
		t.relayTx += p.RelayTxBytes
		t.relayRx += p.RelayRxBytes
		if now.Sub(e.at) > pathsFresh {
			continue
		}
		for _, pp := range p.Peers {
			t.peers[pp.Kind]++
		}
	}
	return t
}

// checkPaths refuses a path report that breaks wire.NodePaths' rules: too
// many peers, a peer twice, an unknown kind, a direct path without a
// valid address or another with one, a relay name on a path not relayed,
// a negative duration, or a note or relay name too long or not printable.
func checkPaths(p *wire.NodePaths) error {
	if len(p.Peers) > wire.MaxPathsPerReport {
		return fmt.Errorf("%w: %d paths, at most %d", errBadRequest, len(p.Peers), wire.MaxPathsPerReport)
	}
	if !printable(p.Relay, wire.MaxRelayNameBytes) {
		return fmt.Errorf("%w: bad relay name", errBadRequest)
	}
	if p.Reflexive.IsValid() && p.Reflexive.Port() == 0 {
		return fmt.Errorf("%w: bad reflexive address %v", errBadRequest, p.Reflexive)
	}
	seen := make(map[wire.NodeID]bool, len(p.Peers))
	for _, pp := range p.Peers {
		if seen[pp.Peer] {
			return fmt.Errorf("%w: peer %d listed twice", errBadRequest, pp.Peer)
		}
		seen[pp.Peer] = true
		if err := checkPeerPath(pp); err != nil {
			return fmt.Errorf("%w: path to peer %d: %w", errBadRequest, pp.Peer, err)
		}
	}
	return nil
}

// checkPeerPath checks one entry of a path report.
func checkPeerPath(pp wire.PeerPath) error {
	switch pp.Kind {
	case wire.PathKindDirect:
		if !validAddrPort(pp.Addr) {
			return fmt.Errorf("direct path without a valid address")
		}
	case wire.PathKindRelay, wire.PathKindNone:
		if pp.Addr.IsValid() {
			return fmt.Errorf("address on a %s path", pp.Kind)
		}
	default:
		return fmt.Errorf("unknown kind %.20q", pp.Kind)
	}
	if (pp.Relay != "" && pp.Kind != wire.PathKindRelay) || !printable(pp.Relay, wire.MaxRelayNameBytes) {
		return fmt.Errorf("bad relay name, or one on a %s path", pp.Kind)
	}
	if pp.RTTMicros < 0 || pp.HandshakeAgeMillis < 0 {
		return fmt.Errorf("negative round trip or handshake age")
	}
	if !printable(pp.Note, wire.MaxPathNoteBytes) {
		return fmt.Errorf("note too long or not printable")
	}
	return nil
}

func validAddrPort(a netip.AddrPort) bool {
	return a.IsValid() && a.Port() != 0 && !a.Addr().IsUnspecified()
}

// printable reports whether s is valid UTF-8 of at most max bytes without
// control characters.
func printable(s string, max int) bool {
	if len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// onlyPeers returns p's entries for the nodes in peers (the reporter's
// peers now); the others are dropped: a node speaks only of its peers.
func onlyPeers(p wire.NodePaths, peers map[store.NodeID]string) wire.NodePaths {
	out := p
	out.Peers = make([]wire.PeerPath, 0, len(p.Peers))
	for _, pp := range p.Peers {
		if _, ok := peers[store.NodeID(pp.Peer)]; ok {
			out.Peers = append(out.Peers, pp)
		}
	}
	return out
}

// livePeersOf returns node id's live peers (as its map has them) by id,
// with their names; empty when the node is not live.
func (m *netmap) livePeersOf(id store.NodeID) map[store.NodeID]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[store.NodeID]string{}
	n, ok := m.nodes[id]
	if !ok || !m.live[id] {
		return out
	}
	res, err := m.comp.Result(n.Name)
	if err != nil {
		return out
	}
	for _, name := range res.Peers {
		if pid, ok := m.byName[name]; ok && m.live[pid] {
			out[pid] = name
		}
	}
	return out
}

// adminPaths is node id's latest path report as admins see it, with the
// entries of its current peers only; nil when it sent none.
func (s *core) adminPaths(id store.NodeID) *wire.AdminPaths {
	e, ok := s.paths.get(id)
	if !ok {
		return nil
	}
	p := e.rep
	out := &wire.AdminPaths{ReportedAt: e.at, PathSummary: p.PathSummary, Peers: []wire.AdminPeerPath{}}
	peers := s.nm.livePeersOf(id)
	for _, pp := range p.Peers {
		name, ok := peers[store.NodeID(pp.Peer)]
		if !ok {
			continue
		}
		ap := wire.AdminPeerPath{ID: pp.Peer, Name: name, Kind: pp.Kind, Addr: pp.Addr, RTTMicros: pp.RTTMicros, Note: pp.Note}
		if ap.Relay = pp.Relay; pp.Kind == wire.PathKindRelay && ap.Relay == "" {
			ap.Relay = p.Relay
		}
		if pp.HandshakeAgeMillis > 0 {
			ap.LastHandshake = e.at.Add(-time.Duration(pp.HandshakeAgeMillis) * time.Millisecond)
		}
		out.Peers = append(out.Peers, ap)
	}
	return out
}

// pathCollector exports the fleet's path figures, computed at each
// scrape from the kept reports: ward_path_bytes_total{path,dir} and
// ward_peer_paths{path}.
type pathCollector struct {
	paths *pathReports
	bytes *prometheus.Desc
	peers *prometheus.Desc
}

func newPathCollector(p *pathReports) *pathCollector {
	return &pathCollector{paths: p,
		bytes: prometheus.NewDesc("ward_path_bytes_total",
			"Bytes nodes sent (tx) and received (rx) over direct UDP paths and over relays, summed over each node's latest report (a node's counters start again when it restarts).",
			[]string{"path", "dir"}, nil),
		peers: prometheus.NewDesc("ward_peer_paths",
			"Peer paths by kind in the nodes' reports of the last two minutes (each side of a pair counts its own path).",
			[]string{"path"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *pathCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.bytes
	ch <- c.peers
}

// Collect implements prometheus.Collector.
func (c *pathCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.paths.totals(time.Now())
	for _, b := range []struct {
		path, dir string
		v         uint64
	}{{"direct", "tx", t.directTx}, {"direct", "rx", t.directRx}, {"relay", "tx", t.relayTx}, {"relay", "rx", t.relayRx}} {
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(b.v), b.path, b.dir)
	}
	for kind, n := range t.peers {
		ch <- prometheus.MustNewConstMetric(c.peers, prometheus.GaugeValue, float64(n), kind)
	}
}
