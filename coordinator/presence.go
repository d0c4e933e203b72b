package coordinator

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/coordinator/store"
)

const (
	// presenceEvery is how often the batched presence is written.
	presenceEvery = time.Second
	// streamLease is how long this coordinator's hold on its nodes'
	// streams (store.StreamHolds) lasts unless renewed; streamRenew how
	// often it renews it. A coordinator that dies without saying so lets
	// its nodes go offline everywhere within streamLease + streamRenew:
	// the first renewal of another coordinator (on SQLite, of the one that
	// restarted) after the lease lapsed.
	streamLease = 15 * time.Second
	streamRenew = 5 * time.Second
)

// presenceLog batches the map streams' opens and closes into one store
// write a second: a fleet reconnecting after a restart would otherwise
// make one fsynced write per stream. Presence is not an audit event; the
// nodes' online gauge is the metric, and the netmap (what peers see) is
// updated at once.
type presenceLog struct {
	st  store.Store
	log *slog.Logger
	// apply puts presences as stored (whether any coordinator holds a
	// stream of each node) into force here; held returns the nodes with a
	// stream here. Both set before run, never changed.
	apply func([]store.Presence)
	held  func() []store.NodeID
	// halted (tests only) stops every write, as though this coordinator
	// had died without saying so.
	halted atomic.Bool

	mu sync.Mutex // mu guards pend
	// pend holds each node's latest presence not yet written.
	pend map[store.NodeID]store.Presence
}

func newPresenceLog(st store.Store, log *slog.Logger) *presenceLog {
	return &presenceLog{st: st, log: log, pend: map[store.NodeID]store.Presence{},
		apply: func([]store.Presence) {}, held: func() []store.NodeID { return nil }}
}

// record notes node id's presence as of at; the next flush writes it.
func (p *presenceLog) record(id store.NodeID, at time.Time, online bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pend[id] = store.Presence{ID: id, LastSeen: at, Online: online}
}

// run flushes every presenceEvery and renews the hold every streamRenew
// until ctx ends; then it flushes once more and releases the hold, so
// that the other coordinators see this one's nodes go offline at once.
func (p *presenceLog) run(ctx context.Context) {
	t := time.NewTicker(presenceEvery)
	defer t.Stop()
	r := time.NewTicker(streamRenew)
	defer r.Stop()
	p.renew(ctx)
	for {
		select {
		case <-ctx.Done():
			if p.halted.Load() {
				return
			}
			p.flush(context.Background())
			if _, err := p.st.ReleaseStreams(context.Background(), time.Now()); err != nil {
				p.log.Warn("release stream holds", "err", err)
			}
			return
		case <-t.C:
			p.flush(ctx)
		case <-r.C:
			p.renew(ctx)
		}
	}
}

// renew renews the hold and puts into force the presence of the nodes
// whose holders lapsed; when this coordinator's own hold had lapsed (it
// could not renew for streamLease), it records its streams again.
func (p *presenceLog) renew(ctx context.Context) {
	if p.halted.Load() {
		return
	}
	now := time.Now().UTC()
	lost, changed, err := p.st.RenewStreams(ctx, now, streamLease)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("renew stream holds", "err", err)
		}
		return
	}
	p.apply(changed)
	if lost {
		for _, id := range p.held() {
			p.record(id, now, true)
		}
	}
}

// flush writes what is pending in one write; on failure it is kept for
// the next (unless newer presence replaced it).
func (p *presenceLog) flush(ctx context.Context) {
	if p.halted.Load() {
		return
	}
	p.mu.Lock()
	if len(p.pend) == 0 {
		p.mu.Unlock()
		return
	}
	batch := make([]store.Presence, 0, len(p.pend))
	for _, pr := range p.pend {
		batch = append(batch, pr)
	}
	clear(p.pend)
	p.mu.Unlock()
	stored, err := p.st.HoldStreams(ctx, batch, time.Now().UTC(), streamLease)
	if err == nil {
		p.apply(stored)
	}
	if err != nil {
		p.log.Warn("write presence", "nodes", len(batch), "err", err)
		p.mu.Lock()
		for _, pr := range batch {
			if _, newer := p.pend[pr.ID]; !newer {
				p.pend[pr.ID] = pr
			}
		}
		p.mu.Unlock()
	}
}
