package coordinator

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/ratelimit"
	"github.com/wardnet/ward/wire"
)

// Flow-log ingest bounds.
const (
	// flowBurst and flowEvery limit each node's flow batches: a node sends
	// one or two a minute, one a poll (5 s) while it announces denied
	// attempts live, more after the coordinator was away (its backlog,
	// paced by Retry-After).
	flowBurst = 20
	flowEvery = 250 * time.Millisecond
	// maxFlowKeys bounds the nodes the limiter tracks.
	maxFlowKeys = 1 << 20
	// flowQueue bounds the batches waiting for the writer; more get 503
	// with Retry-After, and the node keeps them.
	flowQueue = 256
	// maxFlowsPerWrite bounds the records one transaction writes.
	maxFlowsPerWrite = 8192
	// flowPruneEvery is how often records past the retention are deleted.
	flowPruneEvery = 10 * time.Minute
)

// flowWrite is one node's batch waiting for the writer; done receives the
// write's outcome.
type flowWrite struct {
	rs   []store.FlowRecord
	done chan error
}

// flowIngest stores the flow logs nodes post. Batches arriving together
// share one transaction (one fsync), so ingest scales with the batches in
// flight rather than the disk's sync rate; each node's POST is answered
// only once its records are on disk.
type flowIngest struct {
	st      store.Flows
	limit   *ratelimit.Keyed[store.NodeID]
	queue   chan flowWrite
	records prometheus.Counter
	dropped prometheus.Counter
}

func newFlowIngest(st store.Flows, reg prometheus.Registerer) *flowIngest {
	f := &flowIngest{st: st, limit: ratelimit.New[store.NodeID](flowEvery, flowBurst, maxFlowKeys),
		queue: make(chan flowWrite, flowQueue),
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ward_flow_records_total", Help: "Flow-log records stored."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ward_flow_records_dropped_total", Help: "Flow-log records nodes said they could not keep (full buffers)."}),
	}
	reg.MustRegister(f.records, f.dropped)
	return f
}

// run writes queued batches until ctx is done.
func (f *flowIngest) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			f.failQueued(ctx.Err())
			return
		case w := <-f.queue:
			f.writeGroup(ctx, w)
		}
	}
}

// writeGroup writes first and every batch queued behind it (up to
// maxFlowsPerWrite records) in one transaction.
func (f *flowIngest) writeGroup(ctx context.Context, first flowWrite) {
	group := []flowWrite{first}
	rs := first.rs
	for len(rs) < maxFlowsPerWrite {
		select {
		case w := <-f.queue:
			group = append(group, w)
			rs = append(rs, w.rs...)
			continue
		default:
		}
		break
	}
	err := f.st.AppendFlows(ctx, rs)
	if err == nil {
		f.records.Add(float64(len(rs)))
	}
	for _, w := range group {
		w.done <- err
	}
}

// failQueued answers the batches still queued with err.
func (f *flowIngest) failQueued(err error) {
	for {
		select {
		case w := <-f.queue:
			w.done <- err
		default:
			return
		}
	}
}

// store queues rs and waits until they are written.
func (f *flowIngest) store(ctx context.Context, rs []store.FlowRecord) error {
	w := flowWrite{rs: rs, done: make(chan error, 1)}
	select {
	case f.queue <- w:
	default:
		return &retryAfterError{what: "flow logs (the coordinator's queue is full)", after: time.Second}
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// prune deletes records past retention now and every flowPruneEvery
// until ctx is done, each time mine says this coordinator runs the job;
// retention 0 keeps them forever.
func (f *flowIngest) prune(ctx context.Context, retention time.Duration, mine func() bool, log *slog.Logger) {
	if retention <= 0 {
		return
	}
	t := time.NewTicker(flowPruneEvery)
	defer t.Stop()
	for {
		if mine() { // else another coordinator on the database prunes
			if err := f.pruneOnce(ctx, time.Now().Add(-retention)); err != nil && ctx.Err() == nil {
				log.Error("prune flow logs", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneOnce deletes the records that ended before cutoff.
func (f *flowIngest) pruneOnce(ctx context.Context, cutoff time.Time) error {
	_, err := f.st.DeleteFlowsBefore(ctx, cutoff)
	return err
}

// handleFlows stores a node's flow logs and counts its denied attempts
// for the alert rules. Who reported them comes from the node's session,
// never from the batch, and every record and live denied count must be a
// flow the node carried (one end is its own address).
func (s *control) handleFlows(w http.ResponseWriter, r *http.Request) {
	n, err := s.nodeOf(r)
	if err == nil {
		if ok, after := s.flows.limit.Allow(n.ID, time.Now()); !ok {
			s.limits.refused.WithLabelValues("flows").Inc()
			err = &retryAfterError{what: "flow logs from this node", after: after}
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b wire.FlowBatch
	if err := s.decodeJSON(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := b.Check(n.IPv4, n.IPv6); err != nil {
		s.writeError(w, r, fmt.Errorf("%w: flows of %s: %w", errBadRequest, n.Name, err))
		return
	}
	s.flows.dropped.Add(float64(b.Dropped))
	rs := s.nm.flowRecords(n, b.Records)
	if len(rs) > 0 {
		if err := s.flows.store(r.Context(), rs); err != nil {
			s.writeError(w, r, fmt.Errorf("store flows of %s: %w", n.Name, err))
			return
		}
	}
	s.noteDeniedFlows(r.Context(), n, b, rs)
	w.WriteHeader(http.StatusNoContent)
}

// noteDeniedFlows counts a batch's denied attempts for the alert rules:
// its live counts, or, from a node that does not send them, its stored
// denied records rs (a node that does already announced their attempts).
func (s *control) noteDeniedFlows(ctx context.Context, n store.Node, b wire.FlowBatch, rs []store.FlowRecord) {
	if b.DeniedLiveSent {
		rs = nil
	}
	if len(b.DeniedLive) > 0 {
		live := make([]wire.FlowRecord, len(b.DeniedLive))
		for i, d := range b.DeniedLive {
			live[i] = d.Record()
		}
		rs = append(rs, s.nm.flowRecords(n, live)...)
	}
	for _, f := range rs {
		if f.Denied {
			s.noteDenied(ctx, deniedIdentity(f), f.Count, f.End)
		}
	}
}

// flowEnd is one end of a flow as the coordinator knows its address.
type flowEnd struct{ node, who string }

// flowRecords turns reporter's records into stored ones, naming each end
// by the node holding its address now (one pass over the nodes).
func (m *netmap) flowRecords(reporter store.Node, recs []wire.FlowRecord) []store.FlowRecord {
	ends := make(map[netip.Addr]flowEnd, 2*len(recs))
	for _, r := range recs {
		ends[r.Src], ends[r.Dst] = flowEnd{}, flowEnd{}
	}
	m.mu.Lock()
	for _, n := range m.nodes {
		for _, a := range []netip.Addr{n.IPv4, n.IPv6} {
			if _, ok := ends[a]; ok && a.IsValid() {
				ends[a] = flowEnd{node: n.Name, who: m.ownerLocked(n)}
			}
		}
	}
	m.mu.Unlock()
	out := make([]store.FlowRecord, len(recs))
	for i, r := range recs {
		src, dst := ends[r.Src], ends[r.Dst]
		out[i] = store.FlowRecord{Node: reporter.ID, NodeName: reporter.Name, Src: r.Src, Dst: r.Dst,
			SrcNode: src.node, SrcWho: src.who, DstNode: dst.node, DstWho: dst.who, Proto: uint8(r.Proto), Port: r.Port,
			Inbound: r.Inbound, Denied: r.Denied, Rule: r.Rule, Start: r.Start.UTC(), End: r.End.UTC(),
			BytesSent: r.BytesSent, BytesRecv: r.BytesRecv, Count: r.Count}
	}
	return out
}

// ownerLocked names n's owner: "user:EMAIL", or its tags joined by
// commas. m.mu must be held.
func (m *netmap) ownerLocked(n store.Node) string {
	if len(n.Tags) > 0 {
		return strings.Join(n.Tags, ",")
	}
	if e := m.emails[n.UserID]; e != "" {
		return "user:" + e
	}
	return ""
}
