package wire

import (
	"math"
	"net/netip"
	"time"

	"github.com/wardnet/ward/filter"
)

// Control API paths.
const (
	PathChallenge = "/ward/v1/challenge"
	PathSession   = "/ward/v1/session"
	PathRegister  = "/ward/v1/register"
	PathMap       = "/ward/v1/map"
	PathRotate    = "/ward/v1/rotate"
	PathReport    = "/ward/v1/report"
	// PathRelay is where the coordinator serves its relay (WebSocket).
	PathRelay = "/ward/v1/relay"
	// PathRelayToken issues a relay admission token (RelayTokenResponse).
	PathRelayToken = "/ward/v1/relay/token"
	// PathBeat is where a subnet router posts its liveness beat (POST,
	// no body, 204; FeatureRouterBeat) while its map stream is open.
	PathBeat = "/ward/v1/beat"
)

// Query parameters of PathMap.
const (
	// MapSinceParam resumes a stream from the version of the last map
	// message the node applied.
	MapSinceParam = "since"
	// MapIdleParam is how long, in milliseconds, the node waits on a
	// silent stream before it gives up on it (FeatureMapIdle). The
	// coordinator then sends a keep-alive every third of that, at most
	// every 45 s by default; a node that does not say gets one every
	// 15 s, which the 45 s older nodes wait allows.
	MapIdleParam = "idle"
	// MapVersionParam is the node's ProtocolVersion, so that the stream
	// sends it what it knows (MapResponse.PeersGrants); absent: 1.
	MapVersionParam = "v"
	// MapBeatParam is the interval, in milliseconds, at which the node
	// posts PathBeat while the stream is open (FeatureRouterBeat; subnet
	// routers only). The coordinator ends the stream after MissedBeats
	// intervals without a beat, which takes the node offline and moves
	// its routes to another router, even when the node stopped without
	// closing its connection. Absent or 0: no beats, as before.
	MapBeatParam = "beat"
)

// MissedBeats is how many beat intervals (MapBeatParam) of silence end a
// map stream.
const MissedBeats = 3

// Limits on what a node may send.
const (
	// MaxRequestBytes bounds every control request body.
	MaxRequestBytes = 64 << 10
	// MaxDeniedPerReport bounds DeniedFlows in one Report.
	MaxDeniedPerReport = 100
	// MaxEndpoints bounds the endpoints a node announces.
	MaxEndpoints = 16
	// MaxExposedPorts bounds a node's exposed ports.
	MaxExposedPorts = 64
	// MaxRoutes bounds the subnet routes a node advertises.
	MaxRoutes = 64
)

// NodeID identifies a node at the coordinator.
type NodeID int64

// ChallengeRequest asks for a session challenge.
type ChallengeRequest struct {
	MachineKey MachinePublic `json:"machine_key"`
}

// ChallengeResponse carries a one-time challenge to sign.
type ChallengeResponse struct {
	// Challenge is random bytes, valid until Expires, usable once.
	Challenge []byte    `json:"challenge"`
	Expires   time.Time `json:"expires"`
}

// SessionRequest proves possession of the machine key.
type SessionRequest struct {
	MachineKey MachinePublic `json:"machine_key"`
	Challenge  []byte        `json:"challenge"`
	// Signature is the machine key's Ed25519 signature of
	// SessionMessage(Challenge, MachineKey).
	Signature []byte `json:"signature"`
	// ProtocolVersion is the node's ProtocolVersion. The coordinator
	// refuses a node older than its MinProtocolVersion (426).
	ProtocolVersion int `json:"protocol_version"`
}

// SessionResponse carries a short-lived token bound to the machine key. It
// is sent as "Authorization: Bearer TOKEN" on every other control call.
type SessionResponse struct {
	Token string `json:"token"`
	// Expires is when Token lapses, on the coordinator's clock.
	Expires time.Time `json:"expires"`
	// Registered tells whether the machine is already a node.
	Registered bool `json:"registered"`
	// NeedsApproval tells that the machine is a node whose key an admin
	// revoked: its rotations are refused until an admin approves it again
	// or it registers with a new pre-auth key (protocol 2).
	NeedsApproval bool `json:"needs_approval,omitempty"`
	// ServerTime is the coordinator's clock when it answered; the node
	// estimates its clock's offset from it. Zero from a coordinator
	// before protocol version 2.
	ServerTime time.Time `json:"server_time,omitzero"`
	// ProtocolVersion is the coordinator's ProtocolVersion, sent to a
	// node that speaks version 3 or later (FeatureCoordinatorVersion).
	// Zero from an older coordinator: CoordinatorVersion tells its
	// version then.
	ProtocolVersion int `json:"protocol_version,omitempty"`
}

// RegisterRequest registers the session's machine as a node.
type RegisterRequest struct {
	// AuthKey is a pre-auth key; required for now.
	AuthKey  string   `json:"auth_key"`
	WGKey    WGPublic `json:"wg_key"`
	Hostname string   `json:"hostname"`
	OS       string   `json:"os"`
	Version  string   `json:"version"`
	// ExposedPorts are the TCP/UDP ports the node forwards to local services.
	ExposedPorts []uint16 `json:"exposed_ports,omitempty"`
}

// RegisterResponse describes the new node.
type RegisterResponse struct {
	Node Node `json:"node"`
}

// RotateRequest announces a node's next WireGuard key.
type RotateRequest struct {
	WGKey WGPublic `json:"wg_key"`
}

// RotateResponse tells the node when to switch to the new key: peers have
// been sent it, and the switch leaves them time to apply it. A node reads
// the durations (since protocol version 2) when ServerTime is set, and
// SwitchAt and KeyExpiry, which are on the coordinator's clock, only
// from an older coordinator. Build one with NewRotateResponse.
type RotateResponse struct {
	// SwitchAt is when to switch, on the coordinator's clock.
	SwitchAt time.Time `json:"switch_at"`
	// KeyExpiry is when the new key lapses, on the coordinator's clock;
	// zero means never.
	KeyExpiry time.Time `json:"key_expiry"`
	// ServerTime is the coordinator's clock when it answered (since
	// protocol version 2; zero before). When it is set, SwitchInMillis
	// and KeyLifetimeMillis are too.
	ServerTime time.Time `json:"server_time,omitzero"`
	// SwitchInMillis is how long after receiving this answer the node
	// switches to the new key, in milliseconds; 0 means at once (since
	// protocol version 2).
	SwitchInMillis int64 `json:"switch_in_ms,omitempty"`
	// KeyLifetimeMillis is how long after ServerTime the new key lapses,
	// in milliseconds; 0 with a KeyExpiry means it already has, and it is
	// meaningless when KeyExpiry is zero (since protocol version 2).
	KeyLifetimeMillis int64 `json:"key_lifetime_ms,omitempty"`
}

// NewRotateResponse is the answer of a coordinator whose clock reads now:
// switch to the new key after switchIn, the key lapsing at expiry (zero:
// never). It fills the absolute and the relative fields alike.
func NewRotateResponse(now time.Time, switchIn time.Duration, expiry time.Time) RotateResponse {
	r := RotateResponse{SwitchAt: now.Add(switchIn), KeyExpiry: expiry, ServerTime: now,
		SwitchInMillis: max(switchIn, 0).Milliseconds()}
	if !expiry.IsZero() {
		r.KeyLifetimeMillis = max(expiry.Sub(now), 0).Milliseconds()
	}
	return r
}

// SwitchIn is SwitchInMillis as a duration (saturated, see millis).
func (r RotateResponse) SwitchIn() time.Duration { return millis(r.SwitchInMillis) }

// KeyLifetime is KeyLifetimeMillis as a duration (saturated, see millis).
func (r RotateResponse) KeyLifetime() time.Duration { return millis(r.KeyLifetimeMillis) }

// millis converts ms milliseconds to a duration, saturating at the
// largest and smallest durations instead of wrapping around: a huge value
// from the wire must not turn into a short or negative one.
func millis(ms int64) time.Duration {
	const limit = int64(math.MaxInt64 / time.Millisecond)
	switch {
	case ms > limit:
		return math.MaxInt64
	case ms < -limit:
		return math.MinInt64
	}
	return time.Duration(ms) * time.Millisecond
}

// DeniedFlow is one new inbound flow the node's filter refused.
type DeniedFlow struct {
	Src   netip.Addr   `json:"src"`
	Dst   netip.Addr   `json:"dst"`
	Proto filter.Proto `json:"proto"`
	Port  uint16       `json:"port"`
	Time  time.Time    `json:"time"`
	// Count is how many such attempts this entry stands for (>= 1).
	Count int `json:"count"`
}

// Report is what a node tells the coordinator about itself.
type Report struct {
	// Endpoints are UDP addresses peers may reach the node at; may be empty.
	Endpoints []netip.AddrPort `json:"endpoints,omitempty"`
	// DeniedFlows are denied attempts since the last report; may be empty.
	DeniedFlows []DeniedFlow `json:"denied_flows,omitempty"`
	// ExposedPorts, when not empty, replace the ports the node registered
	// as forwarded to local services (at most MaxExposedPorts); empty
	// means unchanged, so a report cannot clear the last exposed port.
	// Added 2026-11-25 within protocol version 1: a coordinator built
	// before refuses a report that has it (unknown field), so a node
	// sends it in a report of its own.
	ExposedPorts []uint16 `json:"exposed_ports,omitempty"`
	// HomeRelay, when not empty, names the relay the node now listens on
	// (one of its map's Relays). Since protocol version 8: sent only to
	// coordinators that speak it.
	HomeRelay string `json:"home_relay,omitempty"`
	// Paths, when not nil, replaces the node's path report (protocol 9,
	// FeaturePathReports: a node sends it only to a coordinator that
	// speaks it). A report that breaks its limits is refused whole (400).
	Paths *NodePaths `json:"paths,omitempty"`
	// AdvertisedRoutes, when not nil, replace the subnet routes the node
	// offers to route (its --advertise-routes, at most MaxRoutes); an
	// empty list withdraws them all. Since protocol version 18
	// (FeatureSubnetRoutes): sent only to coordinators that speak it.
	AdvertisedRoutes []netip.Prefix `json:"advertised_routes,omitzero"`
}

// Node describes a node (the receiving node itself, or a peer).
type Node struct {
	// HomeRelay names the relay (of MapResponse.Relays) the node listens
	// on: peers send it relayed packets there. Empty: unknown (then the
	// sender's own home). Since protocol version 8.
	HomeRelay string `json:"home_relay,omitempty"`
	ID        NodeID `json:"id"`
	// Name is the node's DNS label, unique in the fleet ("camera-3").
	Name string `json:"name"`
	// FQDN is Name under the fleet's DNS domain ("camera-3.ward.internal"),
	// without a trailing dot. Empty from a coordinator before protocol
	// version 15 (FeatureDNSNames): a node then resolves Name alone.
	FQDN string `json:"fqdn,omitempty"`
	// IPv4 and IPv6 are the node's overlay addresses.
	IPv4 netip.Addr `json:"ipv4"`
	IPv6 netip.Addr `json:"ipv6"`
	// WGKey is the node's current WireGuard public key.
	WGKey WGPublic `json:"wg_key"`
	// PrevWGKey and KeySwitchAt, in a peer of a map, tell that the peer
	// announced WGKey by a rotation but keeps using PrevWGKey until
	// KeySwitchAt (on the coordinator's clock, like RotateResponse's
	// SwitchAt): the receiver keeps the peer under PrevWGKey until then
	// and takes WGKey at that moment, when the peer switches, so a running
	// flow does not stall between the announcement and the switch. Set
	// only while the switch lies ahead, never for a revoked node, never
	// past the old key's expiry; KeyExpiry (the new key's) cuts both
	// keys. Zero otherwise. Since protocol version 24 (FeatureKeySwitch);
	// an older node ignores them and takes WGKey at once.
	PrevWGKey   WGPublic  `json:"prev_wg_key,omitzero"`
	KeySwitchAt time.Time `json:"key_switch_at,omitzero"`
	// KeyExpiry is when WGKey stops being valid, on the coordinator's
	// clock (a node converts it to its own with the offset it estimated
	// from ServerTime); zero means never. Peers drop the node at this
	// time even without hearing from the coordinator.
	KeyExpiry time.Time `json:"key_expiry,omitzero"`
	// Endpoints are where the node may be reached over UDP; may be empty.
	Endpoints []netip.AddrPort `json:"endpoints,omitempty"`
	// User is the owner's email; empty for tagged nodes.
	User string `json:"user,omitempty"`
	// Tags are the node's tags; empty for user-owned nodes.
	Tags []string `json:"tags,omitempty"`
	// Online tells whether the node has a live map stream.
	Online bool `json:"online"`
	// ExposedPorts are the ports the node forwards to local services.
	ExposedPorts []uint16 `json:"exposed_ports,omitempty"`
	// Grants, in a peer of a map, are what the receiving node may start
	// toward this peer under the current policy: per protocol, the
	// destination ports (the peer's inbound filter matched against the
	// receiver's addresses). Empty (but present) means nothing: the peer
	// is in the map because it may reach the receiver. Nil (absent) in a
	// node's own Self, and from a coordinator before protocol version 5
	// (FeaturePeerGrants), where the receiver does not know its grants
	// and must not refuse anything on their account.
	Grants []filter.PortGrant `json:"grants,omitzero"`
	// KeyRevoked tells that an admin revoked the node's key; the
	// coordinator refuses its rotations until an admin approves it or it
	// registers with a new pre-auth key. Set in a node's own Self only
	// (protocol 2).
	KeyRevoked bool `json:"key_revoked,omitempty"`
	// OwnerDisabled tells that an admin disabled the person who owns the
	// node, whose key is cut with it: the node says "disabled by an admin"
	// rather than "expired". Set in a node's own Self only (protocol 4,
	// FeatureOwnerDisabled; older nodes ignore it).
	OwnerDisabled bool `json:"owner_disabled,omitempty"`
	// MFAWithinMillis, in a peer of a map, tells that the peer's risk
	// class lets a person reach it only within this many milliseconds of
	// their last login with a second factor (step-up MFA); 0 when it
	// requires none. Since protocol version 16 (FeatureStepUpMFA).
	MFAWithinMillis int64 `json:"mfa_within_ms,omitempty"`
	// MFAAt, in a person's node's own Self, is when the person last logged
	// in with a second factor, on the coordinator's clock; zero when never
	// (or for a tagged node). Since protocol version 16.
	MFAAt time.Time `json:"mfa_at,omitzero"`
	// Requests, in a person's node's own Self, are the person's newest
	// access requests (at most MaxSelfRequests, newest first) with their
	// state and decision, so the requester learns a decision the moment
	// it is made; times are on the coordinator's clock. Empty for a
	// tagged node and for a person who made none. Since protocol version
	// 21 (FeatureRequestsInMap).
	Requests []AccessRequest `json:"requests,omitempty"`
	// Routes are approved subnet routes (issue 14, protocol 18). In a
	// peer of a map: the routes the receiver sends through this peer (its
	// WireGuard allowed IPs), only those the peer is the router in use for
	// and in which the policy lets the receiver reach some address. In a
	// node's own Self: every approved route it serves, whose addresses
	// its stack accepts flows to (its filter decides which).
	Routes []netip.Prefix `json:"routes,omitempty"`
	// RouteHosts, in a peer of a map, are the names the policy's "hosts"
	// give single devices inside the peer's Routes (a /32 or /128; a wider
	// host is no name) that the receiver may reach on some port: the
	// receiver resolves each, alone or under the fleet domain, to its
	// address. Never in a node's own Self. Since protocol version 19
	// (FeatureRouteHosts).
	RouteHosts []RouteHost `json:"route_hosts,omitempty"`
}

// RouteHost is one name of Node.RouteHosts.
type RouteHost struct {
	// Name is a DNS label ("plc-1"), lowercase.
	Name string `json:"name"`
	// Addr is the device's address, inside one of the router's Routes.
	Addr netip.Addr `json:"addr"`
}

// PeerGrants is a peer's new Grants (MapResponse.PeersGrants): nil
// (absent) and empty mean what they mean in Node.Grants.
type PeerGrants struct {
	ID     NodeID             `json:"id"`
	Grants []filter.PortGrant `json:"grants,omitzero"`
}

// GrantsSwap is one of MapResponse.PeersGrantsSwap: the peers whose
// Grants are From get To.
type GrantsSwap struct {
	From []filter.PortGrant `json:"from"`
	To   []filter.PortGrant `json:"to"`
}

// MapResponse is one message of the map stream (one JSON object per line).
// The first message of a stream is Full; later ones are deltas against the
// previous message. A keep-alive has only KeepAlive set.
type MapResponse struct {
	// Version increases with every message that changes something; a node
	// reconnecting with ?since=Version resumes with a delta when the
	// coordinator still knows that version.
	Version uint64 `json:"version"`
	// Full means Peers is the complete peer list and Filter the complete
	// filter; otherwise only the delta fields apply.
	Full bool `json:"full,omitempty"`
	// DNSDomain is the fleet's DNS domain ("ward.internal"), under which
	// every node's FQDN lies; set in full maps only. Empty from a
	// coordinator before protocol version 15 (FeatureDNSNames).
	DNSDomain string `json:"dns_domain,omitempty"`
	// Self is the receiving node; set when Full or when it changed.
	Self *Node `json:"self,omitempty"`
	// Peers is the complete peer list (Full only).
	Peers []Node `json:"peers,omitempty"`
	// PeersChanged are peers added or changed (delta only).
	PeersChanged []Node `json:"peers_changed,omitempty"`
	// PeersBin and PeersChangedBin, when not 0, say that Peers and
	// PeersChanged come as binary peer blocks of that many bytes right
	// after the message's line, in that order, in place of their JSON
	// (protocol 26, FeatureBinaryPeers: sent to nodes whose map request
	// says 26 or later). A reader takes the bytes and decodes them with
	// DecodeMapBinary, which fills the lists and clears these.
	PeersBin        int `json:"peers_bin,omitempty"`
	PeersChangedBin int `json:"peers_changed_bin,omitempty"`
	// PeersRemoved are peers to drop (delta only).
	PeersRemoved []NodeID `json:"peers_removed,omitempty"`
	// PeersGrants replace the Grants of peers the node holds whose record
	// is otherwise unchanged (delta only; a policy change that changes
	// only what the node may reach on each). Sent to nodes that say their
	// version (MapVersionParam) is 11 or later (FeatureGrantsDelta); older
	// ones get the whole records in PeersChanged.
	PeersGrants []PeerGrants `json:"peers_grants,omitempty"`
	// PeersGrantsSwap gives every peer the node held before this message
	// whose Grants equal a swap's From (by value; never a peer with nil
	// Grants) that swap's To, ahead of PeersChanged, PeersGrants and
	// PeersRemoved (delta only): a policy change that gives a sensor new
	// grants on each of its 200 gateways says so once, not per gateway.
	// Sent to nodes that say their version is 23 or later
	// (FeatureGrantsSwap); apply with SwapGrants.
	PeersGrantsSwap []GrantsSwap `json:"peers_grants_swap,omitempty"`
	// Filter is the complete inbound filter; set when Full or FilterChanged.
	Filter []filter.Rule `json:"filter,omitempty"`
	// FilterChanged says Filter replaces the node's filter (it may be empty).
	FilterChanged bool `json:"filter_changed,omitempty"`
	// FilterSrcFrom, in a delta with FilterChanged, has one entry per rule
	// of Filter: the index of the rule of the filter the node held until
	// now whose Src the rule has (its own "src" is then null), or -1 when
	// it carries its own. A gateway's rules list every sensor, and a
	// policy change that changes only their ports need not send the lists
	// again. Sent to nodes that say their version is 11 or later
	// (FeatureFilterSrcRefs).
	FilterSrcFrom []int `json:"filter_src_from,omitempty"`
	// FilterSrcDelta changes the sources a rule takes by FilterSrcFrom
	// (sorted by rule, at most one per rule): a gateway's rules list every
	// sensor, and a sensor that joins adds one address, not a new list of
	// thousands. Sent to nodes that say their version is 23 or later
	// (FeatureFilterSrcDelta); apply with RulesFrom.
	FilterSrcDelta []SrcDelta `json:"filter_src_delta,omitempty"`
	// KeepAlive marks a message that carries nothing else (but Version
	// and ServerTime).
	KeepAlive bool `json:"keep_alive,omitempty"`
	// ServerTime is the coordinator's clock when it wrote the message,
	// keep-alives included (since protocol version 2; zero before). The
	// node estimates its clock's offset from it and converts the
	// message's KeyExpiry times, which are on the coordinator's clock,
	// to its own.
	ServerTime time.Time `json:"server_time,omitzero"`
	// Relays are the relays the node may use, the coordinator's first
	// (Full messages, since protocol version 6; and, since version 7, a
	// delta with RelaysChanged).
	Relays []Relay `json:"relays,omitempty"`
	// RelaysChanged says a delta's Relays (which may be empty) replace the
	// node's list: a relay was registered or removed (since protocol
	// version 7).
	RelaysChanged bool `json:"relays_changed,omitempty"`
}

// Relay is a relay a node may reach its peers through.
type Relay struct {
	// Name names the relay in status output.
	Name string `json:"name"`
	// URL is the relay's WebSocket URL; a path ("/ward/v1/relay") is
	// relative to the coordinator's URL.
	URL string `json:"url"`
	// STUN is the UDP address ("host:port") where the relay answers STUN
	// binding requests, so a node learns its reflexive address; a bare
	// ":port" is on the host of URL (for a path, the coordinator's).
	// Empty: none (since protocol version 7).
	STUN string `json:"stun,omitempty"`
	// STUNAlt is a second address (another IP or port, the same form as
	// STUN) where the relay answers STUN, so a node with one relay can
	// tell whether its NAT maps a socket to one public address for every
	// destination (easy) or to one per destination (hard, which calls for
	// birthday probing). Empty: none (since protocol version 10).
	STUNAlt string `json:"stun_alt,omitempty"`
}

// RelayTokenResponse answers PathRelayToken: a token admitting the
// caller's current WireGuard key to the relays until Expires.
type RelayTokenResponse struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
}

// Interactive login paths (since protocol version 1).
const (
	// PathLogin starts an interactive login (POST, session token).
	PathLogin = "/ward/v1/login"
	// PathLoginWait waits for it to finish (GET ?id=, session token).
	PathLoginWait = "/ward/v1/login/wait"
	// PathLogout ends the node's key at once (POST, session token).
	PathLogout = "/ward/v1/logout"
	// PathLoginBrowser is where the person's browser goes: /ward/v1/l/{id}.
	// Each link works once.
	PathLoginBrowser = "/ward/v1/l/"
	// PathOIDCCallback is the OIDC redirect URI. It answers with a page
	// that shows the requesting device's facts and asks the person to
	// confirm.
	PathOIDCCallback = "/ward/v1/oidc/callback"
	// PathLoginConfirm takes the person's decision on that page (POST, an
	// HTML form with a CSRF token; protocol 2).
	PathLoginConfirm = "/ward/v1/login/confirm"
)

// LoginRequest starts an interactive login for the session's machine. The
// node made a fresh WireGuard key for it.
type LoginRequest struct {
	WGKey    WGPublic `json:"wg_key"`
	Hostname string   `json:"hostname"`
	OS       string   `json:"os"`
	Version  string   `json:"version"`
}

// LoginResponse tells the person where to log in.
type LoginResponse struct {
	// ID names the pending login for PathLoginWait.
	ID string `json:"id"`
	// URL is the page to open in a browser.
	URL string `json:"url"`
	// Expires is when the pending login lapses: the link must be opened
	// some minutes before, and the login confirmed in the browser by then.
	Expires time.Time `json:"expires"`
	// Code is a short code ("BCDF-GHJK") that the node shows the person
	// next to URL. The coordinator's confirmation page shows it too, and
	// the person connects the device only when both match. Empty from a
	// coordinator older than the confirmation page (protocol 2).
	Code string `json:"code,omitempty"`
}

// LoginResult is the outcome of PathLoginWait: the node, or why the login
// was refused.
type LoginResult struct {
	Done  bool   `json:"done"`
	Node  *Node  `json:"node,omitempty"`
	Error string `json:"error,omitempty"`
}
