// Package sim is Ward's fleet simulator (`ward sim`): it registers N
// simulated nodes with a coordinator through the real control client
// (machine-key sessions, registration, the map stream and its decoding),
// without a data plane, keeps every node's map stream open, and measures
// what a large fleet costs the coordinator: the registration rate, how
// long one join and one policy change take to reach every stream they
// touch, the coordinator's memory and CPU from /proc, and the size of a
// full map.
package sim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/wire"
)

// Result is what a run measured.
type Result struct {
	// Nodes is the fleet registered before the probes; Capped says the
	// file limit made it smaller than asked (FileLimit is that limit).
	Nodes     int
	Capped    bool
	FileLimit uint64
	// StreamsPerConn is how many nodes shared each HTTP/2 connection (1:
	// a connection each); StreamsAuto says the file limit chose it.
	StreamsPerConn int
	StreamsAuto    bool
	// Dials is how many connections the nodes opened over the run;
	// RegisterSlow how many registrations took longer than a device
	// waits (control.DefaultCallTimeout, 30 s; the sim waits registerWait).
	Dials, RegisterSlow int64
	// RegisterRate is registrations per second with the fleet's streams
	// opening as it goes; RegisterTime the whole registration.
	RegisterRate float64
	RegisterTime time.Duration
	// SettleTime is from the end of registration until every stream held
	// its whole map.
	SettleTime time.Duration
	// Join and Policy are per-stream delivery times of the timed joins and
	// policy changes; JoinLast and PolicyLast per change, to the last
	// stream. Missing counts streams that never heard within Settle.
	Join, Policy                 Dist
	JoinLast, PolicyLast         Dist
	JoinMissing, PolicyMissing   int
	PolicyStreams, JoinedStreams int
	// JoinWritten and PolicyWritten are the coordinator's own view of the
	// timed changes (its map latency histogram): known for a coordinator
	// the sim started.
	JoinWritten, PolicyWritten Written
	// MapBytes and MapPeers are a fresh full map's size and peers per tag,
	// fetched after the fleet settled; MapTime how long it took.
	MapBytes, MapPeers map[string]int
	// MapWireBytes is the full map's size as a node of this version gets
	// it (its peers in binary, wire.FeatureBinaryPeers); MapBytes is its
	// JSON.
	MapWireBytes map[string]int
	MapTime      map[string]time.Duration
	// Measured says the coordinator's process was known; then RSS (at the
	// end), PeakRSS, CPURegister (CPU-s over the registration), CPUPer1k
	// (per 1,000 joins), IdleCPU (share of one core while idle), CPUTotal.
	Measured     bool
	RSS, PeakRSS int64
	CPURegister  time.Duration
	CPUPer1k     float64
	IdleCPU      float64
	CPUTotal     time.Duration
	// IdleGiveBack is the idle share of the windows in which the
	// coordinator gave a burst's memory back (its two collections), when
	// one did (IdleGiveBacks windows): IdleCPU is then the next window's,
	// without one (see idleCPU).
	IdleGiveBack  float64
	IdleGiveBacks int
	// Mem is where the settled coordinator's memory goes, read after the
	// idle interval (MemMeasured: a started coordinator's).
	Mem         MemStats
	MemMeasured bool
	// SimCPU is the simulator's own CPU time (it decodes every map the
	// fleet receives: on a shared machine its share limits the figures).
	SimCPU time.Duration
	// SimCPURegister is the simulator's CPU time over the registration
	// (the nodes' registrations and their map streams' decoding).
	SimCPURegister time.Duration
	// SimRSS and SimPeakRSS are the simulator's own resident memory at
	// the end and its peak (/proc): the simulated nodes' peer sets, stream
	// buffers and HTTP/2 client streams.
	SimRSS, SimPeakRSS int64
	// SimMemoryLimit is the simulator's soft memory limit
	// (Config.SelfMemoryLimit).
	SimMemoryLimit int64
	Verified       bool
	VerifyErrors   []string
	Profiles       []string
	// Rollout is the rollout probe's result (Config.Rollout); nil when
	// it did not run.
	Rollout *RolloutResult
	// Restart is the restart scenario's result (Config.Restart); nil
	// when it did not run.
	Restart *RestartResult
}

// run is one simulation in progress.
type run struct {
	cfg   Config
	base  string
	adm   *admin
	pid   int
	slot  probeSlot
	keys  map[string]string
	nodes []*simNode
	// next numbers the nodes (and their source addresses).
	next int
	wg   sync.WaitGroup
	// profileURL is the coordinator's metrics listener when it serves
	// pprof; "" otherwise.
	profileURL string
	// ch is the coordinator the sim started; nil for cfg.URL's.
	ch *child
	// gate is the nodes' shared control.Config.MapGate.
	gate chan struct{}

	connsMu sync.Mutex // connsMu guards conns
	// conns holds the shared HTTP/2 transports by group
	// (Config.StreamsPerConn), made on first use.
	conns map[int]*http.Transport
	// dials counts the connections the nodes opened; regSlow the
	// registrations that took longer than a device waits
	// (control.DefaultCallTimeout).
	dials, regSlow atomic.Int64
}

// transportFor returns the HTTP transport of node i: its own connection,
// or its group's shared HTTP/2 connection (Config.StreamsPerConn) with
// the node's source address in X-Forwarded-For.
func (r *run) transportFor(i int) http.RoundTripper {
	if r.cfg.StreamsPerConn <= 1 {
		return ownTransport(i, &r.dials)
	}
	g := i / r.cfg.StreamsPerConn
	r.connsMu.Lock()
	tr := r.conns[g]
	if tr == nil {
		tr = sharedTransport(g, &r.dials)
		r.conns[g] = tr
	}
	r.connsMu.Unlock()
	return forwardedFor{base: tr, addr: sourceAddr(i).String()}
}

// Run runs the simulation cfg describes.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	if err := cfg.defaults(); err != nil {
		return res, err
	}
	memLimit, why, err := setSelfMemoryLimit(cfg.SelfMemoryLimit)
	if err != nil {
		return res, fmt.Errorf("the simulator's own %w", err)
	}
	res.SimMemoryLimit = memLimit
	cfg.Log("simulator soft memory limit %d MB (%s), GOGC %d", memLimit>>20, why, setSelfGCPercent())
	fit, limit, err := raiseFileLimit()
	if err != nil {
		return res, err
	}
	res.FileLimit = limit
	need := cfg.Nodes + cfg.Joins + 8
	if cfg.StreamsPerConn <= 0 {
		cfg.StreamsPerConn = 1
		if need > fit && fit > 0 {
			// The fewest nodes a connection that fit, with room to spare
			// for the connections a group opens while another closes.
			cfg.StreamsPerConn = (2*need + fit - 1) / fit
			res.StreamsAuto = true
			cfg.Log("file limit %d fits %d connections: %d nodes share each HTTP/2 connection (--streams-per-conn)", limit, fit, cfg.StreamsPerConn)
		}
	}
	res.StreamsPerConn = cfg.StreamsPerConn
	if fdsFor(need, cfg.StreamsPerConn) > fit {
		res.Capped = true
		cfg.Nodes = max(1, fit*cfg.StreamsPerConn-cfg.Joins-8)
		cfg.Log("file limit %d caps the run at %d nodes (%d asked)", limit, cfg.Nodes, need-cfg.Joins-8)
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &run{cfg: cfg, base: cfg.URL, pid: cfg.CoordinatorPID, keys: map[string]string{}, conns: map[int]*http.Transport{},
		gate: make(chan struct{}, mapGateSlots())}
	defer func() { cancel(); r.wg.Wait() }()
	if cfg.URL == "" {
		var extra []string
		if cfg.StreamsPerConn > 1 {
			// The sim is the nodes' load balancer: each request names its
			// node's own address.
			extra = append(extra, "--trusted-proxy", "127.0.0.0/8")
		}
		if cfg.MemoryLimit != "" {
			extra = append(extra, "--memory-limit", cfg.MemoryLimit)
		}
		extra = append(extra, cfg.CoordinatorArgs...)
		ch, cerr := startChild(ctx, cfg.Binary, cfg.Policy, cfg.AdminListener, extra...)
		if cerr != nil {
			return res, cerr
		}
		defer ch.stop()
		r.ch = ch
		// A failed run says why the coordinator failed it: its directory,
		// and so its log, goes when the run ends.
		defer func() {
			if err != nil {
				err = fmt.Errorf("%w; the coordinator's log ends:\n%s", err, ch.logTail())
			}
		}()
		r.base, r.pid, r.profileURL, cfg.APIKey = ch.url, ch.cmd.Process.Pid, ch.metrics, ch.apiKey
		cfg.Log("coordinator pid %d at %s (log %s)", r.pid, r.base, ch.logPath)
	}
	adminBase := r.base
	if r.ch != nil {
		adminBase = r.ch.adminURL
		if cfg.AdminListener {
			cfg.Log("admin API on its own listener at %s", adminBase)
		}
	}
	r.adm = newAdmin(adminBase, cfg.APIKey)
	if cfg.URL != "" {
		if err := r.adm.setPolicy(ctx, cfg.Policy); err != nil {
			return res, fmt.Errorf("set policy: %w", err)
		}
	}
	res.Nodes, res.Measured = cfg.Nodes, r.pid != 0
	self0, _ := readProc(os.Getpid())
	err = r.measure(ctx, &res)
	self1, _ := readProc(os.Getpid())
	res.Dials, res.RegisterSlow = r.dials.Load(), r.regSlow.Load()
	res.SimCPU = self1.cpu - self0.cpu
	res.SimRSS, res.SimPeakRSS = self1.rss, self1.hwm
	return res, err
}

func (r *run) measure(ctx context.Context, res *Result) error {
	for _, tag := range []string{TagGateway, TagCamera, TagSensor, r.cfg.JoinTag} {
		if r.keys[tag] != "" {
			continue
		}
		k, err := r.adm.authKey(ctx, tag)
		if err != nil {
			return fmt.Errorf("make a pre-auth key for %s: %w", tag, err)
		}
		r.keys[tag] = k
	}
	start := r.proc()
	self0, _ := readProc(os.Getpid())
	stopCPU := r.profileCPU(ctx, "cpu-register", registerProfileFor(r.cfg.Nodes))
	stopSelf := r.profileSelf("sim-cpu-register.pprof")
	t0 := time.Now()
	if err := r.registerFleet(ctx); err != nil {
		return err
	}
	res.RegisterTime = time.Since(t0)
	stopSelf()
	if self1, err := readProc(os.Getpid()); err == nil {
		res.SimCPURegister = self1.cpu - self0.cpu
	}
	res.RegisterRate = float64(r.cfg.Nodes) / res.RegisterTime.Seconds()
	afterReg := r.proc()
	res.CPURegister = afterReg.cpu - start.cpu
	res.CPUPer1k = res.CPURegister.Seconds() / (float64(r.cfg.Nodes) / 1000)
	r.cfg.Log("registered %d nodes in %v (%.0f/s)", r.cfg.Nodes, res.RegisterTime.Round(time.Millisecond), res.RegisterRate)
	stopCPU()
	m, err := compileModel(r.cfg.Policy, r.nodes)
	if err != nil {
		return err
	}
	t1 := time.Now()
	if err := r.settle(ctx, m); err != nil {
		return err
	}
	res.SettleTime = time.Since(t1)
	r.cfg.Log("every stream holds its map after %v", res.SettleTime.Round(time.Millisecond))
	if r.cfg.Verify {
		res.VerifyErrors = r.verify(m)
		res.Verified = true
	}
	r.fullMaps(ctx, res)
	r.profileSnapshots(ctx, "settled")
	r.profileSelfHeap("settled")
	if r.cfg.Idle > 0 {
		r.idleCPU(ctx, res)
	}
	res.Mem, res.MemMeasured = r.memSnapshot(ctx)
	r.profileLiveHeap(ctx)
	stopCPU = r.profileCPU(ctx, "cpu-joins", joinsProfile)
	h0 := r.scrapeLatency(ctx)
	if err := r.joins(ctx, m, res); err != nil {
		return err
	}
	h1 := r.scrapeLatency(ctx)
	r.profileSelfHeap("joins")
	// The coordinator's profile of the policy changes starts with them:
	// the one of the joins ends first (one CPU profile at a time).
	stopCPU()
	stopCPU = r.profileCPU(ctx, "cpu-policy", policyProfile)
	stopSelf = r.profileSelf("sim-cpu-policy.pprof")
	if err := r.policyChanges(ctx, m, res); err != nil {
		return err
	}
	stopSelf()
	h2 := r.scrapeLatency(ctx)
	res.JoinWritten, res.PolicyWritten = writtenBetween(h0, h1), writtenBetween(h1, h2)
	r.profileSelfHeap("policy")
	stopCPU()
	if r.cfg.Rollout {
		if err := r.rollout(ctx, res); err != nil {
			return err
		}
	}
	end := r.proc()
	res.RSS, res.PeakRSS, res.CPUTotal = end.rss, end.hwm, end.cpu
	if r.cfg.Restart != "" {
		// Last: the figures above are the first coordinator's.
		return r.restart(ctx, res)
	}
	return nil
}

// proc reads the coordinator's figures; zero when it is not known.
func (r *run) proc() procStat {
	if r.pid == 0 {
		return procStat{}
	}
	ps, err := readProc(r.pid)
	if err != nil {
		r.cfg.Log("read coordinator figures: %v", err)
	}
	return ps
}

// addNode makes, registers and starts following one node with tag.
func (r *run) addNode(ctx context.Context, i int, tag, hostname string) (*simNode, error) {
	n, err := newSimNode(r.base, r.transportFor(i), r.gate, tag, &r.slot)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		t0 := time.Now()
		err = n.register(ctx, r.keys[tag], hostname)
		if d := time.Since(t0); d > control.DefaultCallTimeout {
			r.regSlow.Add(1) // a device with the default timeout would have asked again
		}
		d, limited := control.RetryAfter(err)
		if err == nil || !limited || attempt >= 30 {
			break
		}
		time.Sleep(max(d, 100*time.Millisecond))
	}
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", hostname, err)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		n.follow(ctx)
	}()
	return n, nil
}

// registerFleet registers cfg.Nodes nodes with cfg.Workers at a time.
func (r *run) registerFleet(ctx context.Context) error {
	nodes := make([]*simNode, r.cfg.Nodes)
	tags := r.cfg.Shape.plan(r.cfg.Nodes)
	if r.cfg.GatewaysLast {
		slices.SortStableFunc(tags, func(a, b string) int { return boolInt(a == TagGateway) - boolInt(b == TagGateway) })
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, r.cfg.Workers)
	for w := range r.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(nodes) || ctx.Err() != nil {
					return
				}
				tag := tags[i]
				n, err := r.addNode(ctx, i, tag, fmt.Sprintf("%s-%d", tag[len("tag:"):], i))
				if err != nil {
					errs[w] = err
					return
				}
				nodes[i] = n
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.nodes, r.next = nodes, len(nodes)
	return nil
}

// settle waits until every node holds as many peers as the policy gives
// it.
func (r *run) settle(ctx context.Context, m *model) error {
	want := make([]int, len(r.nodes))
	for i, n := range r.nodes {
		ps, err := m.peersOf(n.self)
		if err != nil {
			return err
		}
		want[i] = len(ps)
	}
	deadline := time.Now().Add(r.cfg.Settle)
	for {
		behind := 0
		for i, n := range r.nodes {
			if n.peerCount() != want[i] {
				behind++
			}
		}
		if behind == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d streams still without their whole map after %v", behind, len(r.nodes), r.cfg.Settle)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// verify compares every node's peers with the model's.
func (r *run) verify(m *model) []string {
	var out []string
	for _, n := range r.nodes {
		want, err := m.peersOf(n.self)
		if err == nil && !n.hasPeers(want) {
			err = fmt.Errorf("holds %d peers, the policy gives %d", n.peerCount(), len(want))
		}
		if err != nil && len(out) < 10 {
			out = append(out, fmt.Sprintf("%s: %v", n.self.Name, err))
		}
	}
	return out
}

// joins times cfg.Joins single joins, one after the other.
func (r *run) joins(ctx context.Context, m *model, res *Result) error {
	var all, last []time.Duration
	for j := range r.cfg.Joins {
		name := fmt.Sprintf("probe-%d", j)
		p := newProbe(func(msg *wire.MapResponse) bool { return hasPeerNamed(msg, name) })
		r.slot.cur.Store(p)
		n, err := r.addNode(ctx, r.next, r.cfg.JoinTag, name)
		r.next++
		if err != nil {
			return err
		}
		r.nodes = append(r.nodes, n)
		if err := m.add(n.self); err != nil {
			return err
		}
		want, err := m.peersOf(n.self)
		if err != nil {
			return err
		}
		p.expect(want)
		times, missing := p.wait(r.cfg.Settle)
		r.slot.cur.Store(nil)
		res.JoinMissing += missing
		res.JoinedStreams += len(want)
		all = append(all, times...)
		last = append(last, distOf(times).Max)
	}
	res.Join, res.JoinLast = distOf(all), distOf(last)
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func hasPeerNamed(m *wire.MapResponse, name string) bool {
	for _, ps := range [][]wire.Node{m.Peers, m.PeersChanged} {
		for _, p := range ps {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

// policyChanges times cfg.PolicyChanges switches between the two
// policies.
func (r *run) policyChanges(ctx context.Context, m *model, res *Result) error {
	texts := []string{r.cfg.PolicyChange, r.cfg.Policy}
	cur := m
	var all, last []time.Duration
	for i := range r.cfg.PolicyChanges {
		text := texts[i%2]
		next, err := compileModel(text, r.nodes)
		if err != nil {
			return err
		}
		want, err := touchedBy(cur, next, r.nodes)
		if err != nil {
			return err
		}
		p := newProbe(func(msg *wire.MapResponse) bool { return !msg.KeepAlive })
		p.expect(want)
		p.start = time.Now()
		r.slot.cur.Store(p)
		if err := r.adm.setPolicy(ctx, text); err != nil {
			return fmt.Errorf("set policy: %w", err)
		}
		times, missing := p.wait(r.cfg.Settle)
		r.slot.cur.Store(nil)
		res.PolicyMissing += missing
		res.PolicyStreams = len(want)
		all = append(all, times...)
		d := distOf(times)
		last = append(last, d.Max)
		r.cfg.Log("policy change %d (%s): p50 %v p99 %v max %v over %d streams", i+1, []string{"to the change", "back"}[i%2],
			d.P50.Round(time.Millisecond), d.P99.Round(time.Millisecond), d.Max.Round(time.Millisecond), len(times))
		cur = next
		if r.cfg.Verify && i == r.cfg.PolicyChanges-1 {
			if err := r.settle(ctx, next); err != nil {
				return err
			}
			res.VerifyErrors = append(res.VerifyErrors, r.verify(next)...)
		}
	}
	res.Policy, res.PolicyLast = distOf(all), distOf(last)
	return nil
}

// With --profile, the coordinator's CPU profile of the timed joins
// (cpu-joins.pprof) lasts joinsProfile, and the one of the policy changes
// (cpu-policy.pprof, from the first change on) policyProfile: the
// profile is asked for a time fixed ahead, long enough for a
// 50,000-node fleet's changes, which the run waits out.
const (
	joinsProfile  = 10 * time.Second
	policyProfile = 60 * time.Second
)

// maxIdleWindows bounds the idle windows idleCPU measures.
const maxIdleWindows = 3

// idleCPU measures the coordinator's share of a core over cfg.Idle. A
// window in which the coordinator gave a burst's memory back
// (ward_memory_give_backs_total moved: two full collections of its heap,
// once after a burst, about 3 CPU-s at 50,000 nodes) is not its idle
// cost: its figure is kept in IdleGiveBack and another window measured,
// up to maxIdleWindows in all.
func (r *run) idleCPU(ctx context.Context, res *Result) {
	var sum float64
	for w := range maxIdleWindows {
		stopIdle := r.profileCPU(ctx, "cpu-idle", r.cfg.Idle)
		g0, known0 := r.scrapeCounter(ctx, giveBacksMetric)
		a := r.proc()
		time.Sleep(r.cfg.Idle)
		b := r.proc()
		g1, known1 := r.scrapeCounter(ctx, giveBacksMetric)
		stopIdle()
		res.IdleCPU = (b.cpu - a.cpu).Seconds() / r.cfg.Idle.Seconds()
		if !known0 || !known1 || g1 == g0 || w == maxIdleWindows-1 {
			return
		}
		sum += res.IdleCPU
		res.IdleGiveBacks++
		res.IdleGiveBack = sum / float64(res.IdleGiveBacks)
		r.cfg.Log("the coordinator gave memory back in the idle window (%.1f %% of a core): measuring another", 100*res.IdleCPU)
	}
}
