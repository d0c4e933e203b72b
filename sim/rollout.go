package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/wardnet/ward/apicall"
	"github.com/wardnet/ward/wire"
)

// RolloutResult is what the rollout probe measured: a rollout of one
// target to every simulated node in waves (5, 25 %, 100 %, no soak),
// each node asking for its update as the agent does and reporting each
// step, until the rollout is done.
type RolloutResult struct {
	// Devices is how many nodes the rollout reached; Waves how many
	// waves it had.
	Devices, Waves int
	// Time is from the rollout's creation until it was done, every
	// device healthy.
	Time time.Duration
	// CPU is the coordinator's CPU over that time; RSS its resident
	// memory at the end, PeakRSS its peak over the run.
	CPU          time.Duration
	RSS, PeakRSS int64
	// Requests counts the nodes' calls (polls and reports); Waited how
	// many polls the download cap answered with Retry-After.
	Requests, Waited int
}

// rolloutPoll is how often a simulated node asks for its update: far
// more often than an agent, to load the coordinator.
const rolloutPoll = 200 * time.Millisecond

// rollout rolls a target out to every node and measures it.
func (r *run) rollout(ctx context.Context, res *Result) error {
	req := wire.RolloutCreate{Target: "app/sim/app-2.0", Kind: wire.UpdateKindArtifact, Version: "2.0",
		Tags: []string{TagGateway, TagCamera, TagSensor, r.cfg.JoinTag}, Waves: []string{"5", "25%", "100%"},
		SuccessGate: "100%", FailureGate: "10%", MinSample: 5, TimeoutMillis: (5 * time.Minute).Milliseconds()}
	before := r.proc()
	t0 := time.Now()
	var ro wire.Rollout
	if err := r.adm.do(ctx, http.MethodPost, wire.PathAdminRollouts, req, &ro); err != nil {
		return fmt.Errorf("create rollout: %w", err)
	}
	var mu sync.Mutex
	out := RolloutResult{}
	var wg sync.WaitGroup
	errs := make([]error, len(r.nodes))
	for i, n := range r.nodes {
		wg.Go(func() {
			calls, waited, err := n.update(ctx, ro.ID)
			mu.Lock()
			out.Requests += calls
			out.Waited += waited
			mu.Unlock()
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for {
		if err := r.adm.do(ctx, http.MethodGet, wire.PathAdminRollouts+"/"+strconv.FormatInt(ro.ID, 10), nil, &ro); err != nil {
			return err
		}
		if ro.Status != "running" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	out.Time = time.Since(t0)
	if ro.Status != "done" {
		return fmt.Errorf("rollout %d ended %s: %s", ro.ID, ro.Status, ro.PauseReason)
	}
	after := r.proc()
	out.CPU, out.RSS, out.PeakRSS = after.cpu-before.cpu, after.rss, after.hwm
	out.Waves = len(ro.Progress)
	for _, w := range ro.Progress {
		out.Devices += len(w.Devices)
	}
	res.Rollout = &out
	r.cfg.Log("rolled out to %d devices in %v", out.Devices, out.Time.Round(time.Millisecond))
	return nil
}

// update runs the node's side of rollout id as an agent would: poll
// until it is assigned, then report downloading (0, 50, 100 %),
// verifying, installing and healthy. It returns its calls and how many
// polls waited for a download slot.
func (n *simNode) update(ctx context.Context, id int64) (calls, waited int, err error) {
	for {
		calls++
		var a wire.UpdateAssignment
		code, retry, err := n.call(ctx, http.MethodGet, wire.PathUpdate, nil, &a)
		if err != nil {
			return calls, waited, err
		}
		if code == http.StatusOK && a.Rollout == id {
			break
		}
		wait := rolloutPoll
		if retry {
			waited++
		}
		select {
		case <-ctx.Done():
			return calls, waited, ctx.Err()
		case <-time.After(wait):
		}
	}
	steps := []wire.UpdateReport{{State: wire.UpdateDownloading}, {State: wire.UpdateDownloading, Progress: 50},
		{State: wire.UpdateDownloading, Progress: 100}, {State: wire.UpdateVerifying}, {State: wire.UpdateInstalling},
		{State: wire.UpdateHealthy, Running: "2.0"}}
	for _, s := range steps {
		s.Rollout, s.Target = id, "app/sim/app-2.0"
		calls++
		if _, _, err := n.call(ctx, http.MethodPost, wire.PathUpdateReport, s, nil); err != nil {
			return calls, waited, fmt.Errorf("%s: report %s: %w", n.self.Name, s.State, err)
		}
	}
	return calls, waited, nil
}

// call makes one control call with the node's session; it returns the
// status and whether a 204 asked it to come back later (the download
// cap). A 429 is waited out and retried.
func (n *simNode) call(ctx context.Context, method, path string, in, out any) (int, bool, error) {
	for attempt := 0; ; attempt++ {
		s, err := n.cl.Session(ctx)
		if err != nil {
			return 0, false, err
		}
		var body io.Reader
		if in != nil {
			b, _ := json.Marshal(in)
			body = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, n.cl.URL()+path, body)
		if err != nil {
			return 0, false, err
		}
		req.Header.Set("Authorization", "Bearer "+s.Token)
		resp, err := n.cl.HTTPClient().Do(req)
		if err != nil {
			return 0, false, apicall.Unreachable(ctx, "coordinator", err)
		}
		err = apicall.Check(resp, "coordinator")
		if err == nil && resp.StatusCode == http.StatusOK && out != nil {
			err = apicall.Decode(resp.Body, 1<<16, out)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		var ae *apicall.Error
		if errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests && attempt < 30 {
			time.Sleep(max(ae.RetryAfter, 100*time.Millisecond))
			continue
		}
		return resp.StatusCode, resp.Header.Get("Retry-After") != "", err
	}
}
