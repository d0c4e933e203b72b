package coordinator

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// Watch-event ingest bounds: a node sends a batch when it saw something
// (its own bound: one matching line a second per log after a burst), and
// its backlog of at most 256 events (four batches) after the coordinator
// was away; past the limit it gets 429 and waits.
const (
	watchBurst = 20
	watchEvery = time.Second
	// maxWatchSummary bounds the line quoted in a log alert's summary.
	maxWatchSummary = 200
)

// watchConfig returns what node n watches: the union of the rules
// file's "watch" entries for its tags; empty without rules, and for a
// person's machine (no tags: it is not a device).
func (s *core) watchConfig(n store.Node) wire.WatchConfig {
	var cfg wire.WatchConfig
	if s.alerts == nil || len(n.Tags) == 0 {
		return cfg
	}
	logs, files := s.alerts.ruleSet().WatchFor(n.Tags)
	for p, m := range logs {
		cfg.Logs = append(cfg.Logs, wire.WatchLog{Path: p, Match: m})
	}
	slices.SortFunc(cfg.Logs, func(a, b wire.WatchLog) int { return strings.Compare(a.Path, b.Path) })
	cfg.Files = files
	return cfg
}

// handleWatch tells a node what to watch.
func (s *control) handleWatch(w http.ResponseWriter, r *http.Request) {
	n, err := s.nodeOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.watchConfig(n))
}

// handleWatchEvents takes what a node saw on its disk: each event must be
// about a path the node was told to watch (a modified node cannot raise
// alerts about others), is audited (device.log_match,
// device.file_changed) and handed to the event rules.
func (s *control) handleWatchEvents(w http.ResponseWriter, r *http.Request) {
	n, err := s.nodeOf(r)
	if err == nil {
		if ok, after := s.watchLimit.Allow(n.ID, time.Now()); !ok {
			s.limits.refused.WithLabelValues("watch").Inc()
			err = &retryAfterError{what: "watch events from this node", after: after}
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var b wire.WatchEvents
	if err := s.decodeJSON(w, r, &b); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := b.Check(s.watchConfig(n)); err != nil {
		s.writeError(w, r, fmt.Errorf("%w: watch events of %s: %w", errBadRequest, n.Name, err))
		return
	}
	if b.Dropped > 0 {
		s.audit(r.Context(), "node:"+n.Name, "device.watch_dropped", "node:"+n.Name, "", map[string]any{"dropped": b.Dropped})
	}
	for _, e := range b.Events {
		s.watchEvent(r.Context(), n, e)
	}
	w.WriteHeader(http.StatusNoContent)
}

// watchEvent audits one event of node n and fires the rules of its kind.
func (s *core) watchEvent(ctx context.Context, n store.Node, e wire.WatchEvent) {
	subject := "node:" + n.Name
	detail := map[string]any{"path": e.Path, "time": e.Time.UTC().Format(time.RFC3339Nano)}
	action, kind := "device.file_changed", alert.KindFileChanged
	var summary string
	if e.Kind == wire.WatchLogMatch {
		action, kind = "device.log_match", alert.KindLogMatch
		detail["line"] = e.Line
		summary = fmt.Sprintf("%s: %s: %q", n.Name, e.Path, cut(e.Line, maxWatchSummary))
	} else {
		detail["change"], detail["old_sha256"], detail["new_sha256"] = e.Change, e.OldSHA256, e.NewSHA256
		summary = fmt.Sprintf("%s: %s %s (sha256 %s -> %s)", n.Name, e.Path, e.Change, orNone(e.OldSHA256), orNone(e.NewSHA256))
		if e.Error != "" {
			detail["error"] = e.Error
			summary += ": " + e.Error
		}
	}
	s.audit(ctx, subject, action, subject, "", detail)
	s.fireEvent(ctx, kind, subject, summary, n.Tags, true)
}

// cut returns s cut to at most n bytes, at a character boundary, marked
// with "..." when cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func orNone(h string) string {
	if h == "" {
		return "none"
	}
	return h
}
