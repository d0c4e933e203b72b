package wire

import (
	"net/netip"
	"time"
)

// Path kinds, as PeerPath.Kind and AdminPeerPath.Kind carry them.
const (
	// PathKindDirect: packets to the peer go to a UDP address (Addr).
	PathKindDirect = "direct"
	// PathKindRelay: packets to the peer go over the node's home relay.
	PathKindRelay = "relay"
	// PathKindNone: the node has no path to the peer.
	PathKindNone = "none"
)

// Limits on a node's path report.
const (
	// MaxPathsPerReport bounds NodePaths.Peers.
	MaxPathsPerReport = 256
	// MaxPathNoteBytes bounds PeerPath.Note.
	MaxPathNoteBytes = 200
	// MaxRelayNameBytes bounds PathSummary.Relay and PeerPath.Relay.
	MaxRelayNameBytes = 64
)

// NodePaths is a node's view of its paths to its peers (Report.Paths,
// since protocol version 9: FeaturePathReports). Every value is what the
// node saw when it sent the report; the coordinator keeps the latest one
// per node in memory only.
type NodePaths struct {
	// Peers are the node's paths, one per peer (at most
	// MaxPathsPerReport, no peer twice); may be empty.
	Peers []PeerPath `json:"peers"`
	PathSummary
}

// PathSummary is what a node's path report says of the node itself.
type PathSummary struct {
	// Reflexive is the node's address as STUN servers see it; zero when
	// unknown.
	Reflexive netip.AddrPort `json:"reflexive,omitzero"`
	// Relay names the node's home relay (at most MaxRelayNameBytes);
	// empty when it has none. RelayConnected tells whether its
	// connection is open.
	Relay          string `json:"relay,omitempty"`
	RelayConnected bool   `json:"relay_connected,omitempty"`
	// Bytes sent and received over direct UDP paths and over the relay
	// since the node started.
	DirectTxBytes uint64 `json:"direct_tx_bytes"`
	DirectRxBytes uint64 `json:"direct_rx_bytes"`
	RelayTxBytes  uint64 `json:"relay_tx_bytes"`
	RelayRxBytes  uint64 `json:"relay_rx_bytes"`
}

// PeerPath is a node's path to one peer.
type PeerPath struct {
	// Peer is the peer's node id; the coordinator drops entries naming a
	// node that is not the reporter's peer.
	Peer NodeID `json:"peer"`
	// Kind is PathKindDirect, PathKindRelay or PathKindNone.
	Kind string `json:"kind"`
	// Addr is the direct path's UDP address: required when Kind is
	// PathKindDirect, zero otherwise.
	Addr netip.AddrPort `json:"addr,omitzero"`
	// Relay names the relay a relayed path goes through (the peer's home
	// relay, or the node's own when its map names none; at most
	// MaxRelayNameBytes): only when Kind is PathKindRelay, and may be
	// empty then.
	Relay string `json:"relay,omitempty"`
	// RTTMicros is the direct path's round trip at its last pong, in
	// microseconds; zero when unknown.
	RTTMicros int64 `json:"rtt_us,omitempty"`
	// Note says why the pair is relayed, or what is odd about the direct
	// path (at most MaxPathNoteBytes of printable text); empty for a
	// working direct path.
	Note string `json:"note,omitempty"`
	// HandshakeAgeMillis is how long before the report the last
	// WireGuard handshake with the peer completed; 0 when none has. A
	// duration, not a time, so the node's clock does not matter.
	HandshakeAgeMillis int64 `json:"handshake_age_ms,omitempty"`
}

// AdminPaths is a node's latest path report as admins see it
// (AdminNode.Paths, in the answer for one node).
type AdminPaths struct {
	// ReportedAt is when the coordinator received the report.
	ReportedAt time.Time `json:"reported_at"`
	// Peers are the paths to the node's current peers, by peer name.
	Peers []AdminPeerPath `json:"peers"`
	PathSummary
}

// AdminPeerPath is a node's path to one peer as admins see it.
type AdminPeerPath struct {
	// ID and Name name the peer.
	ID   NodeID `json:"id"`
	Name string `json:"name"`
	// Kind, Addr, RTTMicros and Note are the node's PeerPath.
	Kind      string         `json:"kind"`
	Addr      netip.AddrPort `json:"addr,omitzero"`
	RTTMicros int64          `json:"rtt_us,omitempty"`
	Note      string         `json:"note,omitempty"`
	// Relay names the relay carrying a relayed path (the peer's home
	// relay, as the node reported it, else the node's own); empty
	// otherwise.
	Relay string `json:"relay,omitempty"`
	// LastHandshake is when the last handshake completed, on the
	// coordinator's clock; zero when none has.
	LastHandshake time.Time `json:"last_handshake,omitzero"`
}

// RTT is RTTMicros as a duration; zero when unknown.
func (p AdminPeerPath) RTT() time.Duration { return time.Duration(p.RTTMicros) * time.Microsecond }
