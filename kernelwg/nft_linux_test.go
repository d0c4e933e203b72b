package kernelwg

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/nattest"
	"github.com/wardnet/ward/node"
)

// noAnswer is how long a check that a packet is dropped waits.
const noAnswer = time.Second

// TestKernelFilterEnforcedByKernel: the link's nftables table, loaded in
// a real kernel, enforces the policy on what arrives from the link. A
// veth stands in for the WireGuard link (no WireGuard module here; the
// rules match the interface by name): the "node" namespace filters its
// eth0, and the "peer" behind it reaches the granted port, not the other;
// the node's own flow to the peer gets its replies; and when the policy
// takes the grant away, the open flow is cut at once, as is a new one.
func TestKernelFilterEnforcedByKernel(t *testing.T) {
	n := nattest.NewNamed(t, "wk")
	s := n.AddSite(nattest.EIM)
	nodeNS, peerNS := s.Host, s.Router
	self, peer := s.Private, netip.MustParseAddr("192.168."+strings.Split(s.Private.String(), ".")[2]+".1")
	granted, ungranted, peerSvc := 8022, 8023, 8024
	for _, l := range []struct {
		ns   *nattest.NS
		addr netip.Addr
		port int
	}{{nodeNS, self, granted}, {nodeNS, self, ungranted}, {peerNS, peer, peerSvc}} {
		echoIn(t, l.ns, netip.AddrPortFrom(l.addr, uint16(l.port)))
	}
	apply := func(f node.KernelFilter) {
		t.Helper()
		cmd := nodeNS.Command(nattest.NFTPath, "-f", "-")
		cmd.Stdin = strings.NewReader(ruleset("eth0", f))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft: %v: %s", err, out)
		}
	}
	grant := node.KernelFilter{PingFrom: []netip.Addr{peer}, PingPort: node.PingPort, Rules: []filter.Rule{{
		Src: []netip.Prefix{netip.PrefixFrom(peer, 32)}, Protos: []filter.Proto{filter.ProtoTCP},
		Dst: []filter.DstNet{{Net: netip.PrefixFrom(self, 32), Ports: []filter.PortRange{{First: uint16(granted), Last: uint16(granted)}}}}}}}
	apply(grant)

	open, err := dialIn(peerNS, netip.AddrPortFrom(self, uint16(granted)), 10*time.Second)
	if err != nil {
		t.Fatalf("peer to the granted port: %v", err)
	}
	defer open.Close()
	if err := echoOnce(open, "granted", 10*time.Second); err != nil {
		t.Fatalf("peer to the granted port: %v", err)
	}
	if c, err := dialIn(peerNS, netip.AddrPortFrom(self, uint16(ungranted)), noAnswer); err == nil {
		c.Close()
		t.Fatal("peer reached the ungranted port")
	}
	mine, err := dialIn(nodeNS, netip.AddrPortFrom(peer, uint16(peerSvc)), 10*time.Second)
	if err != nil {
		t.Fatalf("the node's own flow to the peer: %v", err)
	}
	defer mine.Close()
	if err := echoOnce(mine, "own flow", 10*time.Second); err != nil {
		t.Fatalf("replies to the node's own flow: %v", err)
	}

	// The policy takes the grant away: the open flow is cut.
	apply(node.KernelFilter{PingPort: node.PingPort})
	if err := echoOnce(open, "after the cut", noAnswer); err == nil {
		t.Fatal("the flow the policy no longer allows still carries data")
	}
	if c, err := dialIn(peerNS, netip.AddrPortFrom(self, uint16(granted)), noAnswer); err == nil {
		c.Close()
		t.Fatal("a new flow to the port no longer granted got through")
	}
	if err := echoOnce(mine, "own flow after", 10*time.Second); err != nil {
		t.Fatalf("the node's own flow after the policy change: %v", err)
	}
}

// echoIn serves a TCP echo on addr inside ns until the test ends.
func echoIn(t *testing.T, ns *nattest.NS, addr netip.AddrPort) {
	t.Helper()
	var l net.Listener
	if err := ns.Do(func() (err error) {
		l, err = net.Listen("tcp", addr.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
}

// dialIn connects to addr from inside ns within timeout.
func dialIn(ns *nattest.NS, addr netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr.String(), timeout)
		return err
	})
	return c, err
}

// echoOnce writes msg on c and reads it back within timeout.
func echoOnce(c net.Conn, msg string, timeout time.Duration) error {
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("echo %q, want %q", buf, msg)
	}
	return nil
}
