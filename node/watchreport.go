package node

import (
	"cmp"
	"context"
	"sync"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/watch"
	"github.com/wardnet/ward/wire"
)

const (
	// watchConfigEvery is how often a node asks what to watch.
	watchConfigEvery = time.Minute
	// watchSendsPerPoll bounds the batches of watch events sent at one
	// poll, inside the coordinator's per-node limit.
	watchSendsPerPoll = 4
	// minWakeGap bounds how often file notifications make the node poll
	// (a busy /var/log would otherwise poll at every write).
	minWakeGap = 100 * time.Millisecond
)

// watchLoop watches the disk as the coordinator says (asking at the start
// and every watchConfigEvery; until it answers, as the last run was told),
// polling every watchPoll and when file notifications say something
// changed (at most every minWakeGap), sending what it finds and saving its
// state after each poll, until ctx is done. A coordinator older than
// protocol 17 gets nothing.
func (s *Session) watchLoop(ctx context.Context) {
	w := watch.New(watch.Config{StateDir: s.cfg.stateDir, Rehash: s.cfg.watchRehash, LogsUnder: s.cfg.watchLogsUnder, Log: s.log})
	defer func() {
		if err := w.Close(); err != nil {
			s.log.Warn("watch: save state", "err", err)
		}
	}()
	wake := watch.NewWaker(s.log)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() { wake.Run(ctx) })
	t := time.NewTicker(cmp.Or(s.cfg.watchPoll, watch.DefaultPoll))
	defer t.Stop()
	var nextConfig, notBefore time.Time
	for now := time.Now(); ; {
		if !now.Before(nextConfig) {
			s.fetchWatch(ctx, w)
			wake.Watch(w.Config())
			nextConfig = now.Add(watchConfigEvery)
		}
		s.watchOnce(ctx, w, now, &notBefore)
		select {
		case <-ctx.Done():
			return
		case now = <-t.C:
		case <-wake.C:
			if !sleep(ctx, minWakeGap) {
				return
			}
			now = time.Now()
		}
	}
}

// watchOnce polls w, sends what it found unless a failure asked to wait
// until notBefore, and saves w's state.
func (s *Session) watchOnce(ctx context.Context, w *watch.Watcher, now time.Time, notBefore *time.Time) {
	w.Poll(now)
	if !now.Before(*notBefore) {
		if wait := s.sendWatch(ctx, w); wait > 0 {
			*notBefore = now.Add(wait)
		}
	}
	if err := w.Save(); err != nil {
		s.log.Warn("watch: save state", "err", err)
	}
}

// watchUnsupported reports whether the coordinator is known to be older
// than protocol 17.
func (s *Session) watchUnsupported() bool {
	v := s.client.ServerVersion()
	return v != 0 && !wire.Supports(v, wire.FeatureWatch)
}

// fetchWatch asks the coordinator what to watch; on a passing failure w
// keeps what it watches, on a refusal (an older coordinator) it stops.
func (s *Session) fetchWatch(ctx context.Context, w *watch.Watcher) {
	if s.watchUnsupported() {
		w.SetConfig(wire.WatchConfig{})
		return
	}
	cfg, err := s.client.Watch(ctx)
	switch {
	case err == nil:
		w.SetConfig(cfg)
	case control.IsPermanent(err):
		s.log.Info("coordinator gives no watch config; watching nothing", "err", err)
		w.SetConfig(wire.WatchConfig{})
	case ctx.Err() == nil:
		s.log.Info("get watch config", "err", err)
	}
}

// sendWatch sends the pending events, at most watchSendsPerPoll batches,
// and returns the wait before the next try after a failure (0: none). A
// batch the coordinator refuses for good (400), or an older coordinator,
// drops it, so it cannot hold back the rest.
func (s *Session) sendWatch(ctx context.Context, w *watch.Watcher) time.Duration {
	for range watchSendsPerPoll {
		b := w.Pending()
		if len(b.Events) == 0 {
			return 0
		}
		if s.watchUnsupported() {
			w.Sent(len(b.Events), true)
			continue
		}
		err := s.client.WatchEvents(ctx, b)
		switch {
		case err == nil:
			w.Sent(len(b.Events), false)
		case control.IsPermanent(err):
			s.log.Warn("coordinator refused watch events; dropped", "events", len(b.Events), "err", err)
			w.Sent(len(b.Events), true)
		default:
			wait, _ := reportRetryIn(err)
			s.log.Info("send watch events", "err", err, "retry_in", wait)
			return wait
		}
	}
	return 0
}
