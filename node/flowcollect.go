package node

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/netstack"
	"github.com/wardnet/ward/wire"
)

// flowDeniedQueue bounds the denied attempts waiting for the flow log's
// next poll; more are dropped (and counted).
const flowDeniedQueue = 4096

// Rules a flow record names when no filter rule decided.
const (
	ruleOutbound = "outbound"
	ruleNoMatch  = "no rule matched"
	ruleRevoked  = "revoked: the new policy matches no rule"
	rulePing     = "ping"
)

// onDenied is the data plane's hook for refused flows: the denied-flow
// reports and the flow log each get it, the latter through a bounded
// queue that never blocks the packet path.
func (e *Engine) onDenied(d netstack.DeniedFlow) {
	e.denied.add(d)
	select {
	case e.flowDenied <- d:
	default:
		e.flowDeniedLost.Add(1)
	}
}

// drainFlows hands fn what the data plane carried since the last call:
// each tracked flow that is new or carried bytes, then each denied
// attempt queued. It returns how many denied attempts were dropped since
// the last call because the queue was full.
func (e *Engine) drainFlows(fn func(wire.FlowRecord)) (lost uint64) {
	p := e.curPolicy.Load()
	if dp := e.dp.Load(); dp != nil {
		dp.net.DrainFlowCounts(func(c netstack.FlowCount) { fn(countRecord(c, p)) })
	}
	for {
		select {
		case d := <-e.flowDenied:
			fn(deniedRecord(d))
		default:
			return e.flowDeniedLost.Swap(0)
		}
	}
}

// countRecord is a tracked flow's counts as a record; p (may be nil)
// names the rule that lets an inbound flow in.
func countRecord(c netstack.FlowCount, p *policy) wire.FlowRecord {
	r := wire.FlowRecord{Src: c.Src, Dst: c.Dst, Proto: filter.Proto(c.Proto), Port: c.Port, Inbound: c.Inbound,
		Start: c.Start, End: c.Last, BytesSent: c.Fwd, BytesRecv: c.Rev, Rule: ruleOutbound}
	if c.New {
		r.Count = 1
	}
	if c.Inbound {
		r.Rule = p.describe(c.Src, c.Dst, c.Proto, c.Port)
	}
	return r
}

// deniedRecord is one refused attempt as a record.
func deniedRecord(d netstack.DeniedFlow) wire.FlowRecord {
	r := wire.FlowRecord{Src: d.Src, Dst: d.Dst, Proto: filter.Proto(d.Proto), Port: d.Port, Inbound: true, Denied: true,
		Start: d.Time, End: d.Time, Count: 1, Rule: ruleNoMatch}
	if d.Revoked {
		r.Rule = ruleRevoked
	}
	if !r.Proto.HasPorts() {
		r.Port = 0
	}
	return r
}

// describe names the rule of p that lets src open the flow (p may be nil).
func (p *policy) describe(src, dst netip.Addr, proto uint8, port uint16) string {
	if p == nil {
		return ruleNoMatch
	}
	if proto == netstack.ProtoUDP && port == PingPort {
		return rulePing
	}
	ok, i := p.m.Match(src, dst, filter.Proto(proto), port)
	if !ok {
		return ruleNoMatch
	}
	return truncate(fmt.Sprintf("rule %d: %s", i, ruleText(p.m.Rules()[i])), wire.MaxFlowRule)
}

// ruleText is a compact text of r: "SRC,... -> DST:PORTS,... PROTOS".
func ruleText(r filter.Rule) string {
	var b strings.Builder
	for i, s := range r.Src {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s.String())
	}
	b.WriteString(" -> ")
	for i, d := range r.Dst {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(d.Net.String())
		for j, pr := range d.Ports {
			b.WriteString(map[bool]string{true: ":", false: ","}[j == 0])
			b.WriteString(pr.String())
		}
	}
	if len(r.Protos) > 0 {
		b.WriteString(" proto")
		for _, pr := range r.Protos {
			fmt.Fprintf(&b, " %d", pr)
		}
	}
	return b.String()
}

// truncate cuts s to at most n bytes.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
