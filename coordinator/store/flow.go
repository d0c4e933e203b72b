package store

import (
	"context"
	"net/netip"
	"time"
)

// FlowID identifies a stored flow record.
type FlowID int64

// FlowRecord is one flow a node carried in one window, as stored.
type FlowRecord struct {
	// ID is assigned by the store.
	ID FlowID
	// Node and NodeName are the reporting node, from its authentication.
	Node     NodeID
	NodeName string
	// Src opened the flow toward Dst.
	Src, Dst netip.Addr
	// SrcNode and DstNode name the ends' nodes, SrcWho and DstWho their
	// owner ("user:alice@x") or tags ("tag:cam"); empty when the address
	// belonged to no node at ingest.
	SrcNode, SrcWho string
	DstNode, DstWho string
	// Proto is the transport protocol; Port the destination port.
	Proto uint8
	Port  uint16
	// Inbound is set when Src opened it toward the reporting node.
	Inbound bool
	// Denied is set when the reporting node's filter refused it.
	Denied bool
	// Rule says what decided (see wire.FlowRecord.Rule).
	Rule string
	// Start and End bound the window's packets.
	Start, End time.Time
	// BytesSent are the bytes Src sent, BytesRecv those Dst sent.
	BytesSent, BytesRecv uint64
	// Count is the connections or denied attempts the record stands for.
	Count int
}

// FlowFilter selects flow records. Zero fields select everything.
type FlowFilter struct {
	// Node matches records reported by, from or to the node of that name.
	Node string
	// Since and Until bound End: Since <= End < Until.
	Since, Until time.Time
	// DeniedOnly selects denied flows only.
	DeniedOnly bool
	// Limit caps the number of records; 0 means no cap.
	Limit int
}

// Flows holds the flow logs nodes report. Records are listed newest
// first (by End, then ID).
type Flows interface {
	// AppendFlows stores rs (their IDs are ignored) in one transaction.
	AppendFlows(ctx context.Context, rs []FlowRecord) error
	// ListFlows returns the records f selects.
	ListFlows(ctx context.Context, f FlowFilter) ([]FlowRecord, error)
	// DeleteFlowsBefore deletes the records whose End is before t and
	// returns how many.
	DeleteFlowsBefore(ctx context.Context, t time.Time) (int64, error)
}
