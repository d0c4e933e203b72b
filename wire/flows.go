package wire

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/wardnet/ward/filter"
)

// PathFlows is where a node posts its flow logs (FlowBatch; protocol 13,
// FeatureFlowLogs).
const PathFlows = "/ward/v1/flows"

// Limits on flow logs.
const (
	// MaxFlowsPerBatch bounds FlowBatch.Records; a batch of that many
	// with long rules still fits MaxRequestBytes.
	MaxFlowsPerBatch = 128
	// MaxFlowRule bounds FlowRecord.Rule in bytes.
	MaxFlowRule = 160
	// MaxFlowCount bounds FlowRecord.Count and DeniedCount.Count.
	MaxFlowCount = 1 << 24
	// MaxDeniedLivePerBatch bounds FlowBatch.DeniedLive.
	MaxDeniedLivePerBatch = 128
)

// ErrBadFlow is returned by FlowBatch.Check for a batch a node could not
// honestly have sent.
var ErrBadFlow = errors.New("bad flow record")

// FlowRecord is one flow the reporting node carried in one window: the
// coordinator sets who reported it from the node's authentication, never
// from the record.
type FlowRecord struct {
	// Src is the address of the side that opened the flow, Dst the
	// other; one of them is the reporting node's own.
	Src netip.Addr `json:"src"`
	Dst netip.Addr `json:"dst"`
	// Proto is the transport protocol; Port the destination port (0 for
	// ICMP).
	Proto filter.Proto `json:"proto"`
	Port  uint16       `json:"port"`
	// Inbound is set when a peer opened the flow toward the reporting
	// node (Dst is the node's), clear when the node opened it.
	Inbound bool `json:"inbound"`
	// Denied is set when the node's filter refused it (always inbound).
	Denied bool `json:"denied"`
	// Rule says what decided: the filter rule that allowed it, "no rule
	// matched", "ping", or "outbound" for flows the node opened; at most
	// MaxFlowRule bytes; may be empty.
	Rule string `json:"rule,omitempty"`
	// Start and End bound what the record covers: the first and last
	// packet seen in its window (Start <= End).
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// BytesSent are the bytes Src sent, BytesRecv those Dst sent (IP
	// packets, headers included); both 0 for denied flows.
	BytesSent uint64 `json:"bytes_sent"`
	BytesRecv uint64 `json:"bytes_recv"`
	// Count is how many connections (accepted) or attempts (denied) the
	// record stands for: a retransmitted SYN is one more attempt of the
	// same record. 1 <= Count <= MaxFlowCount.
	Count int `json:"count"`
}

// FlowBatch is a node's flow logs, oldest first (protocol 13).
type FlowBatch struct {
	// Records are at most MaxFlowsPerBatch records.
	Records []FlowRecord `json:"records"`
	// Dropped counts records (or attempts) the node could not keep since
	// its previous batch: its buffers were full.
	Dropped uint64 `json:"dropped,omitempty"`
	// DeniedLive are the denied attempts of the open window since the
	// node's previous batch, at most MaxDeniedLivePerBatch (protocol 22,
	// FeatureDeniedLive): the coordinator's denied-flow alerts count them
	// at once instead of waiting for the window to close.
	DeniedLive []DeniedCount `json:"denied_live,omitempty"`
	// DeniedLiveSent says the node announces its denied attempts in
	// DeniedLive, so the coordinator does not count the denied records of
	// this batch again (protocol 22).
	DeniedLiveSent bool `json:"denied_live_sent,omitempty"`
}

// DeniedCount is the attempts of one denied flow (always inbound to the
// reporting node) since the node last announced it.
type DeniedCount struct {
	// Src, Dst, Proto and Port name the flow as FlowRecord does; Dst is
	// the reporting node's own address.
	Src   netip.Addr   `json:"src"`
	Dst   netip.Addr   `json:"dst"`
	Proto filter.Proto `json:"proto"`
	Port  uint16       `json:"port"`
	// At is the last of the attempts counted.
	At time.Time `json:"at"`
	// Count is how many attempts: 1 <= Count <= MaxFlowCount.
	Count int `json:"count"`
}

// Record is d as the denied flow record it adds to (Rule left empty).
func (d DeniedCount) Record() FlowRecord {
	return FlowRecord{Src: d.Src, Dst: d.Dst, Proto: d.Proto, Port: d.Port, Inbound: true, Denied: true,
		Start: d.At, End: d.At, Count: d.Count}
}

// Check reports whether b is a batch the node with overlay addresses v4
// and v6 could have sent: each record a flow that node carried.
func (b FlowBatch) Check(v4, v6 netip.Addr) error {
	if len(b.Records) > MaxFlowsPerBatch {
		return fmt.Errorf("%w: %d records, at most %d", ErrBadFlow, len(b.Records), MaxFlowsPerBatch)
	}
	if len(b.DeniedLive) > MaxDeniedLivePerBatch {
		return fmt.Errorf("%w: %d live denied counts, at most %d", ErrBadFlow, len(b.DeniedLive), MaxDeniedLivePerBatch)
	}
	self := func(a netip.Addr) bool { return a.IsValid() && (a == v4 || a == v6) }
	for i, r := range b.Records {
		if err := r.check(self); err != nil {
			return fmt.Errorf("%w %d: %w", ErrBadFlow, i, err)
		}
	}
	for i, d := range b.DeniedLive {
		if err := d.Record().check(self); err != nil {
			return fmt.Errorf("%w: live denied count %d: %w", ErrBadFlow, i, err)
		}
	}
	return nil
}

// check validates one record; self tells the reporting node's addresses.
func (r FlowRecord) check(self func(netip.Addr) bool) error {
	switch {
	case !r.Src.IsValid() || !r.Dst.IsValid() || r.Src.Is4() != r.Dst.Is4():
		return errors.New("source and destination must be addresses of one family")
	case r.Inbound && !self(r.Dst), !r.Inbound && !self(r.Src):
		return errors.New("not a flow this node carried")
	case r.Denied && !r.Inbound:
		return errors.New("a denied flow is inbound")
	case r.Port != 0 && !r.Proto.HasPorts():
		return errors.New("a port on a protocol without ports")
	case len(r.Rule) > MaxFlowRule:
		return errors.New("rule too long")
	case r.Start.IsZero() || r.End.Before(r.Start):
		return errors.New("end before start")
	case r.Count < 1 || r.Count > MaxFlowCount:
		return errors.New("count out of range")
	case r.Denied && (r.BytesSent != 0 || r.BytesRecv != 0):
		return errors.New("bytes on a denied flow")
	}
	return nil
}
