package coordinator

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/wardnet/ward/coordinator/store"
)

// presenceEvery is how often the batched presence is written.
const presenceEvery = time.Second

// presenceLog batches the map streams' opens and closes into one store
// write a second: a fleet reconnecting after a restart would otherwise
// make one fsynced write per stream. Presence is not an audit event; the
// nodes' online gauge is the metric, and the netmap (what peers see) is
// updated at once.
type presenceLog struct {
	st  store.Store
	log *slog.Logger

	mu sync.Mutex // mu guards pend
	// pend holds each node's latest presence not yet written.
	pend map[store.NodeID]store.Presence
}

func newPresenceLog(st store.Store, log *slog.Logger) *presenceLog {
	return &presenceLog{st: st, log: log, pend: map[store.NodeID]store.Presence{}}
}

// record notes node id's presence as of at; the next flush writes it.
func (p *presenceLog) record(id store.NodeID, at time.Time, online bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pend[id] = store.Presence{ID: id, LastSeen: at, Online: online}
}

// run flushes every presenceEvery until ctx ends, and once more then.
func (p *presenceLog) run(ctx context.Context) {
	t := time.NewTicker(presenceEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			p.flush(context.Background())
			return
		case <-t.C:
			p.flush(ctx)
		}
	}
}

// flush writes what is pending in one write; on failure it is kept for
// the next (unless newer presence replaced it).
func (p *presenceLog) flush(ctx context.Context) {
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
	if err := p.st.SetPresences(ctx, batch); err != nil {
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
