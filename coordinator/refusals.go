package coordinator

import (
	"context"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Bounds on the audit rows that refusals of unauthenticated callers write.
const (
	// refusalWindow is how long the repeats of a refusal from one source
	// are summed into one audit row.
	refusalWindow = time.Minute
	// maxRefusalSources bounds the sources tracked per window; refusals
	// from sources past it are summed into one row per action.
	maxRefusalSources = 4096
)

// refusalKey identifies a burst: one action refused to one source.
type refusalKey struct {
	action string
	source netip.Prefix
}

// refusalBurst sums the repeats of a refusal in a window.
type refusalBurst struct {
	// opened is when the window began (the first refusal, written at once).
	opened time.Time
	// repeats counts the refusals after the first; actor and detail are
	// the last one's.
	repeats int
	actor   string
	detail  map[string]any
}

// refusals bounds what a caller who needs no credential can make the
// audit log cost: the first refusal of an action to a source in a window
// is audited at once, with its details; the repeats in that window are
// summed into one row written when it ends. Refusals from sources past
// maxRefusalSources go, from the start, into one row per action and
// window. A source thus costs at most two rows per action per window,
// and a window at most 2*maxRefusalSources+1 per action, however many
// calls the per-source rate limit lets through.
type refusals struct {
	mu sync.Mutex // mu guards the following
	// open holds the bursts of open windows.
	open map[refusalKey]*refusalBurst
	// overflow holds, by action, the refusals of untracked sources.
	overflow map[string]*refusalBurst
}

func newRefusals() *refusals {
	return &refusals{open: map[refusalKey]*refusalBurst{}, overflow: map[string]*refusalBurst{}}
}

// note records a refusal of action to source at now, by actor with
// detail, and reports whether it is the first of its window (to be
// audited at once).
func (f *refusals) note(action string, source netip.Prefix, actor string, detail map[string]any, now time.Time) (first bool) {
	k := refusalKey{action: action, source: source}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.open[k]
	switch {
	case ok:
	case len(f.open) < maxRefusalSources:
		f.open[k] = &refusalBurst{opened: now}
		return true
	default:
		if b = f.overflow[action]; b == nil {
			b = &refusalBurst{opened: now}
			f.overflow[action] = b
		}
	}
	b.repeats++
	b.actor, b.detail = actor, detail
	return false
}

// refusalEvent is a summary row ready to append.
type refusalEvent struct {
	action, source string
	detail         map[string]any
}

// due removes the bursts whose window ended by now (all of them when all
// is set) and returns a summary row for each that had repeats.
func (f *refusals) due(now time.Time, all bool) []refusalEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []refusalEvent
	for k, b := range f.open {
		if all || now.Sub(b.opened) >= refusalWindow {
			delete(f.open, k)
			if b.repeats > 0 {
				out = append(out, b.event(k.action, k.source.String()))
			}
		}
	}
	for action, b := range f.overflow {
		if all || now.Sub(b.opened) >= refusalWindow {
			delete(f.overflow, action)
			out = append(out, b.event(action, "many sources"))
		}
	}
	return out
}

func (b *refusalBurst) event(action, source string) refusalEvent {
	return refusalEvent{action: action, source: source, detail: map[string]any{
		"repeats": b.repeats, "since": b.opened.UTC(), "last_actor": b.actor, "last": b.detail}}
}

// auditRefusal audits the refusal of action to the unauthenticated caller
// of r: at once when it is the first from its source in the window, else
// summed into that source's summary row (see refusals).
func (s *core) auditRefusal(r *http.Request, actor, action string, detail map[string]any) {
	if s.refusals.note(action, sourceOf(r), actor, detail, time.Now()) {
		s.audit(r.Context(), actor, action, "", remoteIP(r), detail)
	}
}

// flushRefusals appends the summary rows of the windows that ended (all
// of them when all is set, at shutdown).
func (s *core) flushRefusals(ctx context.Context, now time.Time, all bool) {
	for _, e := range s.refusals.due(now, all) {
		s.audit(ctx, "source:"+e.source, e.action, "", e.source, e.detail)
	}
}
