package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

const (
	// pathCheckEvery is how often the reporter looks at the node's paths
	// for a change worth reporting.
	pathCheckEvery = 5 * time.Second
	// pathRefreshEvery is how often the paths are reported when nothing
	// changed (the byte counters, handshakes and round trips move).
	pathRefreshEvery = 30 * time.Second
)

// pathReporter decides when the node's paths go to the coordinator
// (wire.Report.Paths): when a peer's path kind or direct address changed,
// its first handshake completed, its direct path got its first round trip
// (a pong confirmed it), or a peer came or went, since the last report that went through, and
// otherwise every pathRefreshEvery. Only the report loop uses it: no lock.
type pathReporter struct {
	// checked is when the paths were last looked at.
	checked time.Time
	// sent is when the last report went through; last is what it said.
	sent time.Time
	last map[wire.NodeID]pathKey
	// off is set once the coordinator refused the paths (400): it is not
	// asked again in this run.
	off bool
}

// pathKey is what of a peer's path counts as a change.
type pathKey struct {
	kind string
	addr netip.AddrPort
	// handshook and measured tell whether a handshake completed and the
	// path has a round trip.
	handshook, measured bool
}

func keyOf(pp wire.PeerPath) pathKey {
	return pathKey{pp.Kind, pp.Addr, pp.HandshakeAgeMillis > 0, pp.RTTMicros > 0}
}

// due reports whether cur is to be sent at now: the first report, a
// change of a path's kind or address, a first handshake or round trip, a
// change of the peers, or a refresh.
func (p *pathReporter) due(cur wire.NodePaths, now time.Time) bool {
	if p.last == nil || now.Sub(p.sent) >= pathRefreshEvery || len(cur.Peers) != len(p.last) {
		return true
	}
	for _, pp := range cur.Peers {
		if k, ok := p.last[pp.Peer]; !ok || k != keyOf(pp) {
			return true
		}
	}
	return false
}

// wasSent records cur as reported at now.
func (p *pathReporter) wasSent(cur wire.NodePaths, now time.Time) {
	p.sent = now
	p.last = make(map[wire.NodeID]pathKey, len(cur.Peers))
	for _, pp := range cur.Peers {
		p.last[pp.Peer] = keyOf(pp)
	}
}

// reportPaths sends the node's paths when they are due, to a coordinator
// that speaks wire.FeaturePathReports only, looking at them at most every
// pathCheckEvery. It reports whether a report was sent, and the error
// when it is to be tried again.
func (s *Session) reportPaths(ctx context.Context, p *pathReporter) (sent bool, err error) {
	now := time.Now()
	if p.off || now.Sub(p.checked) < pathCheckEvery || !wire.Supports(s.client.ServerVersion(), wire.FeaturePathReports) {
		return false, nil
	}
	p.checked = now
	cur := nodePaths(s.eng.Status(), now)
	if !p.due(cur, now) {
		return false, nil
	}
	err = s.client.Report(ctx, wire.Report{Paths: &cur})
	var ae *control.APIError
	switch {
	case err == nil:
		p.wasSent(cur, now)
	case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
		p.off = true
		s.log.Warn("coordinator refused the path report; not sending it again", "err", err)
	default:
		p.checked = time.Time{}
		return true, fmt.Errorf("send paths: %w", err)
	}
	return true, nil
}

// nodePaths is the path report of st, the Engine's status at now: the
// peers with a path first, at most wire.MaxPathsPerReport.
func nodePaths(st localapi.Status, now time.Time) wire.NodePaths {
	ps := st.Paths
	out := wire.NodePaths{Peers: make([]wire.PeerPath, 0, min(len(st.Peers), wire.MaxPathsPerReport)),
		PathSummary: wire.PathSummary{Reflexive: ps.Reflexive, Relay: clip(ps.Relay, wire.MaxRelayNameBytes), RelayConnected: ps.RelayConnected,
			DirectTxBytes: ps.DirectTxBytes, DirectRxBytes: ps.DirectRxBytes, RelayTxBytes: ps.RelayTxBytes, RelayRxBytes: ps.RelayRxBytes}}
	peers := slices.Clone(st.Peers)
	slices.SortStableFunc(peers, func(a, b localapi.Peer) int {
		return cmp.Compare(boolRank(a.Path == wire.PathKindNone), boolRank(b.Path == wire.PathKindNone))
	})
	for _, p := range peers[:min(len(peers), wire.MaxPathsPerReport)] {
		out.Peers = append(out.Peers, reportedPath(p, now))
	}
	return out
}

// reportedPath is p's entry of a path report at now.
func reportedPath(p localapi.Peer, now time.Time) wire.PeerPath {
	pp := wire.PeerPath{Peer: p.ID, Kind: p.Path, RTTMicros: p.PathRTT.Microseconds(), Note: clip(p.PathNote, wire.MaxPathNoteBytes)}
	switch p.Path {
	case wire.PathKindDirect:
		pp.Addr = p.Endpoint
	case wire.PathKindRelay:
		pp.Relay = clip(p.Relay, wire.MaxRelayNameBytes)
	default:
		pp.Kind = wire.PathKindNone
	}
	if pp.Kind == wire.PathKindDirect && !pp.Addr.IsValid() {
		pp.Kind = wire.PathKindNone
	}
	if !p.LastHandshake.IsZero() {
		pp.HandshakeAgeMillis = max(now.Sub(p.LastHandshake).Milliseconds(), 1)
	}
	return pp
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// clip cuts s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
