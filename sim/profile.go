package sim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

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
