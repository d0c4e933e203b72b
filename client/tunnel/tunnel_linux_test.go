package tunnel

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/wardnet/ward/wire"
)

// TestOpenConfiguresTUN opens a real TUN, as root, in a network namespace
// of its own (nothing of the host's is touched, and the namespace goes
// with the test's thread), and checks what the kernel then holds: the
// interface up with the MTU, the node's addresses, the overlay ranges
// routed into it with those addresses as source and nothing else; then
// that closing the device removes the interface.
func TestOpenConfiguresTUN(t *testing.T) {
	if _, err := os.Stat("/dev/net/tun"); errors.Is(err, fs.ErrNotExist) {
		t.Skip("this machine has no /dev/net/tun: the TUN test needs it (and root, for a network namespace of its own)")
	}
	errc := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		// The thread stays locked: it, and the namespace with it, end
		// when this goroutine does.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("make a network namespace (the test needs root): %w", err)
			return
		}
		errc <- checkOpen(slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	if err := <-errc; err != nil {
		t.Fatalf("%v\nlogs:\n%s", err, logs.String())
	}
}

// checkOpen runs on a thread inside the test's network namespace.
func checkOpen(log *slog.Logger) error {
	self := wire.Node{IPv4: netip.MustParseAddr("100.64.1.2"), IPv6: netip.MustParseAddr("fd7a:115c:a1e0:ab12::2")}
	l, err := New("wardtest0", 1400, log)
	if err != nil {
		return err
	}
	dev, err := l.Open(self)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			dev.Close()
		}
	}()
	link, err := netlink.LinkByName("wardtest0")
	if err != nil {
		return err
	}
	if a := link.Attrs(); a.Flags&net.FlagUp == 0 || a.MTU != 1400 || l.InterfaceName() != "wardtest0" {
		return fmt.Errorf("interface %s: flags %v, mtu %d; InterfaceName %q", a.Name, a.Flags, a.MTU, l.InterfaceName())
	}
	want := []netip.Addr{self.IPv4}
	if ipv6Enabled() {
		want = append(want, self.IPv6)
	}
	if err := checkAddrs(link, want); err != nil {
		return err
	}
	if err := checkRoutes(link, want); err != nil {
		return err
	}
	if err := dev.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	closed = true
	return waitGone("wardtest0")
}

// ipv6Enabled reports whether the namespace has IPv6 (reading its own
// /proc/sys/net, as the calling thread's namespace).
func ipv6Enabled() bool {
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/default/disable_ipv6")
	return err == nil && strings.TrimSpace(string(b)) == "0"
}

// checkAddrs checks that link holds each of want as a host address.
func checkAddrs(link netlink.Link, want []netip.Addr) error {
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return err
	}
	have := map[netip.Prefix]bool{}
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		have[netip.PrefixFrom(ip.Unmap(), ones)] = true
	}
	for _, w := range want {
		if !have[netip.PrefixFrom(w, w.BitLen())] {
			return fmt.Errorf("address %v not on the interface (it has %v)", w, addrs)
		}
	}
	return nil
}

// routeCase is a destination and the source address the kernel must
// route it from into the TUN; an invalid src means not into the TUN.
type routeCase struct {
	dst string
	src netip.Addr
}

// checkRoutes asks the kernel which way it would send to addresses in and
// out of the overlay: overlay addresses go into link from the node's
// address of their family; others do not.
func checkRoutes(link netlink.Link, own []netip.Addr) error {
	tests := []routeCase{
		{"100.64.0.1", own[0]},
		{"100.127.255.254", own[0]},
		{"100.128.0.1", netip.Addr{}},
		{"192.0.2.1", netip.Addr{}},
	}
	if len(own) > 1 {
		tests = append(tests, routeCase{"fd7a:115c:a1e0:ffff::9", own[1]}, routeCase{"fd7a:115c:a1e1::9", netip.Addr{}})
	}
	return checkRouteCases(link, tests)
}

// checkRouteCases checks each case's destination against the kernel's
// routes: into link from its src, or (src invalid) not into link.
func checkRouteCases(link netlink.Link, tests []routeCase) error {
	for _, tt := range tests {
		routes, err := netlink.RouteGet(net.ParseIP(tt.dst))
		into := err == nil && len(routes) > 0 && routes[0].LinkIndex == link.Attrs().Index
		if !tt.src.IsValid() {
			if into {
				return fmt.Errorf("%s, outside the overlay, is routed into the TUN", tt.dst)
			}
			continue
		}
		if !into {
			return fmt.Errorf("%s is not routed into the TUN: %v, %v", tt.dst, routes, err)
		}
		if src, _ := netip.AddrFromSlice(routes[0].Src); src.Unmap() != tt.src {
			return fmt.Errorf("%s is routed from %v, want %v", tt.dst, routes[0].Src, tt.src)
		}
	}
	return nil
}

// waitGone waits until the interface name no longer exists.
func waitGone(name string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := netlink.LinkByName(name)
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("interface %s still there after the device was closed (%v)", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSetRoutesRoutesSubnetsIntoTUN: the subnet routes the map gives a
// person's node go into the TUN from its overlay address, and leave when
// the map drops them (in a network namespace of the test's own).
func TestSetRoutesRoutesSubnetsIntoTUN(t *testing.T) {
	if _, err := os.Stat("/dev/net/tun"); errors.Is(err, fs.ErrNotExist) {
		t.Skip("this machine has no /dev/net/tun: the TUN test needs it (and root, for a network namespace of its own)")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the namespace ends with the thread
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("make a network namespace (the test needs root): %w", err)
			return
		}
		errc <- checkSetRoutes()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// checkSetRoutes runs on a thread inside the test's network namespace.
func checkSetRoutes() error {
	self := wire.Node{IPv4: netip.MustParseAddr("100.64.1.2")}
	l, err := New("wardtest1", 1400, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	dev, err := l.Open(self)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer dev.Close()
	link, err := netlink.LinkByName("wardtest1")
	if err != nil {
		return err
	}
	lan := netip.MustParsePrefix("192.168.10.0/24")
	if err := l.SetRoutes([]netip.Prefix{lan}); err != nil {
		return fmt.Errorf("set routes: %w", err)
	}
	in := []routeCase{{"192.168.10.5", self.IPv4}, {"192.168.11.5", netip.Addr{}}, {"100.64.0.1", self.IPv4}}
	if err := checkRouteCases(link, in); err != nil {
		return err
	}
	if err := l.SetRoutes(nil); err != nil {
		return fmt.Errorf("clear routes: %w", err)
	}
	return checkRouteCases(link, []routeCase{{"192.168.10.5", netip.Addr{}}, {"100.64.0.1", self.IPv4}})
}
