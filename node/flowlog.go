package node

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/node/privfile"
	"github.com/wardnet/ward/wire"
)

// Flow-log timing and bounds. In memory a node holds at most one window
// of maxWindowFlows distinct flows, maxOutbox closed records waiting to
// be sent (plus one window being spilled) and one spilled segment being
// sent; on disk at most maxSpoolFiles segments of maxOutbox records
// (about 16 MiB of JSON). Past a bound the oldest records go, counted in
// the next batch's Dropped.
const (
	// DefaultFlowPoll is how often the data plane's counters are read.
	DefaultFlowPoll = 5 * time.Second
	// DefaultFlowWindow is the window flows are aggregated over.
	DefaultFlowWindow = time.Minute
	maxWindowFlows    = 4096
	maxOutbox         = 4096
	maxSpoolFiles     = 16
	// flowSendsPerPoll bounds the batches sent at one poll, so a backlog
	// drains at about three batches a second, inside the coordinator's
	// per-node limit.
	flowSendsPerPoll = 16
	// flowSpoolDir is the spilled segments' directory in the state
	// directory.
	flowSpoolDir = "flows"
)

// flowKey is what one record of a window aggregates: a flow's ends,
// protocol and destination port (not the source port: the connections of
// one client to one service are one record), direction and verdict.
type flowKey struct {
	src, dst        netip.Addr
	proto           filter.Proto
	port            uint16
	inbound, denied bool
}

func flowKeyOf(r *wire.FlowRecord) flowKey {
	return flowKey{src: r.Src, dst: r.Dst, proto: r.Proto, port: r.Port, inbound: r.Inbound, denied: r.Denied}
}

// flowLog aggregates a node's flows into windows and keeps the closed
// records until they are sent, spilling to disk past maxOutbox. Only the
// session's flow loop uses it, so it has no lock.
type flowLog struct {
	window time.Duration
	// spool is the directory of spilled segments; "" keeps none.
	spool string
	log   *slog.Logger
	// curStart is the start of the open window, cur its records.
	curStart time.Time
	cur      map[flowKey]*wire.FlowRecord
	// outbox holds closed records, oldest first.
	outbox []wire.FlowRecord
	// segs are the spilled segments, oldest first; loaded holds what is
	// left to send of segs[0] once read.
	segs   []string
	loaded []wire.FlowRecord
	// dropped counts records and attempts lost since the last batch
	// went through.
	dropped uint64
	// announced counts, per denied flow of the open window, the attempts
	// already sent live (FlowBatch.DeniedLive); carry holds the attempts
	// of closed windows not yet sent live, at most maxWindowFlows.
	announced map[flowKey]int
	carry     []wire.DeniedCount
}

// newFlowLog returns a flow log spilling to spool (may be ""), picking up
// the segments a previous run left there.
func newFlowLog(window time.Duration, spool string, log *slog.Logger) *flowLog {
	l := &flowLog{window: window, spool: spool, log: log, cur: map[flowKey]*wire.FlowRecord{},
		announced: map[flowKey]int{}}
	if spool != "" {
		l.segs, _ = filepath.Glob(filepath.Join(spool, "*.json"))
		slices.Sort(l.segs)
	}
	return l
}

// add merges r into the open window (roll opens it).
func (l *flowLog) add(r wire.FlowRecord) {
	r.Start = later(r.Start, l.curStart)
	r.End = later(r.End, r.Start)
	k := flowKeyOf(&r)
	if e := l.cur[k]; e != nil {
		e.Start, e.End = earlier(e.Start, r.Start), later(e.End, r.End)
		e.BytesSent += r.BytesSent
		e.BytesRecv += r.BytesRecv
		e.Count = min(e.Count+r.Count, wire.MaxFlowCount)
		return
	}
	if len(l.cur) >= maxWindowFlows {
		l.dropped += uint64(max(r.Count, 1))
		return
	}
	l.cur[k] = &r
}

// roll closes the open window when now is past it, and opens the one
// holding now (windows are aligned to multiples of the window length).
// It runs before each poll's records are added, so what one poll reads
// lands in one window.
func (l *flowLog) roll(now time.Time) {
	if !l.curStart.IsZero() && !now.Before(l.curStart.Add(l.window)) {
		l.closeWindow()
	}
	if l.curStart.IsZero() {
		l.curStart = now.Truncate(l.window)
	}
}

// closeWindow moves the open window's records to the outbox, oldest
// first, spilling when the outbox is over its bound; the denied attempts
// not yet sent live go to the carry.
func (l *flowLog) closeWindow() {
	start := len(l.outbox)
	for k, r := range l.cur {
		r.Count = max(r.Count, 1)
		l.outbox = append(l.outbox, *r)
		if d, ok := l.unannounced(k, r); ok && len(l.carry) < maxWindowFlows {
			l.carry = append(l.carry, d)
		}
	}
	clear(l.announced)
	// sort.Slice, not slices.SortFunc: a sort of its own instantiated for
	// FlowRecord was 11 KB of the agent's code (Makefile, AGENT_ARM64_MAX).
	win := l.outbox[start:]
	sort.Slice(win, func(i, j int) bool { return win[i].Start.Before(win[j].Start) })
	clear(l.cur)
	l.curStart = time.Time{}
	for len(l.outbox) > maxOutbox {
		l.spill(maxOutbox)
	}
}

// unannounced returns the attempts of the open window's denied flow k
// (record r) not yet sent live, if any.
func (l *flowLog) unannounced(k flowKey, r *wire.FlowRecord) (wire.DeniedCount, bool) {
	n := r.Count - l.announced[k]
	if !k.denied || n <= 0 {
		return wire.DeniedCount{}, false
	}
	return wire.DeniedCount{Src: r.Src, Dst: r.Dst, Proto: r.Proto, Port: r.Port, At: r.End, Count: n}, true
}

// liveDenied returns the denied attempts not yet sent live, at most
// wire.MaxDeniedLivePerBatch: those of closed windows first, then the
// open window's; announce marks them sent.
func (l *flowLog) liveDenied() []wire.DeniedCount {
	out := slices.Clone(l.carry[:min(len(l.carry), wire.MaxDeniedLivePerBatch)])
	for k, r := range l.cur {
		if len(out) >= wire.MaxDeniedLivePerBatch {
			break
		}
		if d, ok := l.unannounced(k, r); ok {
			out = append(out, d)
		}
	}
	return out
}

// announce marks ds, as liveDenied returned them, sent.
func (l *flowLog) announce(ds []wire.DeniedCount) {
	n := min(len(l.carry), len(ds))
	l.carry = l.carry[n:]
	for _, d := range ds[n:] {
		r := d.Record()
		l.announced[flowKeyOf(&r)] += d.Count
	}
}

// spill writes the oldest n records of the outbox to a segment on disk,
// or drops them when there is no spool or it cannot be written. Past
// maxSpoolFiles the oldest segment goes.
func (l *flowLog) spill(n int) {
	recs := l.outbox[:n]
	l.outbox = slices.Clone(l.outbox[n:])
	if err := l.writeSegment(recs); err != nil {
		l.dropped += uint64(len(recs))
		if l.spool != "" {
			l.log.Warn("flow log: cannot spill to disk; records dropped", "records", len(recs), "err", err)
		}
		return
	}
	for len(l.segs) > maxSpoolFiles {
		l.dropSegment()
	}
}

// writeSegment saves recs as a new segment, named so that segments sort
// in the order written and say how many records they hold.
func (l *flowLog) writeSegment(recs []wire.FlowRecord) error {
	if l.spool == "" {
		return fmt.Errorf("no spool directory")
	}
	b, err := json.Marshal(recs)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(l.spool, 0o700); err != nil {
		return err
	}
	name := fmt.Sprintf("%020d-%d.json", time.Now().UnixNano(), len(recs))
	if err := privfile.Write(l.spool, name, b); err != nil {
		return err
	}
	l.segs = append(l.segs, filepath.Join(l.spool, name))
	return nil
}

// dropSegment removes the oldest segment, counting its records dropped.
func (l *flowLog) dropSegment() {
	name := l.segs[0]
	l.segs = l.segs[1:]
	if l.loaded != nil {
		l.dropped += uint64(len(l.loaded))
		l.loaded = nil
	} else {
		l.dropped += segmentCount(name)
	}
	if err := os.Remove(name); err != nil && !os.IsNotExist(err) {
		l.log.Warn("flow log: remove segment", "file", name, "err", err)
	}
}

// segmentCount reads the record count from a segment's name.
func segmentCount(name string) uint64 {
	base := strings.TrimSuffix(filepath.Base(name), ".json")
	_, n, _ := strings.Cut(base, "-")
	c, _ := strconv.ParseUint(n, 10, 64)
	return c
}

// pending returns the next batch to send, oldest records first: spilled
// segments before the outbox. Empty when there is nothing to send.
func (l *flowLog) pending() []wire.FlowRecord {
	for len(l.segs) > 0 && l.loaded == nil {
		b, err := os.ReadFile(l.segs[0])
		var recs []wire.FlowRecord
		if err == nil {
			err = json.Unmarshal(b, &recs)
		}
		if err != nil || len(recs) == 0 {
			if err != nil {
				l.log.Warn("flow log: unreadable segment dropped", "file", l.segs[0], "err", err)
			}
			l.dropSegment()
			continue
		}
		l.loaded = recs
	}
	src := l.outbox
	if l.loaded != nil {
		src = l.loaded
	}
	return src[:min(len(src), wire.MaxFlowsPerBatch)]
}

// sent removes the first n records pending returned.
func (l *flowLog) sent(n int) {
	if l.loaded == nil {
		l.outbox = l.outbox[n:]
		return
	}
	l.loaded = l.loaded[n:]
	if len(l.loaded) == 0 {
		l.loaded = nil
		l.dropSegment() // counts nothing: loaded is empty
	}
}

// spillAll saves everything not yet sent, open window included, so a
// restart sends it (at shutdown).
func (l *flowLog) spillAll() {
	l.closeWindow()
	for len(l.outbox) > 0 {
		l.spill(min(len(l.outbox), maxOutbox))
	}
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
