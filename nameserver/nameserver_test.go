package nameserver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fleet is a fixed map of the fleet: FQDN to addresses.
type fleet struct {
	domain string
	nodes  map[string][2]netip.Addr
}

func (f fleet) Domain() string { return f.domain }

func (f fleet) Lookup(name string) (netip.Addr, netip.Addr, bool) {
	a, ok := f.nodes[name]
	return a[0], a[1], ok
}

var testFleet = fleet{domain: "ward.internal", nodes: map[string][2]netip.Addr{
	"camera-3.ward.internal": {netip.MustParseAddr("100.64.0.3"), netip.MustParseAddr("fd7a:115c:a1e0::3")},
	"plc-1.ward.internal":    {netip.MustParseAddr("100.64.0.4")},
}}

// upstream serves DNS on loopback: every A question is answered
// 192.0.2.1 (a documentation address, never dialled), over UDP and TCP.
func upstream(t *testing.T) netip.AddrPort {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		if q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: net.IPv4(192, 0, 2, 1)})
		}
		w.WriteMsg(m)
	})
	// The same port for UDP and TCP, as listenBoth picks it: the system's
	// free UDP port may be a TCP port in use (a CI run failed on it).
	pc, ln, err := listenBoth(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go srv.ActivateAndServe()
		t.Cleanup(func() { srv.Shutdown() })
	}
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// resolverFor is Go's resolver asking only addr, over UDP or TCP.
func resolverFor(addr netip.AddrPort, network string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr.String())
	}}
}

// TestOverlayResolverAnswersFleetAndForwards pins issue 14's resolver:
// A and AAAA for the fleet domain from the map, NXDOMAIN for a fleet name
// no node has, everything else forwarded to the system's resolvers; over
// UDP and TCP, asked by Go's own resolver.
func TestOverlayResolverAnswersFleetAndForwards(t *testing.T) {
	up := upstream(t)
	s, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), Config{Names: testFleet, Upstreams: []netip.AddrPort{up}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, network := range []string{"udp", "tcp"} {
		r := resolverFor(s.Addr(), network)
		for _, tc := range []struct {
			family, host string
			want         []string
		}{
			{"ip4", "camera-3.ward.internal", []string{"100.64.0.3"}},
			{"ip6", "camera-3.ward.internal", []string{"fd7a:115c:a1e0::3"}},
			{"ip", "Camera-3.Ward.Internal.", []string{"100.64.0.3", "fd7a:115c:a1e0::3"}},
			{"ip4", "plc-1.ward.internal", []string{"100.64.0.4"}},
			{"ip4", "www.example.com", []string{"192.0.2.1"}},
		} {
			got, err := r.LookupNetIP(ctx, tc.family, tc.host)
			var gs []string
			for _, a := range got {
				gs = append(gs, a.Unmap().String())
			}
			slices.Sort(gs)
			if err != nil || !slices.Equal(gs, tc.want) {
				t.Errorf("%s: %s %s = %v, %v; want %v", network, tc.family, tc.host, gs, err, tc.want)
			}
		}
		_, err := r.LookupNetIP(ctx, "ip4", "nope.ward.internal")
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			t.Errorf("%s: an unknown fleet name: %v, want not found", network, err)
		}
		if _, err := r.LookupNetIP(ctx, "ip6", "plc-1.ward.internal"); !errors.As(err, &de) || !de.IsNotFound {
			t.Errorf("%s: AAAA of a node without IPv6: %v, want no such host", network, err)
		}
	}
	m := new(dns.Msg)
	m.SetQuestion("nope.ward.internal.", dns.TypeA)
	resp, err := dns.Exchange(m, s.Addr().String())
	if err != nil || resp.Rcode != dns.RcodeNameError || !resp.Authoritative {
		t.Errorf("unknown fleet name: %v %v; want an authoritative NXDOMAIN", resp, err)
	}
}

// TestOverlayResolverWithoutUpstreamFails: with no upstream (or only
// itself), a question outside the fleet gets SERVFAIL, at once.
func TestOverlayResolverWithoutUpstreamFails(t *testing.T) {
	s, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), Config{Names: testFleet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	resp, err := dns.Exchange(m, s.Addr().String())
	if err != nil || resp.Rcode != dns.RcodeServerFailure {
		t.Errorf("no upstream: %v %v; want SERVFAIL", resp, err)
	}
}

func TestUpstreamsReadsResolvConf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	text := "# comment\nnameserver 10.0.0.53\nnameserver 100.64.0.9\nnameserver fd00::53\nsearch corp.example\noptions ndots:1\n"
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Upstreams(p, netip.MustParseAddr("100.64.0.9"))
	want := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.53:53"), netip.MustParseAddrPort("[fd00::53]:53")}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Upstreams = %v, %v; want %v", got, err, want)
	}
	os.WriteFile(p, []byte("search x\n"), 0o644)
	if _, err := Upstreams(p); !errors.Is(err, ErrNoUpstream) || !strings.Contains(err.Error(), p) {
		t.Errorf("no nameserver: %v", err)
	}
}

// TestOverlayResolverRefusesOtherHosts: the resolver answers only the
// host it runs on; a question from another address (an overlay peer, a
// LAN neighbour routing to the overlay address) gets REFUSED, neither a
// fleet name nor a forwarded answer, over UDP and TCP.
func TestOverlayResolverRefusesOtherHosts(t *testing.T) {
	up := upstream(t)
	s, err := Listen(netip.MustParseAddrPort("127.0.0.1:0"), Config{Names: testFleet, Upstreams: []netip.AddrPort{up}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, network := range []string{"udp", "tcp"} {
		for _, name := range []string{"camera-3.ward.internal.", "www.example.com."} {
			m := new(dns.Msg)
			m.SetQuestion(name, dns.TypeA)
			c := &dns.Client{Net: network, Dialer: &net.Dialer{LocalAddr: localAddr(network, "127.0.0.2")}}
			resp, _, err := c.Exchange(m, s.Addr().String())
			if err != nil || resp.Rcode != dns.RcodeRefused || len(resp.Answer) != 0 {
				t.Errorf("%s %s from another address: %v %v; want REFUSED", network, name, resp, err)
			}
			c.Dialer.LocalAddr = localAddr(network, "127.0.0.1")
			if resp, _, err := c.Exchange(m, s.Addr().String()); err != nil || resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
				t.Errorf("%s %s from the host itself: %v %v; want an answer", network, name, resp, err)
			}
		}
	}
}

func localAddr(network, ip string) net.Addr {
	if network == "udp" {
		return &net.UDPAddr{IP: net.ParseIP(ip)}
	}
	return &net.TCPAddr{IP: net.ParseIP(ip)}
}
