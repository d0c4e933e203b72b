package e2e

import (
	"bufio"
	be "encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardnet/ward/node/localapi"
)

// The overlay benchmark (issue 12): two `ward node` processes on loopback,
// one TCP stream from a client through the first node's SOCKS5 proxy to a
// service the second node exposes, forward (client sends) and reverse
// (service sends); the same with both nodes on the legacy data path
// (--legacy-datapath: the data path before issue 12), interleaved, in the
// same run. It prints the throughput and the CPU seconds per GB of both
// node processes together (from /proc/PID/stat), their memory (VmHWM,
// VmRSS from /proc/PID/status) and the ratios new/legacy.
//
// Environment: WARD_BENCH_OVERLAY=1 runs it (make bench-overlay);
// WARD_BENCH_ROUNDS rounds (default 3), WARD_BENCH_MB MiB per transfer
// (default 256) over WARD_BENCH_STREAMS TCP connections at once (default
// 1), WARD_BENCH_SETTLE how long to watch the memory go down
// after the load (default 60s), WARD_BENCH_IDLE how long the nodes stay
// idle after the last one started before their idle RSS is read (default
// 20s: a node releases the pages its start-up touched in its first quiet
// interval, 5 to 10 s after the start; see node/binpages_linux.go).
// WARD_BENCH_NODE_TAGS: the build tags of
// the node processes' binary (make bench-overlay gives the agent's, those
// of make agent, so the nodes run as a device runs them: stripped, without
// cgo, with those tags); unset, the nodes run the full build the
// coordinator runs. WARD_BENCH_FULL=1 adds a mode "full": today's data
// path on the full build, to compare the two builds in the same run.
// WARD_BENCH_PROFILE=DIR has every node write a CPU profile of its whole
// run to DIR/NAME.pprof (client-new.pprof, device-legacy.pprof, ...;
// WARD_CPUPROFILE of `ward node`), written when the bench stops it; the
// agent's build is then made without ward_omit_pprof.
// WARD_BENCH_BASELINE_REV=REV (make bench-overlay BENCH_BASELINE_REV=REV)
// adds a mode "base": ward as it was at the git revision REV (cb21dfe is
// main before issue 12's data path), built from git at run time (git
// archive into a temporary directory, then go build as the nodes are
// built: CGO_ENABLED=0, -trimpath, stripped, with
// WARD_BENCH_BASELINE_TAGS, none by default), with a coordinator of its
// own on that binary too, since the protocol differs across versions;
// it prints new/base ratios beside new/legacy. A revision that does not
// build fails the bench before any node starts.

// overlayMode is one data path under test: its two node processes.
type overlayMode struct {
	name string
	// bin is the ward binary the two nodes run.
	bin            string
	client, device *exec.Cmd
	clientDir      string
	deviceName     string
	socks, svcPort string
	svc            net.Listener
	fwd, rev       []transferFigure
	// idleKB, peakKB and settledKB are the client's and the device's RSS
	// before the load, at its peak (VmHWM) and settledAfter the load.
	idleKB, peakKB, settledKB [2]int
	settledAfter              time.Duration
	// idleAnonKB and idleFileKB split the client's idle RSS, and
	// settledAnonKB and settledFileKB its RSS after the load: heap and
	// stacks, and the binary's pages.
	idleAnonKB, idleFileKB, settledAnonKB, settledFileKB int
}

// transferFigure is one transfer's throughput and the CPU the two nodes
// spent on it.
type transferFigure struct {
	gbps     float64
	cpuPerGB float64
	// benchPerGB is the bench process's own CPU per GB (the client and
	// the service, both ends of the loopback TCP legs); busy is the share
	// of all the machine's CPUs that were busy during the transfer (every
	// process's, the other sessions' on a shared machine too).
	benchPerGB, busy float64
}

func TestOverlayBenchmark(t *testing.T) {
	if os.Getenv("WARD_BENCH_OVERLAY") != "1" {
		t.Skip("set WARD_BENCH_OVERLAY=1 (make bench-overlay) to measure the overlay's data path")
	}
	rounds := envInt("WARD_BENCH_ROUNDS", 3)
	streams := envInt("WARD_BENCH_STREAMS", 1)
	size := int64(envInt("WARD_BENCH_MB", 256)) << 20
	settle := 60 * time.Second
	if v := os.Getenv("WARD_BENCH_SETTLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("WARD_BENCH_SETTLE: %v", err)
		}
		settle = d
	}
	idle := 20 * time.Second
	if v := os.Getenv("WARD_BENCH_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("WARD_BENCH_IDLE: %v", err)
		}
		idle = d
	}
	var base string
	if rev := strings.TrimSpace(os.Getenv("WARD_BENCH_BASELINE_REV")); rev != "" {
		var desc string
		base, desc = benchBaselineBinary(t, rev, strings.TrimSpace(os.Getenv("WARD_BENCH_BASELINE_TAGS")))
		t.Logf("base processes (coordinator and nodes): %s", desc)
	}
	full := binary(t)
	node, build := benchNodeBinary(t, full)
	t.Logf("node processes: %s", build)
	p := newProcFleet(t, meshPolicy)
	key := p.authKey("tag:bench")
	modes := []*overlayMode{
		startOverlayMode(t, p, key, node, "legacy", []string{"--legacy-datapath"}),
		startOverlayMode(t, p, key, node, "new", nil),
	}
	if base != "" {
		pb := newProcFleetBin(t, meshPolicy, base)
		modes = append(modes, startOverlayMode(t, pb, pb.authKey("tag:bench"), base, baseMode, nil))
	}
	// WARD_BENCH_VARIANT="NAME ARGS...[; NAME ARGS...]": more modes,
	// today's data path with ARGS added to both nodes, measured in the
	// same run (tunings against today's); an ARG NAME=VALUE (NAME in
	// capitals) goes to the nodes' environment instead (GOGC=200).
	for _, spec := range strings.Split(os.Getenv("WARD_BENCH_VARIANT"), ";") {
		if v := strings.Fields(spec); len(v) > 0 {
			if slices.Contains([]string{"legacy", "new", baseMode, "full"}, v[0]) {
				t.Fatalf("WARD_BENCH_VARIANT: %q names a built-in mode; choose another name", v[0])
			}
			modes = append(modes, startOverlayMode(t, p, key, node, v[0], v[1:]))
		}
	}
	if os.Getenv("WARD_BENCH_FULL") == "1" && node != full {
		modes = append(modes, startOverlayMode(t, p, key, full, "full", nil))
	}
	t.Logf("%d TCP stream(s) per transfer, %d CPUs", streams, runtime.NumCPU())
	time.Sleep(idle) // idle means idle: start-up is over
	for _, m := range modes {
		m.idleKB = [2]int{mustRSS(t, m.client), mustRSS(t, m.device)}
		m.idleAnonKB, m.idleFileKB = procKB(t, m.client, "RssAnon:"), procKB(t, m.client, "RssFile:")
	}
	for r := range rounds {
		for _, m := range modes {
			f := m.transfer(t, size, false, streams)
			m.fwd = append(m.fwd, f)
			rv := m.transfer(t, size, true, streams)
			m.rev = append(m.rev, rv)
			t.Logf("round %d %-6s forward %6.3f Gbit/s %6.2f CPU-s/GB (bench %.2f, machine %3.0f%% busy)   reverse %6.3f Gbit/s %6.2f CPU-s/GB (bench %.2f, machine %3.0f%% busy)",
				r+1, m.name, f.gbps, f.cpuPerGB, f.benchPerGB, 100*f.busy, rv.gbps, rv.cpuPerGB, rv.benchPerGB, 100*rv.busy)
		}
	}
	for _, m := range modes {
		m.peakKB = [2]int{procKB(t, m.client, "VmHWM:"), procKB(t, m.device, "VmHWM:")}
	}
	settleAll(t, modes, settle)
	reportOverlay(t, modes, rounds, size)
}

// startOverlayMode starts the client node (with a SOCKS5 proxy) and the
// device node (exposing a sink/source service) of one mode, both with
// extra args, and waits until the client sees the device.
func startOverlayMode(t *testing.T, p *procFleet, key, bin, name string, extra []string) *overlayMode {
	m := &overlayMode{name: name, bin: bin, deviceName: "device-" + name}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	m.svc = ln
	port := ln.Addr().(*net.TCPAddr).Port
	m.svcPort = strconv.Itoa(port)
	m.socks = freeLoopbackAddr(t)
	flags, env := splitVariantArgs(extra)
	m.clientDir, m.client = startBenchNode(t, p, key, bin, "client-"+name, append([]string{"--socks5", m.socks}, flags...), env)
	_, m.device = startBenchNode(t, p, key, bin, m.deviceName, append([]string{"--expose", m.svcPort}, flags...), env)
	pollTB(t, name+" client sees its device", func() bool {
		st, err := nodeStatusBin(bin, m.clientDir)
		if err != nil || !st.Connected {
			return false
		}
		return slices.ContainsFunc(st.Peers, func(pr localapi.Peer) bool { return pr.Name == m.deviceName })
	})
	return m
}

// benchNodeBinary returns the binary the bench's nodes run and says which
// build it is: with WARD_BENCH_NODE_TAGS, one built as make agent builds
// the device agent (those tags, CGO_ENABLED=0, -trimpath, stripped);
// without, full (the coordinator's build).
func benchNodeBinary(t *testing.T, full string) (string, string) {
	tags := strings.TrimSpace(os.Getenv("WARD_BENCH_NODE_TAGS"))
	if tags == "" {
		return full, fmt.Sprintf("the full build (%.1f MB)", fileMB(t, full))
	}
	if os.Getenv("WARD_BENCH_PROFILE") != "" {
		// The agent's build leaves CPU profiles out; this one needs them.
		tags = strings.Join(slices.DeleteFunc(strings.Split(tags, ","), func(s string) bool { return s == "ward_omit_pprof" }), ",")
	}
	bin := filepath.Join(t.TempDir(), "ward-agent")
	cmd := exec.Command("go", "build", "-tags", tags, "-trimpath", "-ldflags=-s -w", "-o", bin, "../cmd/ward")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build the agent (tags %s): %v: %s", tags, err, out)
	}
	return bin, fmt.Sprintf("the agent build (%.1f MB; tags %s; full build %.1f MB)", fileMB(t, bin), tags, fileMB(t, full))
}

// baseMode names the mode that runs the build of WARD_BENCH_BASELINE_REV.
const baseMode = "base"

// benchBaselineBinary builds `ward` as it was at the git revision rev
// (the repository's own history; nothing of it is kept in the tree): git
// archive of that commit into a temporary directory, then go build there
// as benchNodeBinary builds the nodes (CGO_ENABLED=0, -trimpath,
// stripped; with tags if any). It fails the test with the reason when
// the revision is unknown or does not build, and says how long the build
// took and how large the binary is.
func benchBaselineBinary(t *testing.T, rev, tags string) (string, string) {
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("BENCH_BASELINE_REV=%s: the bench needs the repository's git history: git rev-parse: %v", rev, err)
	}
	root := strings.TrimSpace(string(out))
	out, err = exec.Command("git", "-C", root, "rev-parse", "--verify", "--quiet", rev+"^{commit}").Output()
	if err != nil {
		t.Fatalf("BENCH_BASELINE_REV=%s: no such commit in %s", rev, root)
	}
	commit := strings.TrimSpace(string(out))
	start := time.Now()
	src := t.TempDir()
	archive := exec.Command("git", "-C", root, "archive", "--format=tar", commit)
	untar := exec.Command("tar", "-x", "-C", src)
	if untar.Stdin, err = archive.StdoutPipe(); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	archive.Stderr, untar.Stderr = &stderr, &stderr
	if err := untar.Start(); err != nil {
		t.Fatalf("BENCH_BASELINE_REV=%s: tar: %v", rev, err)
	}
	aerr := archive.Run()
	if err := untar.Wait(); err != nil || aerr != nil {
		t.Fatalf("BENCH_BASELINE_REV=%s: git archive %s into %s: %v %v: %s", rev, commit, src, aerr, err, stderr.String())
	}
	bin := filepath.Join(t.TempDir(), "ward-base")
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", bin}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	build := exec.Command("go", append(args, "./cmd/ward")...)
	build.Dir = src
	// The archive has no .git and no go.work: the commit's own go.mod
	// and go.sum decide every dependency.
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("BENCH_BASELINE_REV=%s: ward at %.12s does not build (go %s in %s): %v\n%s", rev, commit, strings.Join(args, " "), src, err, out)
	}
	checkBaselineFlags(t, rev, bin)
	return bin, fmt.Sprintf("ward at %.12s (%s), full build, tags %q (%.1f MB), built from git in %v",
		commit, rev, tags, fileMB(t, bin), time.Since(start).Round(100*time.Millisecond))
}

// baselineFlags are the flags of each command the bench gives the base
// build (newProcFleetBin, startBenchNode, nodeStatusBin).
var baselineFlags = map[string][]string{
	"coordinator": {"--dev", "--data-dir", "--listen", "--policy", "--metrics-listen"},
	"node":        {"--coordinator", "--dev-insecure-http", "--state-dir", "--hostname", "--socks5", "--expose"},
	"status":      {"--json", "--state-dir"},
}

// checkBaselineFlags fails the test, saying what is missing, when the
// base build's commands lack a flag the bench gives them (a revision
// older than the bench's way of running ward).
func checkBaselineFlags(t *testing.T, rev, bin string) {
	for cmd, flags := range baselineFlags {
		out, _ := exec.Command(bin, cmd, "--help").CombinedOutput()
		for _, f := range flags {
			if !strings.Contains(string(out), f+" ") {
				t.Fatalf("BENCH_BASELINE_REV=%s: its `ward %s` has no %s flag, which the bench gives it; choose a later revision", rev, cmd, f)
			}
		}
	}
}

// fileMB returns the size of the file at path in MB.
func fileMB(t *testing.T, path string) float64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return float64(fi.Size()) / (1 << 20)
}

// splitVariantArgs splits a mode's extra arguments into `ward node` flags
// and environment variables (NAME=VALUE, NAME in capitals: GOGC=200,
// GODEBUG=..., a WARD_ variable the node reads).
func splitVariantArgs(extra []string) (flags, env []string) {
	for _, a := range extra {
		if name, _, ok := strings.Cut(a, "="); ok && name != "" && strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == "" {
			env = append(env, a)
			continue
		}
		flags = append(flags, a)
	}
	return flags, env
}

// startBenchNode starts bin's `ward node` with args added and env added to
// the bench's environment.
func startBenchNode(t *testing.T, p *procFleet, key, bin, name string, args, env []string) (string, *exec.Cmd) {
	dir := filepath.Join(p.dir, name)
	all := append([]string{"node", "--coordinator", "http://" + p.addr, "--dev-insecure-http", "--state-dir", dir, "--hostname", name}, args...)
	cmd := exec.Command(bin, all...)
	cmd.Env = append(append(os.Environ(), env...), "WARD_AUTH_KEY="+key)
	if dir := os.Getenv("WARD_BENCH_PROFILE"); dir != "" {
		cmd.Env = append(cmd.Env, "WARD_CPUPROFILE="+filepath.Join(dir, name+".pprof"))
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	return dir, cmd
}

// transfer moves size bytes through the mode's overlay, from the client
// to the service (reverse: the other way), over streams TCP connections
// at once (size/streams each), and returns the figures.
func (m *overlayMode) transfer(t *testing.T, size int64, reverse bool, streams int) transferFigure {
	type pair struct{ src, dst net.Conn }
	pairs := make([]pair, streams)
	for i := range pairs {
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := m.svc.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}()
		c := socks5Dial(t, m.socks, m.deviceName, m.svcPort)
		defer c.Close()
		s, ok := <-accepted
		if !ok {
			t.Fatal("service accept failed")
		}
		defer s.Close()
		pairs[i] = pair{c, s}
		if reverse {
			pairs[i] = pair{s, c}
		}
	}
	each := size / int64(streams)
	cpu0 := cpuTicks(t, m.client) + cpuTicks(t, m.device)
	self0 := selfTicks(t)
	busy0, total0 := machineTicks(t)
	start := time.Now()
	got := make(chan int64, streams)
	sent := make(chan error, streams)
	for _, p := range pairs {
		go func() {
			n, _ := io.Copy(io.Discard, p.dst)
			got <- n
		}()
		go func() {
			_, err := io.CopyN(p.src, zeroReader{}, each)
			p.src.(*net.TCPConn).CloseWrite()
			sent <- err
		}()
	}
	var n int64
	for range pairs {
		if err := <-sent; err != nil {
			t.Fatalf("%s transfer: %v", m.name, err)
		}
		n += <-got
	}
	elapsed := time.Since(start)
	cpu := float64(cpuTicks(t, m.client)+cpuTicks(t, m.device)-cpu0) / clockTicks
	self := float64(selfTicks(t)-self0) / clockTicks
	busy1, total1 := machineTicks(t)
	if want := each * int64(streams); n != want {
		t.Fatalf("%s transfer: %d of %d bytes arrived", m.name, n, want)
	}
	gb := float64(n) / 1e9
	return transferFigure{gbps: float64(n) * 8 / elapsed.Seconds() / 1e9, cpuPerGB: cpu / gb,
		benchPerGB: self / gb, busy: float64(busy1-busy0) / float64(max(1, total1-total0))}
}

// selfTicks returns the bench process's own user plus system time (the
// transfers' two ends), in clock ticks.
func selfTicks(t *testing.T) int64 {
	return statTicks(t, "/proc/self/stat")
}

// machineTicks returns the busy and total clock ticks of all CPUs from
// /proc/stat (busy: all but idle and iowait).
func machineTicks(t *testing.T) (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)[1:]
	for i, v := range f {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i >= 8 { // guest time is counted in user time already
			break
		}
		total += n
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return busy, total
}

// zeroReader reads zeros, endlessly.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// socks5Dial connects to host:port through the SOCKS5 proxy at proxy.
func socks5Dial(t *testing.T, proxy, host, port string) net.Conn {
	c, err := net.DialTimeout("tcp", proxy, 10*time.Second)
	if err != nil {
		t.Fatalf("dial socks5 proxy: %v", err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	p, _ := strconv.Atoi(port)
	req := []byte{5, 1, 0, 5, 1, 0, 3, byte(len(host))}
	req = append(req, host...)
	req = be.BigEndian.AppendUint16(req, uint16(p))
	if _, err := c.Write(req); err != nil {
		t.Fatalf("socks5 request: %v", err)
	}
	r := bufio.NewReader(c)
	head := make([]byte, 2+4)
	if _, err := io.ReadFull(r, head); err != nil || head[0] != 5 || head[1] != 0 || head[3] != 0 {
		t.Fatalf("socks5 reply % x: %v", head, err)
	}
	skip := map[byte]int{1: 4 + 2, 4: 16 + 2}[head[5]]
	if _, err := io.ReadFull(r, make([]byte, skip)); err != nil || skip == 0 || r.Buffered() != 0 {
		t.Fatalf("socks5 reply address (type %d): %v", head[5], err)
	}
	c.SetDeadline(time.Time{})
	return c
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/PID/stat times.
const clockTicks = 100

// cpuTicks returns the process's user plus system time, in clock ticks.
func cpuTicks(t *testing.T, cmd *exec.Cmd) int64 {
	return statTicks(t, fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
}

// statTicks returns the user plus system time of a /proc/PID/stat file,
// in clock ticks.
func statTicks(t *testing.T, path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name, which is in parentheses: state
	// is the first, utime the 12th and stime the 13th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

// procKB returns a kB field (VmRSS:, VmHWM:) of the process's status.
func procKB(t *testing.T, cmd *exec.Cmd, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("%s %q: %v", field, v, err)
			}
			return kb
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, cmd.Process.Pid)
	return 0
}

func mustRSS(t *testing.T, cmd *exec.Cmd) int { return procKB(t, cmd, "VmRSS:") }

// settleAll watches every node's RSS for up to settle after the load and
// notes, per mode, how long until both nodes were under 32 MB (or the RSS
// when settle ran out).
func settleAll(t *testing.T, modes []*overlayMode, settle time.Duration) {
	const under = 32 << 10
	start := time.Now()
	pending := slices.Clone(modes)
	for len(pending) > 0 {
		pending = slices.DeleteFunc(pending, func(m *overlayMode) bool {
			m.settledKB = [2]int{mustRSS(t, m.client), mustRSS(t, m.device)}
			m.settledAnonKB, m.settledFileKB = procKB(t, m.client, "RssAnon:"), procKB(t, m.client, "RssFile:")
			m.settledAfter = time.Since(start)
			return m.settledKB[0] < under && m.settledKB[1] < under
		})
		if time.Since(start) >= settle {
			return
		}
		time.Sleep(time.Second)
	}
}

// reportOverlay logs the medians, spreads and ratios.
func reportOverlay(t *testing.T, modes []*overlayMode, rounds int, size int64) {
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("%d rounds, %d MiB per transfer, load average %s", rounds, size>>20, strings.TrimSpace(string(load)))
	for _, m := range modes {
		t.Logf("%-6s client's RSS split (heap and stacks / the binary's pages): idle %.1f / %.1f MB, after the load %.1f / %.1f MB (%s)",
			m.name, mb(m.idleAnonKB), mb(m.idleFileKB), mb(m.settledAnonKB), mb(m.settledFileKB), filepath.Base(m.bin))
	}
	med := map[string]transferFigure{}
	for _, m := range modes {
		for _, dir := range []struct {
			name string
			figs []transferFigure
		}{{"forward", m.fwd}, {"reverse", m.rev}} {
			g := spread(dir.figs, func(f transferFigure) float64 { return f.gbps })
			c := spread(dir.figs, func(f transferFigure) float64 { return f.cpuPerGB })
			med[m.name+" "+dir.name] = transferFigure{gbps: g[1], cpuPerGB: c[1]}
			bc := spread(dir.figs, func(f transferFigure) float64 { return f.benchPerGB })
			busy := spread(dir.figs, func(f transferFigure) float64 { return f.busy })
			t.Logf("%-6s %s: %.3f Gbit/s (min %.3f, max %.3f), both nodes %.2f CPU-s/GB (min %.2f, max %.2f); the bench's ends %.2f, machine %.0f%% busy (medians)",
				m.name, dir.name, g[1], g[0], g[2], c[1], c[0], c[2], bc[1], 100*busy[1])
		}
		t.Logf("%-6s RSS MB (client, device): idle %.1f, %.1f; peak (VmHWM) %.1f, %.1f; after the load %.1f, %.1f at %v",
			m.name, mb(m.idleKB[0]), mb(m.idleKB[1]), mb(m.peakKB[0]), mb(m.peakKB[1]),
			mb(m.settledKB[0]), mb(m.settledKB[1]), m.settledAfter.Round(time.Second))
	}
	var base *overlayMode
	for _, m := range modes {
		if m.name == baseMode {
			base = m
		}
	}
	for _, dir := range []string{"forward", "reverse"} {
		n, l := med["new "+dir], med["legacy "+dir]
		t.Logf("ratio new/legacy %s: throughput %.2fx, CPU-s per GB %.2fx", dir, n.gbps/l.gbps, n.cpuPerGB/l.cpuPerGB)
		if base != nil {
			b := med[baseMode+" "+dir]
			t.Logf("ratio new/base   %s: throughput %.2fx, CPU-s per GB %.2fx", dir, n.gbps/b.gbps, n.cpuPerGB/b.cpuPerGB)
		}
		for _, m := range modes[2:] {
			if m == base {
				continue
			}
			v := med[m.name+" "+dir]
			t.Logf("ratio %s/new %s: throughput %.2fx, CPU-s per GB %.2fx", m.name, dir, v.gbps/n.gbps, v.cpuPerGB/n.cpuPerGB)
		}
	}
	if base == nil {
		return
	}
	// The base runs its commit's full build (there was no agent build);
	// with WARD_BENCH_FULL=1 the mode "full" compares today's full build
	// with it too, build for build.
	r := func(a, b [2]int) string {
		return fmt.Sprintf("%.2fx, %.2fx", float64(a[0])/float64(b[0]), float64(a[1])/float64(b[1]))
	}
	for _, m := range modes {
		if m.name != "new" && m.name != "full" {
			continue
		}
		if m.name == "full" {
			for _, dir := range []string{"forward", "reverse"} {
				f, b := med["full "+dir], med[baseMode+" "+dir]
				t.Logf("ratio full/base %s: throughput %.2fx, CPU-s per GB %.2fx", dir, f.gbps/b.gbps, f.cpuPerGB/b.cpuPerGB)
			}
		}
		t.Logf("ratio %-9s RSS (client, device): idle %s; peak (VmHWM) %s; after the load %s",
			m.name+"/base", r(m.idleKB, base.idleKB), r(m.peakKB, base.peakKB), r(m.settledKB, base.settledKB))
	}
}

// spread returns the min, median and max of f over figs.
func spread(figs []transferFigure, f func(transferFigure) float64) [3]float64 {
	v := make([]float64, len(figs))
	for i, x := range figs {
		v[i] = f(x)
	}
	slices.Sort(v)
	return [3]float64{v[0], v[len(v)/2], v[len(v)-1]}
}

func mb(kb int) float64 { return float64(kb) / 1024 }

// freeLoopbackAddr returns a 127.0.0.1 address with a port free now.
func freeLoopbackAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// envInt reads a positive integer from the environment, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func TestSplitVariantArgs(t *testing.T) {
	for _, tc := range []struct {
		in          []string
		flags, envs []string
	}{
		{in: nil},
		{in: []string{"--copy-buffer", "32768"}, flags: []string{"--copy-buffer", "32768"}},
		{in: []string{"GOGC=400", "--gomaxprocs", "2", "WARD_UDP_BATCH=64"}, flags: []string{"--gomaxprocs", "2"}, envs: []string{"GOGC=400", "WARD_UDP_BATCH=64"}},
		// A flag with =, a lower-case name and an empty name stay flags.
		{in: []string{"--tcp-buffer-max=524288", "gogc=1", "=x"}, flags: []string{"--tcp-buffer-max=524288", "gogc=1", "=x"}},
	} {
		flags, envs := splitVariantArgs(tc.in)
		if !slices.Equal(flags, tc.flags) || !slices.Equal(envs, tc.envs) {
			t.Errorf("splitVariantArgs(%q) = %q, %q; want %q, %q", tc.in, flags, envs, tc.flags, tc.envs)
		}
	}
}
