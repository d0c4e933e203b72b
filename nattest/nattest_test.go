//go:build linux

package nattest_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/wardnet/ward/nattest"
)

// echoPort is where the UDP and TCP echoes listen in the internet.
const echoPort = 7000

// udpEcho answers every datagram on conn with the source it came from.
func udpEcho(conn *net.UDPConn) {
	buf := make([]byte, 64)
	for {
		_, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		conn.WriteToUDPAddrPort([]byte(from.String()), from)
	}
}

// TestNATClassesBehaveAsNamed checks the harness itself: one socket behind
// each router asks UDP echoes on two internet addresses what source they
// see. EIM shows the same mapping to both, Symmetric two different ones,
// and UDPBlocked lets no UDP out while TCP still connects.
func TestNATClassesBehaveAsNamed(t *testing.T) {
	n := nattest.New(t)
	var echoes []*net.UDPConn
	var tcp net.Listener
	if err := n.Internet.Do(func() error {
		for _, a := range []netip.Addr{nattest.ServerA, nattest.ServerB} {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, echoPort)))
			if err != nil {
				return err
			}
			echoes = append(echoes, c)
		}
		var err error
		tcp, err = net.Listen("tcp", netip.AddrPortFrom(nattest.ServerA, echoPort).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range echoes {
		t.Cleanup(func() { c.Close() })
		go udpEcho(c)
	}
	t.Cleanup(func() { tcp.Close() })
	go func() {
		for {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("tcp ok"))
			c.Close()
		}
	}()

	for _, class := range []nattest.Class{nattest.EIM, nattest.Symmetric, nattest.UDPBlocked} {
		t.Run(class.String(), func(t *testing.T) {
			site := n.AddSite(class)
			var conn *net.UDPConn
			if err := site.Host.Do(func() error {
				var err error
				conn, err = net.ListenUDP("udp", nil)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var seen []string
			for _, a := range []netip.Addr{nattest.ServerA, nattest.ServerB} {
				seen = append(seen, ask(t, conn, netip.AddrPortFrom(a, echoPort)))
			}
			t.Logf("%s: servers saw %q", class, seen)
			switch class {
			case nattest.EIM:
				if seen[0] == "" || seen[0] != seen[1] {
					t.Fatalf("EIM mapped one socket to %q", seen)
				}
				if ap := netip.MustParseAddrPort(seen[0]); ap.Addr() != site.Public {
					t.Fatalf("servers saw %s, not the router's public %s", ap, site.Public)
				}
			case nattest.Symmetric:
				if seen[0] == "" || seen[1] == "" || seen[0] == seen[1] {
					t.Fatalf("symmetric NAT mapped one socket to %q", seen)
				}
			case nattest.UDPBlocked:
				if seen[0] != "" || seen[1] != "" {
					t.Fatalf("UDP got out: %q", seen)
				}
				var got string
				if err := site.Host.Do(func() error {
					c, err := net.DialTimeout("tcp", netip.AddrPortFrom(nattest.ServerA, echoPort).String(), 10*time.Second)
					if err != nil {
						return err
					}
					defer c.Close()
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					b := make([]byte, 16)
					k, err := c.Read(b)
					got = string(b[:k])
					return err
				}); err != nil || got != "tcp ok" {
					t.Fatalf("TCP through the UDP-blocking router: %q, %v", got, err)
				}
			}
		})
	}
}

// ask sends to echo from conn, retrying, and returns what the echo saw as
// the source, or "" when nothing came back within a few seconds.
func ask(t *testing.T, conn *net.UDPConn, echo netip.AddrPort) string {
	t.Helper()
	buf := make([]byte, 64)
	for range 6 {
		if _, err := conn.WriteToUDPAddrPort([]byte("who am i"), echo); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		k, from, err := conn.ReadFromUDPAddrPort(buf)
		if err == nil && from.Addr().Unmap() == echo.Addr() && from.Port() == echo.Port() {
			return string(buf[:k])
		}
	}
	return ""
}

// TestSiteRebindAndMTU checks the two changes a test makes to a running
// site. Rebind: a socket that asked a UDP echo what source it sees gets a
// new answer from the same socket, with the router's new public address.
// SetMTU: the host's link reports the MTU, and a datagram larger than it
// still arrives whole (the host fragments it).
func TestSiteRebindAndMTU(t *testing.T) {
	n := nattest.New(t)
	var echo *net.UDPConn
	if err := n.Internet.Do(func() error {
		var err error
		echo, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(nattest.ServerA, echoPort)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go udpEcho(echo)
	site := n.AddSite(nattest.EIM)
	var conn *net.UDPConn
	var mtu int
	if err := site.SetMTU(1280); err != nil {
		t.Fatal(err)
	}
	if err := site.Host.Do(func() error {
		var err error
		if conn, err = net.ListenUDP("udp", nil); err != nil {
			return err
		}
		ifc, err := net.InterfaceByName("eth0")
		if err == nil {
			mtu = ifc.MTU
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if mtu != 1280 {
		t.Errorf("host link MTU %d after SetMTU(1280)", mtu)
	}
	server := netip.AddrPortFrom(nattest.ServerA, echoPort)
	before := ask(t, conn, server)
	old := site.Public
	if err := site.Rebind(); err != nil {
		t.Fatal(err)
	}
	after := ask(t, conn, server)
	t.Logf("the server saw %s, then %s after the rebind", before, after)
	if before == "" || after == "" || before == after {
		t.Fatalf("rebind: the server saw %q then %q", before, after)
	}
	if ap := netip.MustParseAddrPort(after); ap.Addr() != site.Public || site.Public == old {
		t.Errorf("after the rebind the server saw %s; the router's public address is %s (was %s)", ap, site.Public, old)
	}
	big := make([]byte, 1400)
	if _, err := conn.WriteToUDPAddrPort(big, server); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := conn.ReadFromUDPAddrPort(buf); err != nil {
		t.Errorf("a 1400-byte datagram over a 1280-byte underlay got no answer: %v", err)
	}
}

// TestEIMSitesPunchHoles: two hosts behind EIM routers, each knowing the
// mapping a server saw for the other's socket, reach each other once both
// have sent (the internet routes between sites; each router lets in the
// answer to what its host sent).
func TestEIMSitesPunchHoles(t *testing.T) {
	n := nattest.New(t)
	var echo *net.UDPConn
	if err := n.Internet.Do(func() error {
		var err error
		echo, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(nattest.ServerA, echoPort)))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go udpEcho(echo)
	var conns [2]*net.UDPConn
	var mapped [2]netip.AddrPort
	for i := range conns {
		site := n.AddSite(nattest.EIM)
		if err := site.Host.Do(func() error {
			var err error
			conns[i], err = net.ListenUDP("udp", nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer conns[i].Close()
		seen := ask(t, conns[i], netip.AddrPortFrom(nattest.ServerA, echoPort))
		if seen == "" {
			t.Fatal("no mapping")
		}
		mapped[i] = netip.MustParseAddrPort(seen)
	}
	got := make(chan string, 2)
	for _, c := range conns {
		go func() {
			buf := make([]byte, 64)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				k, _, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					got <- ""
					return
				}
				if string(buf[:k]) == "punch" {
					got <- "ok"
					return
				}
			}
		}()
	}
	for range 5 {
		for i, c := range conns {
			c.WriteToUDPAddrPort([]byte("punch"), mapped[1-i])
		}
		time.Sleep(100 * time.Millisecond)
	}
	for range conns {
		if <-got != "ok" {
			t.Fatalf("no punched packet arrived between %s and %s", mapped[0], mapped[1])
		}
	}
}
