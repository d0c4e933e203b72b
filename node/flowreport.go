package node

import (
	"context"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/wire"
)

// flowLoop reads the data plane's flows every poll, aggregates them into
// windows and sends each closed window to the coordinator, keeping what
// does not go through (see flowLog for the bounds), until ctx is done;
// then it saves what is left to disk for the next run.
func (s *Session) flowLoop(ctx context.Context, l *flowLog, poll time.Duration) {
	t := time.NewTicker(poll)
	defer t.Stop()
	var notBefore time.Time
	for {
		select {
		case <-ctx.Done():
			l.roll(time.Now())
			s.collectFlows(l)
			l.spillAll()
			return
		case now := <-t.C:
			l.roll(now)
			s.collectFlows(l)
			if now.Before(notBefore) {
				continue
			}
			if wait := s.sendFlows(ctx, l); wait > 0 {
				notBefore = now.Add(wait)
			}
		}
	}
}

// collectFlows adds what the data plane carried since the last poll.
func (s *Session) collectFlows(l *flowLog) {
	l.dropped += s.eng.drainFlows(l.add)
}

// sendFlows sends closed records, at most flowSendsPerPoll batches, with
// the denied attempts not yet announced live (to a coordinator that takes
// them, even when no record is closed), and returns the wait before the
// next try after a failure (0: none). A coordinator that does not take
// flow logs gets none: they are dropped. A batch it refuses for good
// (400) is dropped too, so it cannot hold back the rest.
func (s *Session) sendFlows(ctx context.Context, l *flowLog) time.Duration {
	v := s.client.ServerVersion()
	liveOK := v != 0 && wire.Supports(v, wire.FeatureDeniedLive)
	var live []wire.DeniedCount
	if liveOK {
		live = l.liveDenied()
	}
	for range flowSendsPerPoll {
		recs := l.pending()
		if len(recs) == 0 && len(live) == 0 {
			return 0
		}
		if v != 0 && !wire.Supports(v, wire.FeatureFlowLogs) {
			l.dropped += uint64(len(recs))
			l.sent(len(recs))
			continue
		}
		err := s.client.Flows(ctx, wire.FlowBatch{Records: recs, Dropped: l.dropped, DeniedLive: live, DeniedLiveSent: liveOK})
		switch {
		case err == nil:
			l.dropped = 0
		case control.IsPermanent(err):
			s.log.Warn("coordinator refused flow logs; dropped", "records", len(recs), "live_denied", len(live), "err", err)
			l.dropped += uint64(len(recs))
		default:
			wait, _ := reportRetryIn(err)
			s.log.Info("send flow logs", "err", err, "retry_in", wait)
			return wait
		}
		l.announce(live)
		live = nil
		l.sent(len(recs))
	}
	return 0
}
