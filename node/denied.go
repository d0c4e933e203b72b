package node

import (
	"net/netip"
	"sync"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/netstack"
	"github.com/wardnet/ward/wire"
)

// maxDeniedKeys bounds the distinct denied flows held between reports;
// attempts beyond it are counted in dropped only.
const maxDeniedKeys = 4 * wire.MaxDeniedPerReport

// deniedKey identifies an aggregate of denied attempts.
type deniedKey struct {
	src, dst netip.Addr
	proto    uint8
	port     uint16
}

// deniedLog aggregates denied flows between reports. add runs on the
// packet path and only takes a short lock.
type deniedLog struct {
	// ready has room for one wake-up; add signals it.
	ready chan struct{}

	// mu guards the following.
	mu sync.Mutex
	// pending maps each aggregate to its entry; order keeps first-seen
	// order for draining.
	pending map[deniedKey]*wire.DeniedFlow
	order   []deniedKey
	// total counts every denied attempt since start; dropped those that
	// did not fit in pending.
	total, dropped uint64
}

func newDeniedLog() *deniedLog {
	return &deniedLog{ready: make(chan struct{}, 1), pending: map[deniedKey]*wire.DeniedFlow{}}
}

// add records one denied attempt.
func (l *deniedLog) add(d netstack.DeniedFlow) {
	k := deniedKey{src: d.Src, dst: d.Dst, proto: d.Proto, port: d.Port}
	l.mu.Lock()
	l.total++
	if e, ok := l.pending[k]; ok {
		e.Count++
	} else if len(l.pending) < maxDeniedKeys {
		l.pending[k] = &wire.DeniedFlow{Src: d.Src, Dst: d.Dst, Proto: filter.Proto(d.Proto), Port: d.Port, Time: d.Time, Count: 1}
		l.order = append(l.order, k)
	} else {
		l.dropped++
	}
	l.mu.Unlock()
	select {
	case l.ready <- struct{}{}:
	default:
	}
}

// take removes and returns up to n aggregates, oldest first.
func (l *deniedLog) take(n int) []wire.DeniedFlow {
	l.mu.Lock()
	defer l.mu.Unlock()
	n = min(n, len(l.order))
	out := make([]wire.DeniedFlow, 0, n)
	for _, k := range l.order[:n] {
		out = append(out, *l.pending[k])
		delete(l.pending, k)
	}
	l.order = append(l.order[:0:0], l.order[n:]...)
	if len(l.order) > 0 {
		select {
		case l.ready <- struct{}{}:
		default:
		}
	}
	return out
}

// putBack re-adds flows whose report failed, merging counts.
func (l *deniedLog) putBack(flows []wire.DeniedFlow) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range flows {
		k := deniedKey{src: f.Src, dst: f.Dst, proto: uint8(f.Proto), port: f.Port}
		if e, ok := l.pending[k]; ok {
			e.Count += f.Count
		} else if len(l.pending) < maxDeniedKeys {
			l.pending[k] = &f
			l.order = append(l.order, k)
		} else {
			l.dropped += uint64(f.Count)
		}
	}
}

// counts returns the total of denied attempts and those not kept.
func (l *deniedLog) counts() (total, dropped uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.dropped
}
