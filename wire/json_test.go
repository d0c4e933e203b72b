package wire

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wardnet/ward/filter"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// equateNet compares the netip values, which cmp cannot look into, and
// takes an empty list for none (omitempty sends neither).
var equateNet = cmp.Options{cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, netip.AddrPort{}), cmpopts.EquateEmpty()}

var (
	t0   = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	cam  = netip.MustParseAddr("100.64.0.2")
	cam6 = netip.MustParseAddr("fd7a:115c:a1e0::2")
)

// testNode is a peer with every field set.
func testNode() Node {
	return Node{ID: 7, Name: "cam1", IPv4: cam, IPv6: cam6, WGKey: seq(0x40), KeyExpiry: t0.Add(24 * time.Hour),
		PrevWGKey: seq(0x41), KeySwitchAt: t0.Add(200 * time.Millisecond),
		Endpoints: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:41641"), netip.MustParseAddrPort("[::1]:41641")},
		User:      "alice@example.com", Tags: []string{"tag:camera"}, Online: true, ExposedPorts: []uint16{80, 554}, KeyRevoked: true,
		Routes:     []netip.Prefix{netip.MustParsePrefix("192.168.10.0/24")},
		RouteHosts: []RouteHost{{Name: "plc-1", Addr: netip.MustParseAddr("192.168.10.6")}},
		Grants:     []filter.PortGrant{{Proto: filter.ProtoICMP}, {Proto: filter.ProtoTCP, Ports: []filter.PortRange{{First: 80, Last: 80}, {First: 8000, Last: 8100}}}}}
}

// noGrants is a peer the receiver may open nothing toward ("grants": []).
func noGrants() Node {
	n := testNode()
	n.ID, n.Name, n.Grants = 8, "alice-laptop", []filter.PortGrant{}
	return n
}

// controlMessages holds one of each control protocol message, with every
// field set (and the forms a message takes: a full map, a delta, a
// keep-alive), and filter rules. Their JSON is the wire format nodes of
// every version read.
func controlMessages() map[string]any {
	rule := filter.Rule{Src: []netip.Prefix{netip.MustParsePrefix("100.64.0.1/32")},
		Dst: []filter.DstNet{{Net: netip.PrefixFrom(cam, 32), Ports: []filter.PortRange{{First: 80, Last: 80}}}}, Protos: []filter.Proto{filter.ProtoTCP}}
	self := testNode()
	self.ID, self.Name, self.Tags, self.User, self.OwnerDisabled, self.Grants = 1, "laptop", nil, "bob@example.com", true, nil
	self.Requests = []AccessRequest{{ID: 5, Requester: "bob@example.com", Device: "cam1", Proto: "tcp", Port: 22, DurationMillis: 7200000,
		Reason: "INC-1234", Status: "approved", CreatedAt: t0, DecidedBy: "carol@example.com", DecidedAt: t0.Add(time.Minute), Expires: t0.Add(2 * time.Hour)}}
	return map[string]any{
		"ChallengeRequest":  &ChallengeRequest{MachineKey: seq(1)},
		"ChallengeResponse": &ChallengeResponse{Challenge: []byte("challenge"), Expires: t0.Add(30 * time.Second)},
		"SessionRequest":    &SessionRequest{MachineKey: seq(1), Challenge: []byte("challenge"), Signature: []byte("signature"), ProtocolVersion: ProtocolVersion},
		"SessionResponse": &SessionResponse{Token: "wst_token", Expires: t0.Add(time.Hour), Registered: true, NeedsApproval: true,
			ServerTime: t0, ProtocolVersion: ProtocolVersion},
		"RegisterRequest":  &RegisterRequest{AuthKey: "wak_key", WGKey: seq(0x20), Hostname: "cam1", OS: "linux", Version: "1.0", ExposedPorts: []uint16{80}},
		"RegisterResponse": &RegisterResponse{Node: testNode()},
		"RotateRequest":    &RotateRequest{WGKey: seq(0x21)},
		"RotateResponse":   ptr(NewRotateResponse(t0, 2*time.Second, t0.Add(24*time.Hour))),
		"Report": &Report{Endpoints: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:41641")},
			DeniedFlows:  []DeniedFlow{{Src: netip.MustParseAddr("100.64.0.9"), Dst: cam, Proto: filter.ProtoUDP, Port: 53, Time: t0, Count: 3}},
			ExposedPorts: []uint16{22, 80}, AdvertisedRoutes: []netip.Prefix{netip.MustParsePrefix("192.168.10.0/24")}},
		"Report.paths": &Report{Paths: &NodePaths{Peers: []PeerPath{
			{Peer: 2, Kind: PathKindDirect, Addr: netip.MustParseAddrPort("198.51.100.7:41641"), RTTMicros: 1500, HandshakeAgeMillis: 12000},
			{Peer: 3, Kind: PathKindRelay, Relay: "fra1", Note: "peer behind a symmetric NAT", HandshakeAgeMillis: 3000},
			{Peer: 4, Kind: PathKindNone}},
			PathSummary: PathSummary{Reflexive: netip.MustParseAddrPort("203.0.113.5:41641"), Relay: "coordinator", RelayConnected: true,
				DirectTxBytes: 1, DirectRxBytes: 2, RelayTxBytes: 3, RelayRxBytes: 4}}},
		"MapResponse.full": &MapResponse{Version: 3, Full: true, Self: &self, Peers: []Node{testNode()},
			Filter: []filter.Rule{rule}, ServerTime: t0, Relays: []Relay{{Name: "coordinator", URL: PathRelay, STUN: ":3478", STUNAlt: "203.0.113.2:3478"}}},
		"RelayTokenResponse": &RelayTokenResponse{Token: "relay-token", Expires: t0.Add(5 * time.Minute)},
		"MapResponse.delta": &MapResponse{Version: 4, PeersChanged: []Node{testNode(), noGrants()}, PeersRemoved: []NodeID{9},
			Filter: []filter.Rule{}, FilterChanged: true, ServerTime: t0},
		"MapResponse.keepalive": &MapResponse{Version: 4, KeepAlive: true, ServerTime: t0},
		// Its peers follow the line as binary blocks (protocol 26).
		"MapResponse.binpeers": &MapResponse{Version: 10, ServerTime: t0, PeersBin: 120, PeersChangedBin: 240, PeersRemoved: []NodeID{9}},
		"MapResponse.srcrefs": &MapResponse{Version: 7, ServerTime: t0, FilterChanged: true, FilterSrcFrom: []int{0, -1},
			Filter: []filter.Rule{{Dst: rule.Dst}, rule}},
		"MapResponse.grantsswap": &MapResponse{Version: 9, ServerTime: t0, PeersGrantsSwap: []GrantsSwap{{From: testNode().Grants, To: []filter.PortGrant{}}}},
		"MapResponse.srcdelta": &MapResponse{Version: 8, ServerTime: t0, FilterChanged: true, FilterSrcFrom: []int{0, -1},
			Filter: []filter.Rule{{Dst: rule.Dst}, rule}, FilterSrcDelta: []SrcDelta{{Rule: 0,
				Add: []netip.Prefix{netip.MustParsePrefix("100.64.0.9/32")}, Del: []netip.Prefix{netip.MustParsePrefix("100.64.0.3/32")}, Sum: "00000000000000ff"}}},
		"MapResponse.grants": &MapResponse{Version: 6, ServerTime: t0, PeersGrants: []PeerGrants{{ID: 2, Grants: testNode().Grants}, {ID: 3, Grants: []filter.PortGrant{}}, {ID: 4}}},
		"MapResponse.relays": &MapResponse{Version: 5, ServerTime: t0, RelaysChanged: true,
			Relays: []Relay{{Name: "coordinator", URL: PathRelay}, {Name: "fra1", URL: "wss://relay-fra1.example.com" + PathRelay}}},
		"RelayFeedHello":          &RelayFeedHello{Name: "fra1", TokenKey: []byte("0123456789abcdef0123456789abcdef"), Gen: 41},
		"RelayFeedQuestion":       &RelayFeedQuestion{ID: 7, Key: seq(0x23), Node: 3, To: seq(0x24), ToNode: 4},
		"RelayFeedQuestion.admit": &RelayFeedQuestion{ID: 8, Admit: true, Key: seq(0x23), Node: 3},
		"RelayFeedMessage.answer": &RelayFeedMessage{Answer: 7, OK: true, Gen: 41},
		"RelayFeedMessage.cut":    &RelayFeedMessage{Gen: 42, Cut: []WGPublic{seq(0x24)}},
		"FlowBatch": &FlowBatch{Dropped: 2, Records: []FlowRecord{
			{Src: netip.MustParseAddr("100.64.0.9"), Dst: cam, Proto: filter.ProtoTCP, Port: 22, Inbound: true, Denied: true,
				Rule: "no rule matched", Start: t0, End: t0.Add(3 * time.Second), Count: 100},
			{Src: cam, Dst: netip.MustParseAddr("100.64.0.9"), Proto: filter.ProtoUDP, Port: 53, Rule: "outbound",
				Start: t0, End: t0.Add(time.Minute), BytesSent: 120, BytesRecv: 900, Count: 2}},
			DeniedLiveSent: true, DeniedLive: []DeniedCount{
				{Src: netip.MustParseAddr("100.64.0.9"), Dst: cam, Proto: filter.ProtoTCP, Port: 22, At: t0.Add(time.Minute), Count: 7}}},
		"UpdateAssignment": &UpdateAssignment{Rollout: 3, Target: "ward/linux-arm64/ward-1.4.0", Kind: UpdateKindWard, Version: "1.4.0"},
		"UpdateReport": &UpdateReport{Rollout: 3, Target: "ward/linux-arm64/ward-1.4.0", State: UpdateRolledBack, Progress: 100,
			Reason: "not re-joined within 90s", Running: "1.3.2"},
		"WatchConfig": &WatchConfig{Logs: []WatchLog{{Path: "/var/log/auth.log", Match: []string{"Failed password"}}},
			Files: []string{"/etc/passwd", "/opt/fw"}},
		"WatchEvents": &WatchEvents{Dropped: 1, Events: []WatchEvent{
			{Kind: WatchLogMatch, Path: "/var/log/auth.log", Line: "sshd[7]: Failed password for root", Time: t0},
			{Kind: WatchFile, Path: "/opt/fw/image.bin", Change: WatchModified, OldSHA256: strings.Repeat("ab", 32),
				NewSHA256: strings.Repeat("cd", 32), Time: t0},
			{Kind: WatchFile, Path: "/etc/passwd", Change: WatchUnreadable, Error: "permission denied", Time: t0}}},
		"Error":         &Error{Error: "forbidden: node removed"},
		"LoginRequest":  &LoginRequest{WGKey: seq(0x22), Hostname: "laptop", OS: "linux", Version: "1.0"},
		"LoginResponse": &LoginResponse{ID: "login-id", URL: "https://ward.example.com/ward/v1/l/x", Expires: t0.Add(10 * time.Minute), Code: "BCDF-GHJK"},
		"LoginResult":   &LoginResult{Done: true, Node: &self, Error: "refused"},
		"filter.Rule":   &rules,
	}
}

// rules covers every field and form of filter.Rule's JSON, which travels
// in MapResponse.Filter: IPv4 and IPv6 prefixes, one port, a range, all
// ports, explicit protocols and none, a deny rule, a time-bound rule.
var rules = []filter.Rule{
	{
		Src: []netip.Prefix{netip.MustParsePrefix("100.64.0.1/32"), netip.MustParsePrefix("fd7a:115c:a1e0::1/128")},
		Dst: []filter.DstNet{
			{Net: netip.MustParsePrefix("100.64.0.2/32"), Ports: []filter.PortRange{{First: 22, Last: 22}, {First: 8000, Last: 8100}}},
			{Net: netip.MustParsePrefix("fd7a:115c:a1e0::2/128"), Ports: []filter.PortRange{filter.AllPorts()}},
		},
		Protos: []filter.Proto{filter.ProtoTCP, filter.ProtoUDP},
	},
	{
		Src:    []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10")},
		Dst:    []filter.DstNet{{Net: netip.MustParsePrefix("100.64.0.3/32"), Ports: []filter.PortRange{filter.AllPorts()}}},
		Protos: []filter.Proto{filter.ProtoICMP, filter.ProtoICMPv6, filter.ProtoSCTP, 47},
	},
	{
		Src: []netip.Prefix{netip.MustParsePrefix("100.64.0.4/32")},
		Dst: []filter.DstNet{{Net: netip.MustParsePrefix("100.64.0.5/32"), Ports: []filter.PortRange{{First: 443, Last: 443}}}},
	},
	{
		Src:  []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
		Dst:  []filter.DstNet{{Net: netip.MustParsePrefix("100.64.0.5/32"), Ports: []filter.PortRange{{First: 23, Last: 23}}}},
		Deny: true,
	},
	{
		Src:     []netip.Prefix{netip.MustParsePrefix("100.64.0.6/32")},
		Dst:     []filter.DstNet{{Net: netip.MustParsePrefix("100.64.0.5/32"), Ports: []filter.PortRange{{First: 22, Last: 22}}}},
		Protos:  []filter.Proto{filter.ProtoTCP},
		Expires: time.Date(2026, 12, 6, 14, 0, 0, 0, time.UTC),
	},
}

func ptr[T any](v T) *T { return &v }

// TestControlMessagesGolden pins the JSON of every control message, and of
// filter.Rule, to testdata/control.golden.json, and decodes the file back into messages
// equal to those encoded, refusing unknown fields as the coordinator
// does. A difference is a change of the wire format: bump
// ProtocolVersion (with its Feature and dated line) before rerunning with
// -update.
func TestControlMessagesGolden(t *testing.T) {
	msgs := controlMessages()
	got, err := json.MarshalIndent(msgs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "control.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("control messages' JSON differs from %s (-want +got); this is the wire format: bump ProtocolVersion, then rerun with -update:\n%s", golden, diff)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(want, &raw); err != nil {
		t.Fatal(err)
	}
	for name, m := range msgs {
		back := reflect.New(reflect.TypeOf(m).Elem()).Interface()
		if err := decodeStrict(raw[name], back); err != nil {
			t.Errorf("%s: decode golden: %v", name, err)
			continue
		}
		if diff := cmp.Diff(m, back, equateNet); diff != "" {
			t.Errorf("%s: golden decodes to another message (-want +got):\n%s", name, diff)
		}
	}
}

// decodeStrict decodes one JSON value refusing unknown fields, as the
// coordinator reads requests.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// checkStable checks that m survives an encode/decode round trip.
func checkStable(t *testing.T, m any) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("%T decoded but does not encode: %v", m, err)
	}
	back := reflect.New(reflect.TypeOf(m).Elem()).Interface()
	if err := decodeStrict(b, back); err != nil {
		t.Fatalf("%T: own encoding %s refused: %v", m, b, err)
	}
	if diff := cmp.Diff(m, back, equateNet); diff != "" {
		t.Fatalf("%T: round trip differs (-first +second):\n%s", m, diff)
	}
	if b2, _ := json.Marshal(back); string(b2) != string(b) {
		t.Fatalf("%T: encodes as %s, then as %s", m, b, b2)
	}
}

// TestAdminMessagesRoundTrip: every admin API message decodes to what was
// encoded.
func TestAdminMessagesRoundTrip(t *testing.T) {
	n := testNode()
	n.Endpoints, n.KeyRevoked = nil, false // AdminNode's own fields of these names win
	tests := []any{
		&CreateAuthKeyRequest{Tags: []string{"tag:camera"}, Reusable: true, Ephemeral: true, Expiry: "1h"},
		&AuthKey{ID: 1, Key: "wak_x", Prefix: "wak_x", Tags: []string{"tag:camera"}, Reusable: true, Ephemeral: true, Expiry: t0,
			CreatedAt: t0, CreatedBy: "admin", UseCount: 2, Revoked: true},
		&CreateAPIKeyRequest{Description: "ci", Expiry: "24h"},
		&APIKey{ID: 2, Key: "wapi_x", Prefix: "wapi_x", Description: "ci", CreatedAt: t0, CreatedBy: "admin", Expiry: t0, LastUsed: t0, Revoked: true},
		&AdminNode{Node: n, Hostname: "cam1", OS: "linux", Version: "1.0", Ephemeral: true, CreatedAt: t0, LastSeen: t0, Expired: true,
			KeyRevoked: true, AuthKeyID: 1, AuthKeyUsable: true, AdvertisedRoutes: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")},
			ApprovedRoutes: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}, PrimaryRoutes: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")},
			Peers: []string{"laptop"}, Endpoints: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:41641")}},
		&AdminNodePage{Nodes: []AdminNode{{Node: n, Hostname: "cam1", CreatedAt: t0}}, Next: "7", Total: 12},
		&SetTagsRequest{Tags: []string{"tag:sensor"}},
		&PolicyVersion{ID: 3, ParentID: 2, Text: "{}", Author: "admin", Comment: "c", CreatedAt: t0},
		&SetPolicyRequest{Text: "{}", Comment: "c", ParentID: -1},
		&PolicyError{Error: "policy rejected", Problems: []string{"policy.hujson:1:1: bad"}},
		&AuditEvent{ID: 4, Time: t0, Actor: "admin", Action: "node.expire", Target: "cam1", Source: "127.0.0.1",
			Detail: map[string]any{"auth_key_id": 1.0, "tags": []any{"tag:camera"}}},
		&AdminUser{ID: 5, Email: "alice@example.com", Name: "Alice", Issuer: "https://idp", Subject: "sub", Groups: []string{"ops"},
			Disabled: true, CreatedAt: t0, LastLogin: t0, Nodes: []string{"laptop"}},
		&RebindUserRequest{Issuer: "https://idp", Subject: "sub"},
		&PolicyTextRequest{Text: "{}"},
	}
	for _, m := range tests {
		checkStable(t, m)
	}
}

// TestOlderPeersDecodeNewerMessages: a message of this version decodes
// (leniently, as nodes read answers) into the fields an older peer knows,
// and the fields a version brought are omitted when unset, so older
// coordinators' answers decode with them zero.
func TestOlderPeersDecodeNewerMessages(t *testing.T) {
	tests := []struct {
		name string
		msg  any
		// absent are keys that must not appear when unset.
		absent []string
	}{
		{"session answer of a version 1 coordinator", &SessionResponse{Token: "t", Expires: t0}, []string{"server_time", "needs_approval", "protocol_version"}},
		{"rotate answer without durations", &RotateResponse{SwitchAt: t0}, []string{"server_time", "switch_in_ms", "key_lifetime_ms"}},
		{"login answer without a code", &LoginResponse{ID: "x", URL: "u", Expires: t0}, []string{"code"}},
		{"node not revoked", &Node{ID: 1, Name: "n"}, []string{"key_revoked", "key_expiry"}},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.msg)
		if err != nil {
			t.Fatal(err)
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(b, &keys); err != nil {
			t.Fatal(err)
		}
		for _, k := range tt.absent {
			if _, ok := keys[k]; ok {
				t.Errorf("%s: %s sent unset: %s", tt.name, k, b)
			}
		}
	}
	// An answer with a field from a later version decodes for this node.
	var s SessionResponse
	if err := json.Unmarshal([]byte(`{"token":"t","protocol_version":99,"field_of_version_99":{"x":1}}`), &s); err != nil || s.CoordinatorVersion() != 99 {
		t.Fatalf("a newer coordinator's answer: %+v, %v", s, err)
	}
}
