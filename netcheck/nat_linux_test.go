package netcheck_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/wardnet/ward/nattest"
	"github.com/wardnet/ward/netcheck"
	"github.com/wardnet/ward/stunserver"
)

// TestNetcheckClassifiesNAT runs netcheck's probe from a host behind each
// nattest NAT class against real STUN servers in the internet namespace:
// on two addresses (as two coordinators or relays would be) and on two
// ports of one address (the coordinator's --stun-listen and
// --stun-listen-alt).
func TestNetcheckClassifiesNAT(t *testing.T) {
	n := nattest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	a := netip.AddrPortFrom(nattest.ServerA, 3478)
	b := netip.AddrPortFrom(nattest.ServerB, 3478)
	alt := netip.AddrPortFrom(nattest.ServerA, 3479)
	if err := n.Internet.Do(func() error {
		for _, ap := range []netip.AddrPort{a, b, alt} {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
			if err != nil {
				return err
			}
			go stunserver.New(nil).Serve(ctx, c)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		class nattest.Class
		want  netcheck.NATType
	}{
		{nattest.EIM, netcheck.EndpointIndependent},
		{nattest.Symmetric, netcheck.Symmetric},
		{nattest.UDPBlocked, netcheck.UDPBlocked},
	} {
		t.Run(tc.class.String(), func(t *testing.T) {
			site := n.AddSite(tc.class)
			for _, servers := range [][]netip.AddrPort{{a, b}, {a, alt}} {
				var conn net.PacketConn
				if err := site.Host.Do(func() error {
					var err error
					conn, err = net.ListenPacket("udp", ":0")
					return err
				}); err != nil {
					t.Fatal(err)
				}
				r := netcheck.Classify(netcheck.Probe(ctx, conn, servers, 3*time.Second))
				conn.Close()
				t.Logf("servers %v:\n%s", servers, r)
				if r.NAT != tc.want {
					t.Fatalf("servers %v: NAT %s, want %s", servers, r.NAT, tc.want)
				}
				if r.UDP != (tc.want != netcheck.UDPBlocked) {
					t.Fatalf("servers %v: UDP=%v", servers, r.UDP)
				}
				for _, m := range r.Reflexive {
					if m.Addr() != site.Public {
						t.Fatalf("reflexive %s is not the router's public %s", m, site.Public)
					}
				}
			}
		})
	}
}
