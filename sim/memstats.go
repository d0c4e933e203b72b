package sim

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// MemStats is where the settled coordinator's memory goes, read after the
// idle interval: RSS from /proc, the rest from the runtime's own figures
// (the heap profile's text form, after a collection it asks for, so the
// heap is what is live).
type MemStats struct {
	// RSS is the resident memory before the collection.
	RSS int64
	// HeapLive is the heap in use after the collection (HeapAlloc),
	// HeapSys what the heap holds from the system, Stacks the goroutine
	// stacks (StackInuse), Sys all the runtime holds.
	HeapLive, HeapSys, Stacks, Sys int64
	// Goroutines is the number of goroutines.
	Goroutines int
}

// memSnapshot reads the coordinator's memory figures; ok is false without
// a process or a pprof listener.
func (r *run) memSnapshot(ctx context.Context) (ms MemStats, ok bool) {
	if r.pid == 0 || r.profileURL == "" {
		return ms, false
	}
	ms.RSS = r.proc().rss
	body, err := r.getText(ctx, "/debug/pprof/heap?debug=1&gc=1")
	if err != nil {
		r.cfg.Log("coordinator memory: %v", err)
		return ms, false
	}
	ms.HeapLive, ms.HeapSys, ms.Stacks, ms.Sys = parseMemStats(body)
	g, err := r.getText(ctx, "/debug/pprof/goroutine?debug=1")
	if err != nil {
		r.cfg.Log("coordinator goroutines: %v", err)
		return ms, false
	}
	ms.Goroutines = parseGoroutines(g)
	return ms, true
}

// getText fetches path from the coordinator's pprof listener.
func (r *run) getText(ctx context.Context, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.profileURL+path, nil)
	if err != nil {
		return "", fmt.Errorf("get %s: %w", path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("get %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("get %s: %s", path, resp.Status)
	}
	return string(b), nil
}

// parseMemStats reads the runtime.MemStats lines at the end of a heap
// profile's text form ("# HeapAlloc = 123", "# Stack = 456 / 789").
func parseMemStats(text string) (heapLive, heapSys, stacks, sys int64) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if !ok {
			continue
		}
		first, _, _ := strings.Cut(v, " ")
		n, err := strconv.ParseInt(first, 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "HeapAlloc":
			heapLive = n
		case "HeapSys":
			heapSys = n
		case "Stack":
			stacks = n
		case "Sys":
			sys = n
		}
	}
	return heapLive, heapSys, stacks, sys
}

// parseGoroutines reads the count from a goroutine dump's first line
// ("goroutine profile: total 123").
func parseGoroutines(text string) int {
	line, _, _ := strings.Cut(text, "\n")
	n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total")))
	return n
}
