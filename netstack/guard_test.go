package netstack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// step is one packet through a guard for node B; filter, if set, is
// installed first (noFilter installs nil).
type step struct {
	filter Filter
	out    bool // sent by B (Read side) rather than received (Write side)
	at     time.Duration
	pkt    []byte
	pass   bool
}

// noFilter marks a step that installs the nil Filter.
var noFilter = FilterFunc(nil)

func TestGuard(t *testing.T) {
	a4, b4, a6, b6 := addrA4, addrB4, addrA6, addrB6
	syn := tcpPacket(a4, b4, 40000, 80, tcpSYN)
	ack := tcpPacket(a4, b4, 40000, 80, tcpACK)
	bAck := tcpPacket(b4, a4, 80, 40000, tcpACK)
	tests := []struct {
		name   string
		filter Filter
		steps  []step
		want   Stats
	}{
		{"allowed syn then ack", allowAll, []step{
			{pkt: syn, pass: true},
			{out: true, pkt: tcpPacket(b4, a4, 80, 40000, tcpSYN|tcpACK), pass: true},
			{pkt: ack, pass: true},
		}, Stats{Allowed: 1, Flows: 1}},
		{"nil filter denies", nil, []step{{pkt: syn}}, Stats{Denied: 1}},
		{"ack without flow", allowAll, []step{{pkt: ack}}, Stats{Unsolicited: 1}},
		{"syn-ack without flow", allowAll, []step{{pkt: tcpPacket(a4, b4, 40000, 80, tcpSYN|tcpACK)}}, Stats{Unsolicited: 1}},
		{"reply to outbound tcp", denyAll, []step{
			{out: true, pkt: tcpPacket(b6, a6, 50000, 443, tcpSYN), pass: true},
			{pkt: tcpPacket(a6, b6, 443, 50000, tcpSYN|tcpACK), pass: true},
			{pkt: tcpPacket(a6, b6, 443, 50000, tcpACK), pass: true},
		}, Stats{Flows: 1}},
		{"outbound ack opens nothing", denyAll, []step{
			{out: true, pkt: tcpPacket(b4, a4, 50000, 443, tcpACK), pass: true},
			{pkt: tcpPacket(a4, b4, 443, 50000, tcpACK)},
		}, Stats{Unsolicited: 1}},
		{"unserved port: tcp goes on, untracked, to be reset", allowAll, []step{{pkt: tcpPacket(a4, b4, 40000, 81, tcpSYN), pass: true}}, Stats{Unserved: 1}},
		{"unserved port: udp dropped", allowAll, []step{{pkt: udp4Packet(a4, b4, 7000, 81, nil)}}, Stats{Unserved: 1}},
		{"unserved port: the reset goes out, the peer's ack does not come in", allowAll, []step{
			{pkt: tcpPacket(a4, b4, 40000, 81, tcpSYN), pass: true},
			{out: true, pkt: tcpPacket(b4, a4, 81, 40000, tcpRST|tcpACK), pass: true},
			{pkt: tcpPacket(a4, b4, 40000, 81, tcpACK)},
		}, Stats{Unserved: 1, Unsolicited: 1}},
		{"denied syn to an unserved port", denyAll, []step{{pkt: tcpPacket(a4, b4, 40000, 81, tcpSYN)}}, Stats{Denied: 1}},
		{"revoked flow drops both ways", allowAll, []step{
			{pkt: syn, pass: true},
			{filter: denyAll, pkt: ack},
			{out: true, pkt: bAck},
			{filter: allowAll, pkt: ack},
		}, Stats{Allowed: 1, Revoked: 1, Unsolicited: 2, OutboundDropped: 1, Flows: 1}},
		{"revocation seen from the outbound side", allowAll, []step{
			{pkt: syn, pass: true},
			{filter: noFilter, out: true, pkt: bAck},
			{pkt: ack},
		}, Stats{Allowed: 1, Revoked: 1, Unsolicited: 1, OutboundDropped: 1, Flows: 1}},
		{"new filter that still allows keeps the flow", allowAll, []step{
			{pkt: syn, pass: true},
			{filter: FilterFunc(func(src, _ netip.Addr, _ uint8, port uint16) bool { return src == a4 && port == 80 }), pkt: ack, pass: true},
		}, Stats{Allowed: 1, Flows: 1}},
		{"replies to outbound flows ignore filter changes", allowAll, []step{
			{out: true, pkt: udp4Packet(b4, a4, 5000, 53, nil), pass: true},
			{filter: denyAll, pkt: udp4Packet(a4, b4, 53, 5000, nil), pass: true},
		}, Stats{Flows: 1}},
		{"udp flow", allowAll, []step{
			{pkt: udp4Packet(a4, b4, 7000, 53, nil), pass: true},
			{out: true, pkt: udp4Packet(b4, a4, 53, 7000, nil), pass: true},
			{pkt: udp4Packet(a4, b4, 7000, 53, nil), pass: true},
		}, Stats{Allowed: 1, Flows: 1}},
		{"udp flow expires", denyAll, []step{
			{out: true, pkt: udp4Packet(b4, a4, 5000, 53, nil), pass: true},
			{at: udpTimeout + time.Second, pkt: udp4Packet(a4, b4, 53, 5000, nil)},
		}, Stats{Denied: 1, Flows: 1}},
		{"ping allowed", allowAll, []step{
			{pkt: ipPacket(a6, b6, ProtoICMPv6, icmpEcho(icmp6EchoRequest, 5)), pass: true},
			{out: true, pkt: ipPacket(b6, a6, ProtoICMPv6, icmpEcho(icmp6EchoReply, 5)), pass: true},
		}, Stats{Allowed: 1, Flows: 1}},
		{"ping denied", nil, []step{{pkt: ipPacket(a4, b4, ProtoICMP, icmpEcho(icmp4EchoRequest, 5))}}, Stats{Denied: 1}},
		{"echo reply nobody asked for", allowAll, []step{{pkt: ipPacket(a4, b4, ProtoICMP, icmpEcho(icmp4EchoReply, 5))}}, Stats{Unsolicited: 1}},
		{"our ping gets its reply", nil, []step{
			{out: true, pkt: ipPacket(b4, a4, ProtoICMP, icmpEcho(icmp4EchoRequest, 6)), pass: true},
			{pkt: ipPacket(a4, b4, ProtoICMP, icmpEcho(icmp4EchoReply, 6)), pass: true},
		}, Stats{Flows: 1}},
		{"packet for another address", allowAll, []step{{pkt: tcpPacket(a4, netip.MustParseAddr("100.64.0.3"), 1, 80, tcpSYN)}}, Stats{Unsolicited: 1}},
		{"our own address as source", allowAll, []step{{pkt: tcpPacket(b6, b6, 1, 80, tcpSYN)}}, Stats{Unsolicited: 1}},
		{"fragment", allowAll, []step{{pkt: func() []byte { b := udp4Packet(a4, b4, 1, 53, nil); b[6] = 0x20; return b }()}}, Stats{Malformed: 1}},
		{"syn reopens a closing flow through the filter", allowAll, []step{
			{pkt: syn, pass: true},
			{pkt: tcpPacket(a4, b4, 40000, 80, tcpRST), pass: true},
			{filter: denyAll, pkt: syn},
		}, Stats{Allowed: 1, Denied: 1, Flows: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newFuzzGuard()
			g.filter.set(tt.filter)
			for i, s := range tt.steps {
				if s.filter != nil {
					g.filter.set(filterOrNil(s.filter))
				}
				judge := g.inbound
				if s.out {
					judge = g.outbound
				}
				if got := judge(s.pkt, int64(s.at)+1); got != s.pass {
					t.Fatalf("step %d: pass = %v, want %v (stats %+v)", i, got, s.pass, g.stats())
				}
			}
			if diff := cmp.Diff(tt.want, g.stats()); diff != "" {
				t.Fatalf("stats mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// filterOrNil turns the noFilter marker into a nil Filter.
func filterOrNil(f Filter) Filter {
	if ff, ok := f.(FilterFunc); ok && ff == nil {
		return nil
	}
	return f
}

func TestGuardReportsDenials(t *testing.T) {
	var got []DeniedFlow
	cfg := Config{IPv4: addrB4, IPv6: addrB6, MaxFlows: minFlows, OnDenied: func(d DeniedFlow) { got = append(got, d) }}
	var svc services
	svc.init([]Service{{ProtoUDP, 53}})
	g := newGuard(cfg.guardConfig(), &svc)
	g.filter.set(allowAll)
	g.inbound(udp4Packet(addrA4, addrB4, 1, 53, nil), 1)
	g.filter.set(denyAll)
	g.inbound(udp4Packet(addrA4, addrB4, 1, 53, nil), 2)
	g.inbound(udp4Packet(addrA4, addrB4, 2, 53, nil), 3)
	want := []DeniedFlow{
		{Src: addrA4, Dst: addrB4, Proto: ProtoUDP, Port: 53, Revoked: true},
		{Src: addrA4, Dst: addrB4, Proto: ProtoUDP, Port: 53},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(DeniedFlow{}, "Time"), cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Fatalf("denied flows mismatch (-want +got):\n%s", diff)
	}
}

func TestConntrackIsBounded(t *testing.T) {
	ct := newConntrack(minFlows)
	for i := range 4 * minFlows {
		k := flowKey{local: addrB4, remote: addrA4, localPort: 80, remotePort: uint16(i), proto: ProtoTCP}
		ct.insert(&k, fromRemote, 1, int64(i))
	}
	if n := ct.len(); n > minFlows {
		t.Fatalf("table holds %d flows, bound is %d", n, minFlows)
	}
	if ct.evicted.Load() == 0 {
		t.Fatal("no flow evicted from a full table")
	}
	// The newest flow survives eviction.
	k := flowKey{local: addrB4, remote: addrA4, localPort: 80, remotePort: uint16(4*minFlows - 1), proto: ProtoTCP}
	if ct.lookup(&k, 4*minFlows) == nil {
		t.Fatal("newest flow was evicted")
	}
}

func TestConntrackSweep(t *testing.T) {
	ct := newConntrack(minFlows)
	k := flowKey{local: addrB4, remote: addrA4, localPort: 53, remotePort: 1, proto: ProtoUDP}
	ct.insert(&k, fromLocal, 0, ct.now()-int64(udpTimeout)-1)
	ct.sweep()
	if n := ct.len(); n != 0 {
		t.Fatalf("%d flows after sweeping an expired one", n)
	}
}

func TestGuardHotPathDoesNotAllocate(t *testing.T) {
	g := newFuzzGuard()
	g.inbound(tcpPacket(addrA4, addrB4, 40000, 80, tcpSYN), 1)
	in := tcpPacket(addrA4, addrB4, 40000, 80, tcpACK)
	out := tcpPacket(addrB4, addrA4, 80, 40000, tcpACK)
	n := testing.AllocsPerRun(100, func() {
		g.inbound(in, 2)
		g.outbound(out, 2)
	})
	if n != 0 {
		t.Fatalf("tracked packets allocate %v times", n)
	}
}
