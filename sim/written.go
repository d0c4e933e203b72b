package sim

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// latencyMetric is the coordinator's histogram of the time from a change
// being signalled to a stream to that stream's message being written.
const latencyMetric = "ward_map_latency_seconds_bucket"

// giveBacksMetric counts the coordinator's memory give-backs.
const giveBacksMetric = "ward_memory_give_backs_total"

// scrapeCounter reads the coordinator's metric name (a counter without
// labels); false when it is not known or unreadable.
func (r *run) scrapeCounter(ctx context.Context, name string) (float64, bool) {
	if r.profileURL == "" {
		return 0, false
	}
	text, err := r.getText(ctx, "/metrics")
	if err != nil {
		r.cfg.Log("read the coordinator's metrics: %v", err)
		return 0, false
	}
	return counterIn(text, name)
}

// counterIn finds the value of the metric name (without labels) in a
// Prometheus text exposition.
func counterIn(text, name string) (float64, bool) {
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		return v, err == nil
	}
	return 0, false
}

// histogram is a cumulative Prometheus histogram: count per upper bound.
type histogram map[float64]float64

// scrapeLatency reads the coordinator's map latency histogram; nil when
// the coordinator's metrics are not known or unreadable.
func (r *run) scrapeLatency(ctx context.Context) histogram {
	if r.profileURL == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.profileURL+"/metrics", nil)
	if err != nil {
		return nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.cfg.Log("read the coordinator's metrics: %v", err)
		return nil
	}
	defer resp.Body.Close()
	h := histogram{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, latencyMetric+`{le="`)
		if !ok {
			continue
		}
		le, count, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		b, err1 := strconv.ParseFloat(le, 64)
		n, err2 := strconv.ParseFloat(count, 64)
		if err1 == nil && err2 == nil {
			h[b] = n
		}
	}
	if err := sc.Err(); err != nil {
		r.cfg.Log("read the coordinator's metrics: %v", err)
		return nil
	}
	return h
}

// Written is what the coordinator's own histogram says of a set of timed
// changes: how many messages it wrote and the bucket bounds under which
// half and 99 % of them were written (from the change's signal to the
// write's end, before the node decodes anything).
type Written struct {
	Messages int
	P50, P99 time.Duration
}

// writtenBetween summarizes the messages written between two scrapes.
func writtenBetween(before, after histogram) Written {
	if before == nil || after == nil {
		return Written{}
	}
	bounds := make([]float64, 0, len(after))
	for b := range after {
		bounds = append(bounds, b)
	}
	slices.Sort(bounds)
	total := after[math.Inf(1)] - before[math.Inf(1)]
	w := Written{Messages: int(total)}
	if total <= 0 {
		return w
	}
	at := func(q float64) time.Duration {
		for _, b := range bounds {
			if after[b]-before[b] >= q*total {
				if math.IsInf(b, 1) {
					return -1
				}
				return time.Duration(b * float64(time.Second))
			}
		}
		return -1
	}
	w.P50, w.P99 = at(0.5), at(0.99)
	return w
}

// String reads "N messages, p50 <= X, p99 <= Y".
func (w Written) String() string {
	bound := func(d time.Duration) string {
		if d < 0 {
			return "over the largest bucket"
		}
		return "<= " + d.String()
	}
	return fmt.Sprintf("%d messages, p50 %s, p99 %s", w.Messages, bound(w.P50), bound(w.P99))
}
