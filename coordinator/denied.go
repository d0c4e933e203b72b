package coordinator

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// Bounds on what one node's denied-flow reports may cost.
const (
	// maxDeniedCount caps the count of one reported entry, and the
	// attempts credited to one node per window in all (in its events and
	// in ward_denied_flows_total); more are only summed in its overflow
	// event. A full port scan with a few retransmits fits well below it.
	maxDeniedCount = 1 << 20
	// maxDeniedKeysPerNode bounds the distinct flows a node has open in
	// one window; more are summed into one overflow event.
	maxDeniedKeysPerNode = 256
)

// deniedKey identifies an aggregate: what the reporting node refused.
type deniedKey struct {
	node     store.NodeID
	src, dst netip.Addr
	proto    filter.Proto
	port     uint16
}

// deniedAgg is one aggregate of a window.
type deniedAgg struct {
	// reporter is the reporting node's name; srcWho the source's identity
	// as the coordinator knows its address when the window opened.
	reporter, srcWho string
	// opened is when the window began; first and last the reported times.
	opened, first, last time.Time
	count               uint64
}

// deniedOverflow sums a node's attempts past maxDeniedKeysPerNode, and
// those past maxDeniedCount in a window.
type deniedOverflow struct {
	reporter string
	opened   time.Time
	// flows and count are the entries that did not fit and their
	// attempts (credited).
	flows int
	count uint64
	// uncounted is the attempts past the node's credit for the window:
	// counted here and nowhere else.
	uncounted uint64
}

// deniedCredit is how many attempts a node was credited in its window.
type deniedCredit struct {
	opened   time.Time
	credited uint64
}

// deniedFlows aggregates the denied flows nodes report per (reporting node,
// source, destination, protocol, port) over a window, so that one refused
// connection's retransmits become one audit event, and a node flooding
// reports costs at most maxDeniedKeysPerNode+1 events and maxDeniedCount
// counted attempts per window.
type deniedFlows struct {
	window time.Duration

	mu sync.Mutex // mu guards the following
	// open holds the aggregates of open windows.
	open map[deniedKey]*deniedAgg
	// keys counts each node's aggregates in open.
	keys map[store.NodeID]int
	// overflow holds each node's attempts that did not fit.
	overflow map[store.NodeID]*deniedOverflow
	// credit holds each node's attempts credited in its window.
	credit map[store.NodeID]*deniedCredit
}

func newDeniedFlows(window time.Duration) *deniedFlows {
	return &deniedFlows{window: window, open: map[deniedKey]*deniedAgg{}, keys: map[store.NodeID]int{},
		overflow: map[store.NodeID]*deniedOverflow{}, credit: map[store.NodeID]*deniedCredit{}}
}

// add records one reported entry of node n; who names its source. It
// returns the attempts credited, at most what is left of the node's
// maxDeniedCount for the window; the rest go to its overflow event only.
func (d *deniedFlows) add(n store.Node, f wire.DeniedFlow, count uint64, who func(netip.Addr) string, now time.Time) uint64 {
	k := deniedKey{node: n.ID, src: f.Src, dst: f.Dst, proto: f.Proto, port: f.Port}
	at := f.Time
	if at.IsZero() {
		at = now
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	credited := d.creditLocked(n.ID, count, now)
	if credited < count {
		d.overflowLocked(n, now).uncounted += count - credited
	}
	if credited == 0 {
		return 0
	}
	if a, ok := d.open[k]; ok {
		a.count += credited
		a.first, a.last = earliest(a.first, at), latest(a.last, at)
		return credited
	}
	if d.keys[n.ID] >= maxDeniedKeysPerNode {
		o := d.overflowLocked(n, now)
		o.flows++
		o.count += credited
		return credited
	}
	d.keys[n.ID]++
	d.open[k] = &deniedAgg{reporter: n.Name, srcWho: who(f.Src), opened: now, first: at, last: at, count: credited}
	return credited
}

// creditLocked takes up to count attempts from node id's credit for its
// window (a new one when the last has ended) and returns how many.
func (d *deniedFlows) creditLocked(id store.NodeID, count uint64, now time.Time) uint64 {
	c := d.credit[id]
	if c == nil || now.Sub(c.opened) >= d.window {
		c = &deniedCredit{opened: now}
		d.credit[id] = c
	}
	got := min(count, maxDeniedCount-c.credited)
	c.credited += got
	return got
}

// overflowLocked returns node n's overflow aggregate, opened at now if
// there is none.
func (d *deniedFlows) overflowLocked(n store.Node, now time.Time) *deniedOverflow {
	o := d.overflow[n.ID]
	if o == nil {
		o = &deniedOverflow{reporter: n.Name, opened: now}
		d.overflow[n.ID] = o
	}
	return o
}

// deniedEvent is an audit event ready to append.
type deniedEvent struct {
	actor, action, target, source string
	detail                        map[string]any
}

// due removes and returns the aggregates whose window ended by now (all of
// them when all is set) as audit events.
func (d *deniedFlows) due(now time.Time, all bool) []deniedEvent {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []deniedEvent
	for k, a := range d.open {
		if !all && now.Sub(a.opened) < d.window {
			continue
		}
		delete(d.open, k)
		if d.keys[k.node]--; d.keys[k.node] <= 0 {
			delete(d.keys, k.node)
		}
		out = append(out, a.event(k))
	}
	for id, o := range d.overflow {
		if all || now.Sub(o.opened) >= d.window {
			delete(d.overflow, id)
			out = append(out, deniedEvent{actor: "node:" + o.reporter, action: "flow.denied_overflow", target: "node:" + o.reporter,
				detail: map[string]any{"flows": o.flows, "count": o.count, "uncounted": o.uncounted, "since": o.opened.UTC()}})
		}
	}
	for id, c := range d.credit {
		if all || now.Sub(c.opened) >= d.window {
			delete(d.credit, id)
		}
	}
	return out
}

func (a *deniedAgg) event(k deniedKey) deniedEvent {
	return deniedEvent{actor: "node:" + a.reporter, action: "flow.denied",
		target: fmt.Sprintf("node:%s port %d/%d", a.reporter, k.port, k.proto), source: k.src.String(),
		detail: map[string]any{"src": k.src, "src_identity": a.srcWho, "dst": k.dst, "proto": k.proto, "port": k.port,
			"count": a.count, "first": a.first.UTC(), "last": a.last.UTC(), "reported_by": "node:" + a.reporter}}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// checkDenied refuses a report whose entries name a destination that is
// neither the reporting node's own address nor in a route it advertises: a
// node reports only what it refused itself.
func checkDenied(n store.Node, flows []wire.DeniedFlow) error {
	for _, f := range flows {
		routed := slices.ContainsFunc(n.AdvertisedRoutes, func(p netip.Prefix) bool { return p.Contains(f.Dst) })
		if f.Dst != n.IPv4 && f.Dst != n.IPv6 && !routed {
			return fmt.Errorf("%w: denied flow to %v, which is not this node's address", errBadRequest, f.Dst)
		}
		if !f.Src.IsValid() {
			return fmt.Errorf("%w: denied flow without a source address", errBadRequest)
		}
	}
	return nil
}

// recordDenied adds a node's reported denied flows to the aggregates. The
// events name the reporting node as the actor: the source is only what
// the node says it saw.
func (s *control) recordDenied(n store.Node, flows []wire.DeniedFlow) {
	now := time.Now()
	for _, f := range flows {
		c := uint64(min(max(f.Count, 1), maxDeniedCount))
		if credited := s.denied.add(n, f, c, s.sourceIdentity, now); credited > 0 {
			s.metrics.deniedFlows.Add(float64(credited))
		}
	}
}

// sourceIdentity names the node holding overlay address a, as the
// coordinator knows it, or the bare address.
func (s *control) sourceIdentity(a netip.Addr) string {
	src, ok := s.nm.nodeByAddr(a)
	if !ok {
		return "ip:" + a.String()
	}
	who := "node:" + src.Name
	if src.User != "" {
		who += " (" + src.User + ")"
	} else if len(src.Tags) > 0 {
		who += " (" + strings.Join(src.Tags, ",") + ")"
	}
	return who
}

// flushDenied appends the events of the windows that ended (all of them
// when all is set, at shutdown).
func (s *control) flushDenied(ctx context.Context, now time.Time, all bool) {
	for _, e := range s.denied.due(now, all) {
		s.audit(ctx, e.actor, e.action, e.target, e.source, e.detail)
	}
}
