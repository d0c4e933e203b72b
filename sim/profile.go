package sim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"
)

// registerProfileFor is how long the coordinator's CPU profile of the
// registration runs: about as long as nodes registrations take at
// 200 a second, at least 20 s and at most 2 min.
func registerProfileFor(nodes int) time.Duration {
	return min(max(time.Duration(nodes)*time.Second/200, 20*time.Second), 2*time.Minute)
}

// profileSelf writes a CPU profile of the simulator itself to file in
// the profile directory until the returned func is called: what the
// simulated nodes (the real control client, map decoding and filter
// rebuilds) and the sim's bookkeeping cost. Nothing without a
// directory, or when another CPU profile runs.
func (r *run) profileSelf(file string) (stop func()) {
	if r.cfg.Profile == "" {
		return func() {}
	}
	if err := os.MkdirAll(r.cfg.Profile, 0o755); err != nil {
		r.cfg.Log("profile %s: %v", file, err)
		return func() {}
	}
	out := filepath.Join(r.cfg.Profile, file)
	f, err := os.Create(out)
	if err != nil {
		r.cfg.Log("profile %s: %v", file, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		r.cfg.Log("profile %s: %v", file, err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
		r.cfg.Log("wrote %s", out)
	}
}

// profileSelfHeap writes a heap profile of the simulator itself (after
// a collection, so it shows what is live) to sim-heap-WHEN.pprof in the
// profile directory, and logs the sim's own heap and RSS: what the
// simulated nodes hold (their peer sets, stream buffers, HTTP/2 client
// streams, goroutines). Nothing without a directory.
func (r *run) profileSelfHeap(when string) {
	if r.cfg.Profile == "" {
		return
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	self, _ := readProc(os.Getpid())
	r.cfg.Log("simulator memory %s: RSS %d MB (peak %d MB), live heap %d MB, stacks %d MB, %d goroutines",
		when, self.rss>>20, self.hwm>>20, ms.HeapAlloc>>20, ms.StackInuse>>20, runtime.NumGoroutine())
	if err := os.MkdirAll(r.cfg.Profile, 0o755); err != nil {
		r.cfg.Log("profile sim heap: %v", err)
		return
	}
	out := filepath.Join(r.cfg.Profile, "sim-heap-"+when+".pprof")
	f, err := os.Create(out)
	if err != nil {
		r.cfg.Log("profile sim heap: %v", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		r.cfg.Log("profile sim heap: %v", err)
		return
	}
	r.cfg.Log("wrote %s", out)
}

// profileCPU fetches a CPU profile of d from the coordinator into the
// profile directory, in the background; the returned func waits for it.
// Nothing happens without a directory or a coordinator serving pprof.
func (r *run) profileCPU(ctx context.Context, name string, d time.Duration) (wait func()) {
	if r.cfg.Profile == "" || r.profileURL == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.fetchProfile(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())), name+".pprof")
	}()
	return func() { <-done }
}

// profileSnapshots fetches the heap profile and the goroutine dump.
func (r *run) profileSnapshots(ctx context.Context, when string) {
	if r.cfg.Profile == "" || r.profileURL == "" {
		return
	}
	r.fetchProfile(ctx, "/debug/pprof/heap", "heap-"+when+".pprof")
	r.fetchProfile(ctx, "/debug/pprof/goroutine?debug=1", "goroutine-"+when+".txt")
}

// profileLiveHeap fetches the coordinator's heap profile after a
// collection (heap-live.pprof), right after the memory figures (memSnapshot):
// what is live in the "coordinator memory, settled" line.
//
// Reason: heap-settled.pprof is taken without a collection, and a heap
// profile shows the heap as of the last one, which in a settling fleet ran
// during the registration's burst: at 20,000 nodes (1,000 gateways) it
// showed 160 MB of source lists (acl.roomFor) live, where 22 MB were after
// a collection.
func (r *run) profileLiveHeap(ctx context.Context) {
	if r.cfg.Profile == "" || r.profileURL == "" {
		return
	}
	r.fetchProfile(ctx, "/debug/pprof/heap?gc=1", "heap-live.pprof")
}

func (r *run) fetchProfile(ctx context.Context, path, file string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.profileURL+path, nil)
	if err != nil {
		r.cfg.Log("profile %s: %v", file, err)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.cfg.Log("profile %s: %v", file, err)
		return
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(r.cfg.Profile, 0o755); err != nil {
		r.cfg.Log("profile %s: %v", file, err)
		return
	}
	out := filepath.Join(r.cfg.Profile, file)
	f, err := os.Create(out)
	if err != nil {
		r.cfg.Log("profile %s: %v", file, err)
		return
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		r.cfg.Log("profile %s: %v", file, err)
		return
	}
	r.cfg.Log("wrote %s", out)
}
