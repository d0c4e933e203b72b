package sim

import (
	"fmt"
	"io"
	"time"
)

// Print writes res as the figures the table has.
func (res Result) Print(w io.Writer) {
	fmt.Fprintf(w, "fleet: %d nodes", res.Nodes)
	if res.Capped {
		fmt.Fprintf(w, " (CAPPED by the file limit %d)", res.FileLimit)
	}
	if res.StreamsPerConn > 1 {
		fmt.Fprintf(w, "; %d nodes' streams share each HTTP/2 connection", res.StreamsPerConn)
		if res.StreamsAuto {
			fmt.Fprintf(w, " (chosen: the file limit %d fits no connection per node)", res.FileLimit)
		}
	}
	fmt.Fprintf(w, "; %d connections opened", res.Dials)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "registration: %.0f nodes/s (%v for the fleet, streams open; %d calls took over 30 s, a device's timeout); settled %v later\n",
		res.RegisterRate, res.RegisterTime.Round(time.Millisecond), res.RegisterSlow, res.SettleTime.Round(time.Millisecond))
	fmt.Fprintf(w, "join -> affected streams: p50 %v  p99 %v  max %v  (%d streams over the joins; to the last per join: p50 %v max %v; missing %d)\n",
		ms(res.Join.P50), ms(res.Join.P99), ms(res.Join.Max), res.JoinedStreams, ms(res.JoinLast.P50), ms(res.JoinLast.Max), res.JoinMissing)
	fmt.Fprintf(w, "policy change -> streams: p50 %v  p99 %v  max %v  (%d streams per change; to the last per change: p50 %v max %v; missing %d)\n",
		ms(res.Policy.P50), ms(res.Policy.P99), ms(res.Policy.Max), res.PolicyStreams, ms(res.PolicyLast.P50), ms(res.PolicyLast.Max), res.PolicyMissing)
	if res.JoinWritten.Messages > 0 || res.PolicyWritten.Messages > 0 {
		fmt.Fprintf(w, "coordinator wrote (its histogram, signal to write): joins %v; policy changes %v\n", res.JoinWritten, res.PolicyWritten)
	}
	for _, tag := range []string{TagGateway, TagCamera, TagSensor} {
		if b, ok := res.MapBytes[tag]; ok {
			fmt.Fprintf(w, "full map of a %s: %d bytes (%d as JSON), %d peers, in %v\n", tag, res.MapWireBytes[tag], b, res.MapPeers[tag], ms(res.MapTime[tag]))
		}
	}
	if res.Measured {
		fmt.Fprintf(w, "coordinator: RSS %d MB (peak %d MB), CPU %.1f s over the registration (%.1f s per 1k joins), idle %.1f %% of a core, %.1f s in all\n",
			res.RSS>>20, res.PeakRSS>>20, res.CPURegister.Seconds(), res.CPUPer1k, 100*res.IdleCPU, res.CPUTotal.Seconds())
		if res.IdleGiveBacks > 0 {
			fmt.Fprintf(w, "coordinator: idle measured in a window of its own after %d in which it gave a burst's memory back (%.1f %% of a core there)\n",
				res.IdleGiveBacks, 100*res.IdleGiveBack)
		}
	} else {
		fmt.Fprintln(w, "coordinator: process not known, RSS and CPU not measured")
	}
	if m := res.Mem; res.MemMeasured && res.Nodes > 0 {
		per := func(b int64) float64 { return float64(b) / float64(res.Nodes) / 1024 }
		fmt.Fprintf(w, "coordinator memory, settled: RSS %d MB, live heap %d MB (heap held %d MB), stacks %d MB, runtime total %d MB, %d goroutines; per node: RSS %.1f KB, live heap %.1f KB, stacks %.1f KB\n",
			m.RSS>>20, m.HeapLive>>20, m.HeapSys>>20, m.Stacks>>20, m.Sys>>20, m.Goroutines, per(m.RSS), per(m.HeapLive), per(m.Stacks))
	}
	if ro := res.Rollout; ro != nil {
		fmt.Fprintf(w, "rollout: %d devices in %d waves, every one healthy %v after creation (%d calls, %d told to wait for a download slot); coordinator %.2f CPU-s meanwhile, RSS %d MB at the end (peak %d MB)\n",
			ro.Devices, ro.Waves, ms(ro.Time), ro.Requests, ro.Waited, ro.CPU.Seconds(), ro.RSS>>20, ro.PeakRSS>>20)
	}
	if rs := res.Restart; rs != nil {
		fmt.Fprintf(w, "restart (%s): coordinator exited in %v, answered %v after the signal; all %d streams held their maps again %v after it (coordinator %.1f CPU-s meanwhile, RSS %d MB)\n",
			rs.Signal, ms(rs.Exit), ms(rs.Ready), rs.Streams, ms(rs.Settled), rs.CPU.Seconds(), rs.RSS>>20)
		on := "the fleet's listener"
		if rs.AdminListener {
			on = "the admin listener"
		}
		fmt.Fprintf(w, "restart: admin calls on %s\n", on)
		fmt.Fprintf(w, "restart: admin GET policy p50 %v p99 %v max %v (%d calls; settled fleet before: p50 %v p99 %v); GET nodes (one page of 500) p50 %v p99 %v max %v (%d calls; before: p50 %v p99 %v); %d failed\n",
			ms(rs.PolicyDuring.P50), ms(rs.PolicyDuring.P99), ms(rs.PolicyDuring.Max), rs.PolicyCalls, ms(rs.PolicyBefore.P50), ms(rs.PolicyBefore.P99),
			ms(rs.NodesDuring.P50), ms(rs.NodesDuring.P99), ms(rs.NodesDuring.Max), rs.NodesCalls, ms(rs.NodesBefore.P50), ms(rs.NodesBefore.P99), rs.Errors)
	}
	fmt.Fprintf(w, "simulator: %.1f CPU-s (decoding every node's maps), %.1f of them over the registration; RSS %d MB (peak %d MB; soft limit %d MB)\n",
		res.SimCPU.Seconds(), res.SimCPURegister.Seconds(), res.SimRSS>>20, res.SimPeakRSS>>20, res.SimMemoryLimit>>20)
	if res.Verified {
		if len(res.VerifyErrors) == 0 {
			fmt.Fprintln(w, "verify: every node holds exactly the peers the policy gives it")
		}
		for _, e := range res.VerifyErrors {
			fmt.Fprintf(w, "verify: %s\n", e)
		}
	}
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond / 10) }
