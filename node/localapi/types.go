// Package localapi is the local API of a ward daemon, a device's node
// agent or a person's desktop client alike: HTTP over one unix socket
// (SocketName, mode 0600) in the daemon's state directory, used by `ward
// status`, `ward ping`, `ward nc`, `ward forward` and, for a person, `ward
// up`, `ward login` and `ward down`. It holds the request and response
// types, the server (Serve) over a Backend, and the one JSON Client.
//
// Only the daemon's own user and root talk to it: the state directory is
// the daemon's, mode 0700, before the socket is bound; the server refuses
// other users' connections (their uid from the kernel: Linux); the client
// refuses a socket or state directory another user owns or may write,
// and a daemon of another user (ErrUntrusted). Elsewhere than Linux the
// directory's and socket's modes stand in for the peer's uid.
//
// Routes:
//
//	GET  /status                   Status as JSON
//	POST /ping?peer=PEER           PingResult as JSON
//	POST /dial?peer=PEER&port=N    101 Switching Protocols, then the
//	                               connection is a byte stream to PEER:N
//	                               through the overlay
//
// and, when the Backend is a desktop client (it implements Logins):
//
//	POST /login           LoginRequest → LoginStart
//	GET  /login/wait?id=  LoginResult, once the login is done
//	POST /logout          LogoutResult
//	POST /quit            204; the daemon stops (the session's key stays
//	                      valid until it expires or `ward down`)
//
// Errors are JSON {"error": "..."} with a 4xx or 5xx status.
package localapi

import (
	"net/netip"
	"time"

	"github.com/wardnet/ward/filter"
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
	// Paths describes the node's paths to its peers.
	Paths Paths `json:"paths"`
	// KeyRefused is the coordinator's reason for refusing the node's
	// last key rotation (an admin expired or removed the node); empty
	// when it was not refused.
	KeyRefused string `json:"key_refused,omitempty"`
	// Person is the desktop client's side: the login, the proxies and the
	// devices the person may reach. Nil on a device's node agent.
	Person *PersonStatus `json:"person,omitempty"`
}

// Self describes this node.
type Self struct {
	ID   wire.NodeID `json:"id"`
	Name string      `json:"name"`
	// FQDN is Name under the fleet's DNS domain; empty from a coordinator
	// before protocol 15.
	FQDN string `json:"fqdn,omitempty"`
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
	// FQDN is Name under the fleet's DNS domain, by which the proxies, nc
	// and ssh reach the peer too; empty from a coordinator before protocol 15.
	FQDN string     `json:"fqdn,omitempty"`
	IPv4 netip.Addr `json:"ipv4,omitzero"`
	IPv6 netip.Addr `json:"ipv6,omitzero"`
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
	// Path is "direct" when packets to the peer go to a UDP address
	// (Endpoint), "relay" when they go over the home relay, "none" when
	// there is neither.
	Path string `json:"path"`
	// Endpoint is the direct path's UDP address; zero on the relay.
	Endpoint netip.AddrPort `json:"endpoint,omitzero"`
	// Relay names the relay packets to the peer go through when relayed:
	// the peer's home relay, or the node's own when the map names none.
	Relay string `json:"relay,omitempty"`
	// PathRTT is the direct path's round trip at its last pong; zero
	// when unknown.
	PathRTT time.Duration `json:"path_rtt_ns,omitempty"`
	// PathNote says why the pair is relayed, or what is odd about the
	// direct path; empty for a working direct path.
	PathNote string `json:"path_note,omitempty"`
	// LastHandshake is the last completed handshake; zero: none yet.
	LastHandshake time.Time `json:"last_handshake,omitzero"`
	// RxBytes and TxBytes count bytes received from and sent to the peer.
	RxBytes uint64 `json:"rx_bytes"`
	TxBytes uint64 `json:"tx_bytes"`
}

// Paths describes how the node reaches its peers: its reflexive address,
// its relay connection and the bytes each kind of path carried.
type Paths struct {
	// Reflexive is the node's address as the STUN servers see it.
	Reflexive netip.AddrPort `json:"reflexive,omitzero"`
	// NAT is the node's NAT as its STUN answers show it: "easy" (one
	// public port per socket, whatever the destination), "hard" (one per
	// destination: birthday probing needed) or empty (not known: fewer
	// than two STUN addresses answered).
	NAT string `json:"nat,omitempty"`
	// Relay names the home relay; RelayConnected tells whether its
	// connection is open.
	Relay          string `json:"relay,omitempty"`
	RelayConnected bool   `json:"relay_connected"`
	// RelayRTT is the last STUN round trip to each relay of the map that
	// answers STUN, by name: how the home relay is chosen.
	RelayRTT map[string]time.Duration `json:"relay_rtt_ns,omitempty"`
	// Bytes sent and received over direct UDP paths and over the relay.
	DirectTxBytes uint64 `json:"direct_tx_bytes"`
	DirectRxBytes uint64 `json:"direct_rx_bytes"`
	RelayTxBytes  uint64 `json:"relay_tx_bytes"`
	RelayRxBytes  uint64 `json:"relay_rx_bytes"`
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
	// OutboundDropped counts packets the node's own stack sent that were
	// dropped before WireGuard (a revoked flow's, or a full queue's).
	OutboundDropped uint64 `json:"outbound_dropped"`
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

// LoginState is where a desktop client stands with the coordinator.
type LoginState string

// Login states.
const (
	// StateLoggedOut: no session; `ward up` starts one.
	StateLoggedOut LoginState = "logged-out"
	// StatePending: a login waits for the person to finish SSO.
	StatePending LoginState = "login-pending"
	// StateLoggedIn: a session runs.
	StateLoggedIn LoginState = "logged-in"
	// StateExpired: the last session ended because its key expired.
	StateExpired LoginState = "expired"
	// StateDisabled: the last session ended because an admin disabled
	// the person's account.
	StateDisabled LoginState = "disabled"
)

// PersonStatus is a desktop client's state, for `ward status` and the
// status page.
type PersonStatus struct {
	State LoginState `json:"state"`
	// Message says why the last session ended, or what to do next; may be
	// empty.
	Message string `json:"message,omitempty"`
	// User is the logged-in person's email; Node the node's name. Empty
	// when logged out.
	User string `json:"user,omitempty"`
	Node string `json:"node,omitempty"`
	// KeyExpiry is when the session's key (and so the session) ends.
	KeyExpiry time.Time `json:"key_expiry,omitzero"`
	// LoginURL is the pending login's page; empty when none is pending.
	LoginURL string `json:"login_url,omitempty"`
	// LoginCode is the code the coordinator's confirmation page shows for
	// the pending login; empty when none is pending.
	LoginCode string `json:"login_code,omitempty"`
	// Mode is "userspace" or "tun"; Interface the TUN's name in TUN mode.
	Mode      string `json:"mode"`
	Interface string `json:"interface,omitempty"`
	// SOCKS5, HTTPProxy and Web are the addresses served; empty when off.
	// WebURL carries the page's per-start token: keep it private.
	SOCKS5    string `json:"socks5,omitempty"`
	HTTPProxy string `json:"http_proxy,omitempty"`
	WebURL    string `json:"web_url,omitempty"`
	// Devices are the peers this person may reach now (that the policy
	// grants something on), by name.
	Devices []Device `json:"devices"`
	// Requests are the person's newest access requests with their state
	// and decision, as the coordinator pushes them in the node's map
	// (wire.Node.Requests; empty from a coordinator before protocol 21).
	Requests []wire.AccessRequest `json:"requests,omitempty"`
}

// Device is a peer the person may reach.
type Device struct {
	Name string `json:"name"`
	// FQDN is Name under the fleet's DNS domain; empty from a coordinator
	// before protocol 15.
	FQDN string     `json:"fqdn,omitempty"`
	IPv4 netip.Addr `json:"ipv4,omitzero"`
	IPv6 netip.Addr `json:"ipv6,omitzero"`
	// User or Tags say who owns it.
	User string   `json:"user,omitempty"`
	Tags []string `json:"tags,omitempty"`
	// Online is the coordinator's view of the device.
	Online bool `json:"online"`
	// Ports are the TCP ports the device exposes to the overlay that the
	// policy grants this person (all it exposes, from a coordinator
	// before protocol 5, which does not say what it grants).
	Ports []uint16 `json:"ports,omitempty"`
	// Grants are what the policy lets this person open toward the device,
	// exposed or not; nil from a coordinator before protocol 5.
	Grants []filter.PortGrant `json:"grants,omitzero"`
	// KeyExpiry is when the device's current key expires.
	KeyExpiry time.Time `json:"key_expiry,omitzero"`
}

// LoginRequest asks a desktop client for a login.
type LoginRequest struct {
	// Coordinator, when set, is the coordinator to log in to; the daemon
	// switches to it when no session runs.
	Coordinator string `json:"coordinator,omitempty"`
	// Force starts a new login (with a new key) even when a session runs;
	// otherwise a running session is reported as it is.
	Force bool `json:"force,omitempty"`
}

// LoginStart is the daemon's answer to a LoginRequest.
type LoginStart struct {
	// ID names the login for WaitLogin; empty when LoggedIn.
	ID string `json:"id,omitempty"`
	// URL is the page the person opens to log in.
	URL string `json:"url,omitempty"`
	// Code is the code the coordinator's confirmation page shows after
	// the sign-in: the person connects the device only when they match.
	// Empty when the coordinator has no confirmation page.
	Code string `json:"code,omitempty"`
	// Expires is when the pending login lapses.
	Expires time.Time `json:"expires,omitzero"`
	// LoggedIn is set when a session already runs (and Force was not).
	LoggedIn bool `json:"logged_in,omitempty"`
}

// LoginResult is the outcome of a login.
type LoginResult struct {
	// Error is why the login failed (the coordinator's refusal, a lapsed
	// login); empty on success.
	Error string     `json:"error,omitempty"`
	User  string     `json:"user,omitempty"`
	Node  string     `json:"node,omitempty"`
	IPv4  netip.Addr `json:"ipv4,omitzero"`
	IPv6  netip.Addr `json:"ipv6,omitzero"`
	// KeyExpiry is when the new session ends.
	KeyExpiry time.Time `json:"key_expiry,omitzero"`
	// Ready tells whether the data plane had its first map when the result
	// was sent (it nearly always has).
	Ready bool `json:"ready"`
}

// LogoutResult is the outcome of a logout.
type LogoutResult struct {
	// WasLoggedIn tells whether a session was running.
	WasLoggedIn bool `json:"was_logged_in"`
	// Warning says the coordinator could not be told (the key then still
	// expires at its time); empty when it was.
	Warning string `json:"warning,omitempty"`
}
