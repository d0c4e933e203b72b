package node

import (
	"net/netip"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"github.com/wardnet/ward/wire"
)

// TestPathBindRoute: a peer goes over the relay as well as UDP until UDP
// from it was heard within udpSilence, and over the relay alone without a
// UDP endpoint; an address no peer announced goes over UDP only.
func TestPathBindRoute(t *testing.T) {
	now := time.Now()
	direct, relayed := wire.WGPublic{1}, wire.WGPublic{2}
	ep := netip.MustParseAddrPort("127.0.0.1:4000")
	b := newPathBind(conn.NewDefaultBind(), nil)
	b.setPeers(map[wire.WGPublic]netip.AddrPort{direct: ep, relayed: {}})
	udpEp := &conn.StdNetEndpoint{AddrPort: ep}
	tests := []struct {
		name      string
		ep        conn.Endpoint
		heard     time.Time
		wantKey   wire.WGPublic
		wantUDP   bool
		wantRelay bool
	}{
		{"udp never heard", udpEp, time.Time{}, direct, true, true},
		{"udp heard just now", udpEp, now, direct, true, false},
		{"udp silent too long", udpEp, now.Add(-udpSilence - time.Millisecond), direct, true, true},
		{"relay endpoint, udp heard", relayEndpoint{key: direct}, now, direct, true, false},
		{"relay endpoint, no udp endpoint", relayEndpoint{key: relayed}, now, relayed, false, true},
		{"unknown address", &conn.StdNetEndpoint{AddrPort: netip.MustParseAddrPort("127.0.0.1:5000")}, time.Time{}, wire.WGPublic{}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.heard[direct] = tt.heard
			k, udp, viaRelay := b.route(tt.ep, now)
			if k != tt.wantKey || (udp != nil) != tt.wantUDP || viaRelay != tt.wantRelay {
				t.Errorf("route = %s, udp %v, relay %v; want %s, udp %v, relay %v", k.ShortString(), udp != nil, viaRelay,
					tt.wantKey.ShortString(), tt.wantUDP, tt.wantRelay)
			}
		})
	}
}

// TestRelayEndpointRoundTrip: the UAPI form of a relay endpoint parses
// back to the same key, and the device state reads it as relayed.
func TestRelayEndpointRoundTrip(t *testing.T) {
	k := wire.WGPublic{7, 8, 9}
	b := newPathBind(conn.NewDefaultBind(), nil)
	s := relayEndpoint{key: k}.DstToString()
	ep, err := b.ParseEndpoint(s)
	if err != nil || ep.(relayEndpoint).key != k {
		t.Fatalf("ParseEndpoint(%q) = %v, %v", s, ep, err)
	}
	if _, err := b.ParseEndpoint(relayEndpointPrefix + "zz"); err == nil {
		t.Error("a bad relay key parsed")
	}
	st, err := parseDeviceState("public_key=" + k.Hex() + "\nendpoint=" + s + "\n")
	if err != nil || !st.peers[k].relayed || pathOf(st.peers[k]) != "relay" {
		t.Errorf("device state = %+v, %v", st.peers[k], err)
	}
}

// TestPeerDiffGivesRelayEndpointWithoutUDP: with the relay path, a peer
// without a map endpoint gets the relay endpoint (so the first packet need
// not wait for an address), and one with an endpoint keeps it.
func TestPeerDiffGivesRelayEndpointWithoutUDP(t *testing.T) {
	k := wire.WGPublic{1}
	allowed := []netip.Prefix{netip.MustParsePrefix("100.64.0.2/32")}
	ep := netip.MustParseAddrPort("127.0.0.1:5000")
	tail := "replace_allowed_ips=true\nallowed_ip=100.64.0.2/32\n"
	tests := []struct {
		name string
		want peerConf
		diff string
	}{
		{"no endpoint, relay", peerConf{id: 2, allowed: allowed, viaRelay: true},
			"public_key=" + k.Hex() + "\npersistent_keepalive_interval=0\nendpoint=" + relayEndpoint{key: k}.DstToString() + "\n" + tail},
		{"endpoint, relay", peerConf{id: 2, allowed: allowed, endpoint: ep, viaRelay: true},
			"public_key=" + k.Hex() + "\npersistent_keepalive_interval=0\nendpoint=127.0.0.1:5000\n" + tail},
		{"no endpoint, no relay", peerConf{id: 2, allowed: allowed},
			"public_key=" + k.Hex() + "\npersistent_keepalive_interval=0\n" + tail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := peerDiff(nil, map[wire.WGPublic]peerConf{k: tt.want}, nil); got != tt.diff {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.diff)
			}
		})
	}
}
