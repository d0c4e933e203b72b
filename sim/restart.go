package sim

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/wardnet/ward/wire"
)

// RestartResult is what the restart scenario measured (Config.Restart).
type RestartResult struct {
	// Signal is "term" or "kill"; Exit how long the coordinator took to
	// exit after it; Ready from the signal until the new one answered.
	Signal      string
	Exit, Ready time.Duration
	// Settled is from the signal until every stream held its map again
	// (a stream opened after the signal, its first message arrived and
	// the node holds the peers the policy gives it); Streams how many.
	Settled time.Duration
	Streams int
	// Before are the admin calls' latencies on the settled fleet before
	// the restart; During from the new coordinator's first answer until
	// the fleet settled. Policy is GET of the policy, Nodes GET of the
	// node list; Errors the calls that failed once it answered.
	PolicyBefore, PolicyDuring Dist
	NodesBefore, NodesDuring   Dist
	PolicyCalls, NodesCalls    int
	Errors                     int
	// CPU is the new coordinator's CPU from its start until settled; RSS
	// its memory then.
	CPU time.Duration
	RSS int64
	// AdminListener is set when the admin calls went to the
	// coordinator's admin listener (Config.AdminListener), not the
	// fleet's.
	AdminListener bool
}

// restartPollBefore is how long admin calls are timed before the
// restart; policyPollEvery and nodesPollEvery how often each is called.
const (
	restartPollBefore = 5 * time.Second
	policyPollEvery   = 200 * time.Millisecond
	nodesPollEvery    = 2 * time.Second
)

// restart stops the coordinator the sim started (SIGTERM or SIGKILL),
// starts it again on the same data directory and port, and measures the
// time until every stream holds its map again and the admin API's
// latency meanwhile.
func (r *run) restart(ctx context.Context, res *Result) error {
	if r.ch == nil {
		return fmt.Errorf("restart: the coordinator was not started by the sim")
	}
	text := r.cfg.Policy
	if r.cfg.PolicyChanges%2 == 1 {
		text = r.cfg.PolicyChange
	}
	m, err := compileModel(text, r.nodes)
	if err != nil {
		return err
	}
	want := make([]int, len(r.nodes))
	for i, n := range r.nodes {
		ps, err := m.peersOf(n.self)
		if err != nil {
			return err
		}
		want[i] = len(ps)
	}
	rr := &RestartResult{Signal: r.cfg.Restart, Streams: len(r.nodes), AdminListener: r.cfg.AdminListener}
	res.Restart = rr
	before := r.pollAdmin(ctx, time.Now().Add(restartPollBefore))
	rr.PolicyBefore, rr.NodesBefore = distOf(before.policy), distOf(before.nodes)

	sig := syscall.SIGTERM
	if r.cfg.Restart == "kill" {
		sig = syscall.SIGKILL
	}
	t0 := time.Now()
	r.cfg.Log("restart: %v to the coordinator (pid %d)", sig, r.pid)
	rr.Exit = r.ch.end(sig, 30*time.Second)
	if err := r.ch.start(ctx); err != nil {
		return fmt.Errorf("restart the coordinator: %w", err)
	}
	rr.Ready = time.Since(t0)
	r.pid = r.ch.cmd.Process.Pid
	start := r.proc()
	r.cfg.Log("restart: coordinator exited after %v, pid %d answers %v after the signal", rr.Exit.Round(time.Millisecond), r.pid, rr.Ready.Round(time.Millisecond))
	stopCPU := r.profileCPU(ctx, "cpu-restart", 20*time.Second)
	go func() {
		// What the storm's goroutines wait on, a few seconds in.
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			r.profileSnapshots(ctx, "restart")
		}
	}()
	pctx, stopPoll := context.WithCancel(ctx)
	during := make(chan adminTimes, 1)
	go func() { during <- r.pollAdmin(pctx, time.Time{}) }()
	deadline := t0.Add(r.cfg.Settle)
	var last time.Time
	for {
		behind := 0
		last = time.Time{}
		for i, n := range r.nodes {
			at, ok := n.mapSince(t0)
			if !ok || n.peerCount() != want[i] {
				behind++
				continue
			}
			if at.After(last) {
				last = at
			}
		}
		if behind == 0 {
			break
		}
		if time.Now().After(deadline) {
			stopPoll()
			<-during
			return fmt.Errorf("restart: %d of %d streams without their map %v after the signal", behind, len(r.nodes), r.cfg.Settle)
		}
		select {
		case <-ctx.Done():
			stopPoll()
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	rr.Settled = last.Sub(t0)
	end := r.proc()
	rr.CPU, rr.RSS = end.cpu-start.cpu, end.rss
	stopPoll()
	d := <-during
	rr.PolicyDuring, rr.NodesDuring = distOf(d.policy), distOf(d.nodes)
	rr.PolicyCalls, rr.NodesCalls, rr.Errors = len(d.policy), len(d.nodes), d.errors
	r.cfg.Log("restart: every stream holds its map %v after the signal", rr.Settled.Round(time.Millisecond))
	stopCPU()
	return nil
}

// adminTimes are the latencies of the admin calls one poll made.
type adminTimes struct {
	policy, nodes []time.Duration
	errors        int
}

// nodesPollPath is the node list call pollAdmin times: one page of
// wire.NodePageDefault nodes, as the admin UI and CLI read the list (the
// whole list in one answer grew with the fleet: 20-23 s at 50,000 nodes
// during a storm).
var nodesPollPath = wire.PathAdminNodes + "?" + wire.NodePageLimitParam + "=" + strconv.Itoa(wire.NodePageDefault)

// pollAdmin calls GET of the policy every policyPollEvery and GET of one
// page of the node list (nodesPollPath) every nodesPollEvery, each one at a time, until ctx ends or
// (when not zero) until, and returns their latencies.
func (r *run) pollAdmin(ctx context.Context, until time.Time) adminTimes {
	if !until.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, until)
		defer cancel()
	}
	var out adminTimes
	var mu sync.Mutex // guards out
	var wg sync.WaitGroup
	poll := func(path string, every time.Duration, into *[]time.Duration) {
		defer wg.Done()
		for ctx.Err() == nil {
			t := time.Now()
			err := r.adm.get(ctx, path)
			d := time.Since(t)
			if d > time.Second && err == nil {
				r.cfg.Log("admin GET %s took %v (started %s)", path, d.Round(time.Millisecond), t.Format("15:04:05.000"))
			}
			mu.Lock()
			switch {
			case err == nil:
				*into = append(*into, d)
			case ctx.Err() == nil:
				out.errors++
			}
			mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(max(0, every-d)):
			}
		}
	}
	wg.Add(2)
	go poll(wire.PathAdminPolicy, policyPollEvery, &out.policy)
	go poll(nodesPollPath, nodesPollEvery, &out.nodes)
	wg.Wait()
	return out
}
