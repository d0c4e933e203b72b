package wire

import (
	"errors"
	"fmt"
)

// ProtocolVersion is the control protocol version this build speaks.
//
// Bump it for every change to what travels between coordinator and node
// (a new field, path or meaning; filter.Rule's JSON included), add a
// Feature named after the change with the new version as its value, and
// append one dated line here:
//
//   - 1 (2026-11-25): initial: machine-key sessions, pre-auth registration, NDJSON map stream (full and deltas), key rotation, reports (with exposed_ports), interactive login.
//   - 2 (2026-12-06, issue 8): server_time in session, rotate and map answers; switch_in_ms, key_lifetime_ms; SessionResponse.NeedsApproval; Node.KeyRevoked; LoginResponse.Code.
//   - 3 (2026-12-06, issue 9): SessionResponse.ProtocolVersion (the coordinator's version, sent to nodes of 3 or later); nodes below MinProtocolVersion refused with 426.
//   - 4 (2026-12-06, issue 9): Node.OwnerDisabled in a node's own Self (its person was disabled by an admin).
//   - 5 (2026-12-06, issue 9): Node.Grants on each peer of a map (what the receiver may open toward it, per protocol); nil from older coordinators, where a node refuses nothing itself.
//   - 6 (2026-12-06, issue 10): MapResponse.Relays (the relays a node may use, in full maps); POST /ward/v1/relay/token issues a relay admission token for the caller's WireGuard key.
//   - 7 (2026-12-06, issue 10): Relay.STUN (where the relay answers STUN, so nodes learn and announce their reflexive address); nodes exchange disco messages (package disco) with each other, not with the coordinator.
//   - 8 (2026-12-06, issue 10): standalone relays: GET /ward/v1/relay/feed (a relay's authorization feed, relay credential), /ward/v1/admin/relays; MapResponse.Relays lists them after the coordinator's, and a delta carries the list with RelaysChanged when one is registered or removed; Report.HomeRelay and Node.HomeRelay (the relay a node listens on, where its peers send it relayed packets); CreateRelayRequest.STUN.
//   - 9 (2026-12-06, issue 10): Report.Paths (a node's path to each peer, its reflexive address, relay and bytes per path type); AdminNode.Paths in the admin API's answer for one node.
//   - 10 (2026-12-06, issue 10): Relay.STUNAlt (a relay's second STUN address, so a node tells an easy NAT from a hard one); nodes exchange disco's TypeNAT message (NAT class, probe request) for birthday probing.
//   - 11 (2026-12-06, issue 11): GET /ward/v1/map?idle=<ms>&v=<version>: the node says how long it waits on a silent map stream (the coordinator sends keep-alives every third of that, at most every 45 s, instead of every 15 s) and its protocol version; MapResponse.PeersGrants (a peer's new grants without its record) and MapResponse.FilterSrcFrom (a rule's sources by reference to the node's previous filter) to nodes of 11 or later.
//   - 12 (2026-12-06, issue 17): filter.Rule.Deny (deny rules, matched ahead of accepts) and filter.Rule.Expires (time-bound rules a node drops on its own clock); the map request's MapVersionParam (from 11), without which a node gets no deny rule, no accept a deny would cut and no time-bound rule; admin API: AdminNode.RiskClass, CreateAuthKeyRequest.RiskClass, PUT PathAdminNodes/{id}/risk.
//   - 13 (2026-12-06, issue 15): POST /ward/v1/flows (FlowBatch): a node's flow logs, accepted and denied, per 60 s window.
//   - 14 (2026-12-06, issue 16): updates over the air: GET /ward/v1/update (UpdateAssignment), POST /ward/v1/update/report (UpdateReport), the TUF repository under /ward/v1/tuf/, /ward/v1/admin/rollouts.
//   - 15 (2026-12-06, issue 14): DNS names: Node.FQDN (each node's name under the fleet domain) and MapResponse.DNSDomain (in full maps); admin API: POST or PUT PathAdminNodes/{id}/rename.
//   - 16 (2026-12-06, issue 17): step-up MFA: Node.MFAWithinMillis on a peer (its risk class's mfaWithin) and Node.MFAAt in a person's own Self (their last login with a second factor); admin API: CreateAPIKeyRequest.Scopes and APIKey.Scopes (scoped API keys).
//   - 17 (2026-12-06, issue 15): device log and file-integrity monitoring: GET /ward/v1/watch (WatchConfig), POST /ward/v1/watch/events (WatchEvents).
//   - 18 (2026-12-06, issue 14): subnet routers: Report.AdvertisedRoutes, Node.Routes (a peer's routes the receiver uses; a node's own approved routes), POST PathAdminNodes/{id}/routes (RoutesRequest), AdminNode's route fields.
//   - 19 (2026-12-06, issue 14): Node.RouteHosts: on a router peer, the policy's single-address hosts names behind its routes that the receiver may reach.
//   - 20 (2026-12-06, issue 14): router liveness: GET /ward/v1/map?beat=<ms> and POST /ward/v1/beat; a coordinator ends a stream whose beats stop for MissedBeats intervals, so a stopped or cut-off subnet router hands its routes over within seconds.
//   - 21 (2026-12-06, issue 17): Node.Requests in a person's own Self (their newest access requests with their decisions, pushed on the map stream as they change).
//   - 22 (2026-12-06, issue 15): FlowBatch.DeniedLive and FlowBatch.DeniedLiveSent: a node announces the denied attempts of its open window at every 5 s poll, so denied-flow alerts need not wait for the 60 s window to close.
//   - 23 (2026-12-06, issue 11): MapResponse.FilterSrcDelta: a filter rule's sources as a delta (prefixes added and removed, the result's checksum) against a list the node holds, and MapResponse.PeersGrantsSwap (peers' grants replaced by value, once per distinct change), to nodes that say (MapVersionParam) they speak 23 or later; a node that cannot apply one refuses the message and reopens its stream from scratch.
//   - 24 (2026-12-07, key rotation stall): Node.PrevWGKey and Node.KeySwitchAt on a peer whose key rotation is announced but not yet switched: receivers keep the old key until the switch time, so a running flow does not stall at a rotation.
//   - 25 (2026-12-07, issue 11): admin API: GET PathAdminNodes in pages: ?limit=N (NodePageDefault, at most NodePageMax) and ?after=<id> answer an AdminNodePage (nodes in id order, Next, Total); without either the old bare array of every node stays; AdminNode.Peers only in the answer for one node.
//   - 26 (2026-12-07, issue 11): binary peer records on the map stream: a node whose map request says (MapVersionParam) 26 or later gets a message's Peers and PeersChanged as binary blocks after its line (MapResponse.PeersBin, MapResponse.PeersChangedBin; DecodeMapBinary), about a third of their JSON's bytes and read without tokenizing; older nodes keep getting JSON, and a node talking to an older coordinator gets JSON and reads it.
//
// A peer ignores JSON fields it does not know only one way: nodes read the
// coordinator's answers leniently, while the coordinator refuses requests
// with unknown fields. So a node sends a field of version N only when
// Supports(coordinator's version, the field's Feature); the coordinator
// sends a new field to every node, and leaves it out for nodes older than
// its Feature where it would mislead them.
const ProtocolVersion = 26

// MinProtocolVersion is the oldest node protocol version a coordinator of
// this build serves; CheckNodeVersion refuses older nodes.
const MinProtocolVersion = 1

// Feature is a part of the control protocol, valued as the protocol
// version that brought it.
type Feature int

// Features by the version that brought them (see ProtocolVersion).
const (
	// FeatureServerClock: ServerTime in SessionResponse, RotateResponse
	// and MapResponse, and RotateResponse's SwitchInMillis and
	// KeyLifetimeMillis.
	FeatureServerClock Feature = 2
	// FeatureKeyRevocation: SessionResponse.NeedsApproval and
	// Node.KeyRevoked.
	FeatureKeyRevocation Feature = 2
	// FeatureLoginCode: LoginResponse.Code and the confirmation page.
	FeatureLoginCode Feature = 2
	// FeatureCoordinatorVersion: SessionResponse.ProtocolVersion.
	FeatureCoordinatorVersion Feature = 3
	// FeatureOwnerDisabled: Node.OwnerDisabled. Sent to every node: an
	// older one ignores it and says its key expired.
	FeatureOwnerDisabled Feature = 4
	// FeaturePeerGrants: Node.Grants, the receiver's grants on each peer
	// of a map. Sent to every node (older ones ignore it); a node tells
	// an older coordinator by the field's absence, not by this version.
	FeaturePeerGrants Feature = 5
	// FeatureRelays: MapResponse.Relays and PathRelayToken. Sent to every
	// node (older ones ignore the field).
	FeatureRelays Feature = 6
	// FeatureRelaySTUN: Relay.STUN. Sent to every node (older ones ignore
	// the field).
	FeatureRelaySTUN Feature = 7
	// FeatureStandaloneRelays: PathRelayFeed, PathAdminRelays, registered
	// relays in MapResponse.Relays and MapResponse.RelaysChanged. Sent to
	// every node (older ones ignore the deltas' list).
	FeatureStandaloneRelays Feature = 8
	// FeaturePathReports: Report.Paths. A node sends it only to a
	// coordinator of this version or later (an older one refuses the
	// unknown field).
	FeaturePathReports Feature = 9
	// FeatureRelaySTUNAlt: Relay.STUNAlt. Sent to every node (older ones
	// ignore the field).
	FeatureRelaySTUNAlt Feature = 10
	// FeatureMapIdle: MapIdleParam on PathMap. A node sends it to every
	// coordinator (an older one ignores it and keeps its 15 s
	// keep-alives, well within the node's wait).
	FeatureMapIdle Feature = 11
	// FeatureGrantsDelta: MapResponse.PeersGrants, sent to a node whose
	// map request says (MapVersionParam) it speaks 11 or later; a node
	// sends MapVersionParam to every coordinator (an older one ignores
	// it).
	FeatureGrantsDelta Feature = 11
	// FeatureFilterSrcRefs: MapResponse.FilterSrcFrom, sent as
	// FeatureGrantsDelta.
	FeatureFilterSrcRefs Feature = 11
	// FeatureDenyRules: filter.Rule.Deny, filter.Rule.Expires and
	// MapVersionParam. A node older than this reads a deny rule as an
	// accept and keeps a time-bound rule for good, so the coordinator
	// sends it its filter without denies, without the accepts they
	// overlap and without time-bound rules (fail closed).
	FeatureDenyRules Feature = 12
	// FeatureFlowLogs: PathFlows. A node posts flow logs only to a
	// coordinator of this version or later (an older one answers 404).
	FeatureFlowLogs Feature = 13
	// FeatureUpdates: PathUpdate, PathUpdateReport and PathTUF. A node
	// asks for updates only from a coordinator of this version or later
	// (an older one answers 404).
	FeatureUpdates Feature = 14
	// FeatureDNSNames: Node.FQDN and MapResponse.DNSDomain. Sent to every
	// node (older ones ignore them); a node tells an older coordinator by
	// their absence and resolves short names alone.
	FeatureDNSNames Feature = 15
	// FeatureStepUpMFA: Node.MFAWithinMillis and Node.MFAAt, and scoped
	// API keys in the admin API. Sent to every node (older ones ignore the
	// fields and say only "not granted" for a port a step-up would open).
	FeatureStepUpMFA Feature = 16
	// FeatureWatch: PathWatch and PathWatchEvents. A node asks what to
	// watch only a coordinator of this version or later (an older one
	// answers 404).
	FeatureWatch Feature = 17
	// FeatureSubnetRoutes: Report.AdvertisedRoutes (a node sends it only
	// to a coordinator of this version or later), Node.Routes (sent to
	// every node: an older one ignores it and routes nothing) and the
	// admin routes endpoint.
	FeatureSubnetRoutes Feature = 18
	// FeatureRouteHosts: Node.RouteHosts. Sent to every node (an older one
	// ignores it and reaches routed devices by address only).
	FeatureRouteHosts Feature = 19
	// FeatureRouterBeat: MapBeatParam and PathBeat. A node beats only to
	// a coordinator of this version or later (an older one answers 404
	// and would never end the stream for silence).
	FeatureRouterBeat Feature = 20
	// FeatureRequestsInMap: Node.Requests in a person's own Self. Sent to
	// every person's node (older ones ignore it and learn decisions by
	// asking, GET PathRequests).
	FeatureRequestsInMap Feature = 21
	// FeatureDeniedLive: FlowBatch.DeniedLive and FlowBatch.DeniedLiveSent.
	// A node sends them only to a coordinator of this version or later
	// (an older one refuses the unknown fields) and otherwise leaves its
	// denied attempts to the closed records.
	FeatureDeniedLive Feature = 22
	// FeatureFilterSrcDelta: MapResponse.FilterSrcDelta, sent to a node
	// whose map request says (MapVersionParam) it speaks 23 or later;
	// older ones get whole source lists.
	FeatureFilterSrcDelta Feature = 23
	// FeatureGrantsSwap: MapResponse.PeersGrantsSwap, sent as
	// FeatureFilterSrcDelta.
	FeatureGrantsSwap Feature = 23
	// FeatureKeySwitch: Node.PrevWGKey and Node.KeySwitchAt. Sent to every
	// node (an older one ignores them and takes a rotated key at its
	// announcement, as before).
	FeatureKeySwitch Feature = 24
	// FeatureNodePages: the admin API's node list in pages
	// (AdminNodePage). Admin clients only; nodes never see it.
	FeatureNodePages Feature = 25
	// FeatureBinaryPeers: MapResponse.PeersBin and PeersChangedBin, the
	// peers of a map message as binary blocks after its line, sent to a
	// node whose map request says (MapVersionParam) it speaks 26 or
	// later; older ones get the JSON arrays. A node reads the blocks
	// wherever a line says them, so it needs nothing from an older
	// coordinator, which sends JSON.
	FeatureBinaryPeers Feature = 26
)

// Supports reports whether a peer speaking protocol version peer knows f.
func Supports(peer int, f Feature) bool { return peer >= int(f) }

// ErrProtocolTooOld refuses a node whose protocol version is below
// MinProtocolVersion (HTTP 426 Upgrade Required).
var ErrProtocolTooOld = errors.New("protocol version too old")

// CheckNodeVersion returns ErrProtocolTooOld, naming both versions, when a
// node speaking protocol version v is older than MinProtocolVersion.
func CheckNodeVersion(v int) error {
	if v < MinProtocolVersion {
		return fmt.Errorf("%w: node speaks protocol %d, coordinator needs >= %d; upgrade the node",
			ErrProtocolTooOld, v, MinProtocolVersion)
	}
	return nil
}

// CoordinatorVersion returns the protocol version of the coordinator that
// answered r: the ProtocolVersion it sent (since version 3), else 2 when
// it sent ServerTime (every version 2 coordinator does), else 1.
func (r SessionResponse) CoordinatorVersion() int {
	switch {
	case r.ProtocolVersion > 0:
		return r.ProtocolVersion
	case !r.ServerTime.IsZero():
		return int(FeatureServerClock)
	}
	return 1
}
