package node

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/netstack"
	"github.com/wardnet/ward/wire"
)

var (
	flowSrc = netip.MustParseAddr("100.64.0.9")
	flowDst = netip.MustParseAddr("100.64.0.5")
)

// TestFlowLogRetransmittedSYNsAreOneRecord: 100 denied attempts of one
// connection, read over several polls of one window, close as one record
// counting 100; an accepted flow's bytes add up over its polls.
func TestFlowLogRetransmittedSYNsAreOneRecord(t *testing.T) {
	l := newFlowLog(time.Minute, "", slog.New(slog.DiscardHandler))
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	for poll := range 4 {
		now := t0.Add(time.Duration(poll) * 5 * time.Second)
		l.roll(now)
		for range 25 {
			l.add(deniedRecord(netstack.DeniedFlow{Src: flowSrc, Dst: flowDst, Proto: netstack.ProtoTCP, Port: 22, Time: now}))
		}
		l.add(countRecord(netstack.FlowCount{Src: flowSrc, Dst: flowDst, Proto: netstack.ProtoTCP, Port: 80, Inbound: true,
			New: poll == 0, Start: t0.Add(-time.Hour), Last: now, Fwd: 100, Rev: 1000}, nil))
	}
	if got := l.pending(); len(got) != 0 {
		t.Fatalf("records before the window closed: %+v", got)
	}
	l.roll(t0.Add(time.Minute))
	got := l.pending()
	if len(got) != 2 {
		t.Fatalf("records: %+v", got)
	}
	var denied, accepted wire.FlowRecord
	for _, r := range got {
		if r.Denied {
			denied = r
		} else {
			accepted = r
		}
	}
	if denied.Count != 100 || denied.Port != 22 || !denied.Start.Equal(t0) || !denied.End.Equal(t0.Add(15*time.Second)) || denied.Rule != ruleNoMatch {
		t.Errorf("denied record %+v", denied)
	}
	if accepted.Count != 1 || accepted.BytesSent != 400 || accepted.BytesRecv != 4000 || !accepted.Start.Equal(t0) {
		t.Errorf("accepted record %+v (its start is clamped to the window)", accepted)
	}
	if err := (wire.FlowBatch{Records: got}).Check(netip.Addr{}, flowDst); err != nil {
		t.Errorf("the node's own batch fails the coordinator's check: %v", err)
	}
}

// TestFlowLogAnnouncesDeniedAttemptsLive: the denied attempts of the
// open window are announced at each poll as deltas (a failed send's
// attempts come with the next), those left when the window closes follow
// from the carry, the deltas sum to the closed record's count, and the
// closed record is still one.
func TestFlowLogAnnouncesDeniedAttemptsLive(t *testing.T) {
	l := newFlowLog(time.Minute, "", slog.New(slog.DiscardHandler))
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	total := 0
	var deltas []int
	take := func(send bool) {
		t.Helper()
		live := l.liveDenied()
		if err := (wire.FlowBatch{DeniedLive: live}).Check(netip.Addr{}, flowDst); err != nil {
			t.Fatalf("the node's live counts fail the coordinator's check: %v", err)
		}
		if !send {
			return
		}
		for _, d := range live {
			if d.Src != flowSrc || d.Port != 22 || d.Proto != filter.ProtoTCP {
				t.Fatalf("live count %+v", d)
			}
			total += d.Count
			deltas = append(deltas, d.Count)
		}
		l.announce(live)
	}
	for poll := range 5 {
		now := t0.Add(time.Duration(poll) * 5 * time.Second)
		l.roll(now)
		n := 25
		if poll == 4 {
			n = 5
		}
		for range n {
			l.add(deniedRecord(netstack.DeniedFlow{Src: flowSrc, Dst: flowDst, Proto: netstack.ProtoTCP, Port: 22, Time: now}))
		}
		take(poll != 2 && poll != 4) // the sends at polls 2 and 4 fail
		if poll == 1 {
			take(true) // nothing new since the last announce
		}
	}
	if total != 100 || len(deltas) != 3 || deltas[2] != 50 {
		t.Fatalf("announced %v (sum %d) in the open window, want 25, 25, 50", deltas, total)
	}
	l.roll(t0.Add(time.Minute))
	take(true)
	if total != 105 || len(l.liveDenied()) != 0 {
		t.Fatalf("announced %v (sum %d) after the window closed, want the 5 left over; still pending %+v", deltas, total, l.liveDenied())
	}
	got := l.pending()
	if len(got) != 1 || got[0].Count != 105 || !got[0].Denied {
		t.Fatalf("closed records %+v, want one denied record counting 105", got)
	}
}

// TestFlowLogIsBoundedInMemoryAndOnDisk: past the window's distinct flows
// records are counted dropped; past the outbox they spill to disk, and a
// new flow log (a restart) sends the spilled ones first; past the spool's
// segments the oldest go, counted.
func TestFlowLogIsBoundedInMemoryAndOnDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), flowSpoolDir)
	l := newFlowLog(time.Minute, dir, slog.New(slog.DiscardHandler))
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	fill := func(w int) {
		now := t0.Add(time.Duration(w) * time.Minute)
		l.roll(now)
		for i := range maxWindowFlows + 1 {
			l.add(wire.FlowRecord{Src: flowSrc, Dst: flowDst, Proto: filter.ProtoUDP, Port: uint16(i), Inbound: true,
				Start: now, End: now, Count: 1, Rule: "x"})
		}
	}
	fill(0)
	if l.dropped != 1 {
		t.Fatalf("dropped %d, want 1 (window full)", l.dropped)
	}
	l.dropped = 0
	for w := 1; w <= maxSpoolFiles+2; w++ {
		fill(w)
	}
	l.roll(t0.Add(time.Hour))
	segs, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(segs) != maxSpoolFiles {
		t.Fatalf("%d segments on disk, want %d", len(segs), maxSpoolFiles)
	}
	if len(l.outbox) > maxOutbox {
		t.Fatalf("outbox holds %d, more than %d", len(l.outbox), maxOutbox)
	}
	// Windows 0..maxSpoolFiles+2 closed, one full outbox each: the last
	// stays in memory, the others were spilled, and the oldest two
	// segments went; windows 1.. each dropped one record (window full).
	if want := uint64(2*maxOutbox + maxSpoolFiles + 2); l.dropped != want {
		t.Errorf("dropped %d, want %d", l.dropped, want)
	}
	restarted := newFlowLog(time.Minute, dir, slog.New(slog.DiscardHandler))
	first := restarted.pending()
	if len(first) != wire.MaxFlowsPerBatch || !first[0].Start.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("after a restart the oldest spilled window comes first: %d records from %v", len(first), first[0].Start)
	}
	for n := 0; ; n++ {
		recs := restarted.pending()
		if len(recs) == 0 {
			if n != maxSpoolFiles*maxOutbox/wire.MaxFlowsPerBatch {
				t.Errorf("sent %d batches", n)
			}
			break
		}
		restarted.sent(len(recs))
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("segments left after sending: %d", len(left))
	}
}
