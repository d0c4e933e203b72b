// Package localapi is the node agent's local API: HTTP over a unix socket
// (mode 0600) in the agent's state directory, used by `ward status`,
// `ward ping`, `ward nc` and `ward forward`. It holds the response types,
// the server side (Handler) over a Backend, and a Client.
//
// Routes:
//
//	GET  /status                   Status as JSON
//	POST /ping?peer=PEER           PingResult as JSON
//	POST /dial?peer=PEER&port=N    101 Switching Protocols, then the
//	                               connection is a byte stream to PEER:N
//	                               through the overlay
//
// Errors are JSON {"error": "..."} with a 4xx or 5xx status.
package localapi

import (
	"net/netip"
	"time"

	"github.com/wardnet/ward/wire"
)

// SocketName is the file name of the socket in the state directory.
const SocketName = "ward.sock"

// Status describes the node and its peers.
type Status struct {
	// Self is this node; its ID is zero before the first map.
	Self Self `json:"self"`
	// Peers are the peers in the node's map, sorted by name.
	Peers []Peer `json:"peers"`
	// Coordinator is the coordinator's URL; empty for an engine alone.
	Coordinator string `json:"coordinator,omitempty"`
	// Connected tells whether the map stream is open now.
	Connected bool `json:"coordinator_connected"`
	// MapVersion is the version of the last map message applied.
	MapVersion uint64 `json:"map_version"`
	// Filter counts the inbound filter's verdicts.
	Filter FilterStats `json:"filter"`
	// KeyRefused is the coordinator's reason for refusing the node's
	// last key rotation (an admin expired or removed the node); empty
	// when it was not refused.
	KeyRefused string `json:"key_refused,omitempty"`
}

// Self describes this node.
type Self struct {
	ID   wire.NodeID `json:"id"`
	Name string      `json:"name"`
	// IPv4 and IPv6 are the overlay addresses; either may be zero.
	IPv4 netip.Addr `json:"ipv4,omitzero"`
	IPv6 netip.Addr `json:"ipv6,omitzero"`
	// KeyExpiry is when the node's WireGuard key expires; zero: never.
	KeyExpiry time.Time `json:"key_expiry,omitzero"`
	// ListenPort is the WireGuard UDP port; 0 before the data plane runs.
	ListenPort uint16 `json:"listen_port,omitempty"`
	// Exposed are the ports forwarded to 127.0.0.1.
	Exposed []uint16 `json:"exposed,omitempty"`
}

// Peer describes one peer.
type Peer struct {
	ID   wire.NodeID `json:"id"`
	Name string      `json:"name"`
	IPv4 netip.Addr  `json:"ipv4,omitzero"`
	IPv6 netip.Addr  `json:"ipv6,omitzero"`
	// User is the owner's email; empty for tagged nodes.
	User string `json:"user,omitempty"`
	// Tags are the peer's tags; empty for user-owned nodes.
	Tags []string `json:"tags,omitempty"`
	// KeyExpiry is when the peer's key expires; zero: never.
	KeyExpiry time.Time `json:"key_expiry,omitzero"`
	// Active tells whether the peer is configured in WireGuard (false
	// once its key has expired).
	Active bool `json:"active"`
	// Online is the coordinator's view of the peer.
	Online bool `json:"online"`
	// Path is "direct" when WireGuard has a UDP endpoint for the peer,
	// "none" otherwise.
	Path string `json:"path"`
	// Endpoint is the UDP endpoint WireGuard uses; may be zero.
	Endpoint netip.AddrPort `json:"endpoint,omitzero"`
	// LastHandshake is the last completed handshake; zero: none yet.
	LastHandshake time.Time `json:"last_handshake,omitzero"`
	// RxBytes and TxBytes count bytes received from and sent to the peer.
	RxBytes uint64 `json:"rx_bytes"`
	TxBytes uint64 `json:"tx_bytes"`
}

// FilterStats are the inbound filter's counters since start.
type FilterStats struct {
	// Allowed counts new inbound flows allowed.
	Allowed uint64 `json:"allowed"`
	// Denied counts new inbound flows denied.
	Denied uint64 `json:"denied"`
	// Revoked counts open flows cut by a filter change.
	Revoked uint64 `json:"revoked"`
	// Unserved counts allowed flows to a port nothing serves.
	Unserved uint64 `json:"unserved"`
}

// PingResult is the outcome of a ping through the overlay.
type PingResult struct {
	// Peer is the peer's name; Addr the overlay address pinged.
	Peer string     `json:"peer"`
	Addr netip.Addr `json:"addr"`
	// RTT is the round-trip time of the answered probe.
	RTT time.Duration `json:"rtt_ns"`
	// Path is "direct" when the answer came over a direct UDP path.
	Path string `json:"path"`
	// Endpoint is the peer's UDP endpoint after the ping; may be zero.
	Endpoint netip.AddrPort `json:"endpoint,omitzero"`
}
