//go:build linux

// Package nattest builds small test networks out of Linux network
// namespaces: an "internet" namespace with two public-looking server
// addresses, and sites behind it, each a NAT router namespace (nftables
// masquerade, unasked inbound packets dropped) with one host namespace
// behind the router; the internet routes between sites. Tests import it;
// nothing else does.
//
// Every address lives inside the namespaces it creates (10.K.0.0/24 between
// the internet and router K, 192.168.K.0/24 behind router K, 172.16.0.1 and
// 172.16.0.2 for servers in the internet), so no packet can reach a real
// network. Every namespace has a name unique to the test and is deleted when
// the test ends, which also deletes its interfaces, rules and sockets' routes.
//
// Code runs inside a namespace in two ways. Do runs a function on a locked
// OS thread switched into the namespace (runtime.LockOSThread and
// unix.Setns): sockets opened there stay in that namespace and can then be
// used from any goroutine, so a test can hold a STUN server in the internet
// and a node's socket behind a NAT in one process, with the race detector
// and without building a binary. Command wraps "ip netns exec" for a whole
// process (a built ward binary), whose every thread must be inside.
package nattest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wardnet/ward/internal/needtool"
)

// NFTPath is where Debian's nftables package puts nft; make test installs it.
const NFTPath = "/usr/sbin/nft"

// Class is the behaviour of a site's NAT router.
type Class int

// The NAT classes.
const (
	// EIM is endpoint-independent mapping ("easy" NAT): plain masquerade,
	// which keeps one mapping (and the source port when free) for a socket
	// whatever the destination.
	EIM Class = iota
	// Symmetric is a port-randomizing NAT ("hard"): masquerade fully-random
	// gives every destination of one socket its own random port.
	Symmetric
	// UDPBlocked is EIM that forwards only TCP: UDP never gets out.
	UDPBlocked
)

// String names c as tests print it.
func (c Class) String() string {
	switch c {
	case EIM:
		return "eim"
	case Symmetric:
		return "symmetric"
	case UDPBlocked:
		return "udp-blocked"
	}
	return "class" + strconv.Itoa(int(c))
}

// Server addresses in the internet namespace, on its loopback interface
// (the dummy interface type needs a kernel module containers often lack).
var (
	ServerA = netip.MustParseAddr("172.16.0.1")
	ServerB = netip.MustParseAddr("172.16.0.2")
)

// NS is one network namespace.
type NS struct {
	// Name is the namespace's name under /var/run/netns.
	Name string
}

// Net is a test network: the internet namespace and the sites added to it.
type Net struct {
	t      testing.TB
	prefix string
	sites  int
	// Internet is the namespace between the sites, holding ServerA and ServerB.
	Internet *NS
}

// Site is a NAT router and the host behind it.
type Site struct {
	n *Net
	// k is the site's number, as in its addresses and link names.
	k string
	// moves counts Rebind calls, which pick the next public address.
	moves int
	// Class is the router's NAT class.
	Class Class
	// Router is the router's namespace.
	Router *NS
	// Host is the namespace behind the router.
	Host *NS
	// Public is the router's address in the internet: what servers see.
	Public netip.Addr
	// Private is the host's address behind the router.
	Private netip.Addr
}

// New builds the internet namespace, or skips t where namespaces or
// nftables cannot work here (not root, a kernel without them). A missing
// nft binary skips too, except under CI=true, where it fails t.
func New(t testing.TB) *Net {
	t.Helper()
	return NewNamed(t, "wt")
}

// NewNamed is New with namespace names that start with prefix (then a
// random part), so a test's namespaces are told from other tests'.
func NewNamed(t testing.TB, prefix string) *Net {
	t.Helper()
	needtool.Executable(t, NFTPath, os.Getenv("CI"), "NAT tests need nftables' nft")
	if os.Geteuid() != 0 {
		t.Skip("nattest: network namespace tests need root (CAP_NET_ADMIN); skipped")
	}
	var b [3]byte
	rand.Read(b[:])
	n := &Net{t: t, prefix: prefix + hex.EncodeToString(b[:])}
	inet, err := n.namespace("inet")
	if err != nil {
		t.Skipf("nattest: this kernel cannot make network namespaces: %v", err)
	}
	n.Internet = inet
	n.must(inet.ip("addr", "add", ServerA.String()+"/32", "dev", "lo"),
		inet.ip("addr", "add", ServerB.String()+"/32", "dev", "lo"),
		// The internet routes between sites, so two hosts can punch holes.
		inet.run("sysctl", "-qw", "net.ipv4.ip_forward=1"))
	return n
}

// namespace creates a namespace named after the net and role, with its
// loopback up, and deletes it when the test ends.
func (n *Net) namespace(role string) (*NS, error) {
	ns := &NS{Name: n.prefix + "-" + role}
	if out, err := exec.Command("ip", "netns", "add", ns.Name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %w: %s", ns.Name, err, out)
	}
	n.t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			n.t.Errorf("ip netns del %s: %v: %s", ns.Name, err, out)
		}
	})
	return ns, ns.ip("link", "set", "lo", "up")
}

// must fails the test at the first error.
func (n *Net) must(errs ...error) {
	n.t.Helper()
	if err := errors.Join(errs...); err != nil {
		n.t.Fatal(err)
	}
}

// AddSite adds a router of class c with one host behind it. The first
// site is number 1; at most 200 per net.
func (n *Net) AddSite(c Class) *Site {
	n.t.Helper()
	n.sites++
	k := strconv.Itoa(n.sites)
	router, err := n.namespace("r" + k)
	n.must(err)
	host, err := n.namespace("h" + k)
	n.must(err)
	s := &Site{n: n, k: k, Class: c, Router: router, Host: host,
		Public:  netip.MustParseAddr("10." + k + ".0.2"),
		Private: netip.MustParseAddr("192.168." + k + ".2")}
	inetSide := "10." + k + ".0.1"
	n.must(
		// internet <-> router: "site<K>" in the internet, "wan" in the router
		n.Internet.ip("link", "add", "site"+k, "type", "veth", "peer", "name", "wan", "netns", router.Name),
		n.Internet.ip("addr", "add", inetSide+"/24", "dev", "site"+k),
		n.Internet.ip("link", "set", "site"+k, "up"),
		router.ip("addr", "add", s.Public.String()+"/24", "dev", "wan"),
		router.ip("link", "set", "wan", "up"),
		router.ip("route", "add", "default", "via", inetSide),
		// router <-> host: "lan" in the router, "eth0" in the host
		router.ip("link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", host.Name),
		router.ip("addr", "add", "192.168."+k+".1/24", "dev", "lan"),
		router.ip("link", "set", "lan", "up"),
		host.ip("addr", "add", s.Private.String()+"/24", "dev", "eth0"),
		host.ip("link", "set", "eth0", "up"),
		host.ip("route", "add", "default", "via", "192.168."+k+".1"),
		router.run("sysctl", "-qw", "net.ipv4.ip_forward=1"),
		// Rebind deletes the primary address: keep the new one it added.
		router.run("sysctl", "-qw", "net.ipv4.conf.wan.promote_secondaries=1"),
	)
	nft := router.Command(NFTPath, "-f", "-")
	nft.Stdin = strings.NewReader(ruleset(c))
	if out, err := nft.CombinedOutput(); err != nil {
		n.t.Skipf("nattest: this kernel cannot load the nftables NAT rules (%v): %s", err, out)
	}
	return s
}

// SetMTU sets the MTU of both ends of the site's two links, internet to
// router and router to host: the underlay a packet from the host crosses
// to the internet. It may be changed while traffic flows.
func (s *Site) SetMTU(mtu int) error {
	m := strconv.Itoa(mtu)
	return errors.Join(
		s.n.Internet.ip("link", "set", "site"+s.k, "mtu", m),
		s.Router.ip("link", "set", "wan", "mtu", m),
		s.Router.ip("link", "set", "lan", "mtu", m),
		s.Host.ip("link", "set", "eth0", "mtu", m),
	)
}

// Rebind moves the router to a new public address (10.K.0.3, then .4,
// ...), as a router whose provider hands it a new address does: the
// kernel forgets every NAT mapping made with the old address, so the
// host's next packets leave from the new address and new ports, and a
// server answering the old mapping reaches no one. Public changes to the
// new address. At most 200 per site.
func (s *Site) Rebind() error {
	s.moves++
	next := netip.MustParseAddr("10." + s.k + ".0." + strconv.Itoa(2+s.moves))
	err := errors.Join(
		s.Router.ip("addr", "add", next.String()+"/24", "dev", "wan"),
		s.Router.ip("addr", "del", s.Public.String()+"/24", "dev", "wan"),
		s.Router.ip("route", "replace", "default", "via", "10."+s.k+".0.1"),
	)
	if err != nil {
		return fmt.Errorf("rebind site %s: %w", s.k, err)
	}
	s.Public = next
	return nil
}

// ruleset is the router's rules for class c: masquerade out of "wan",
// plain or fully-random; an input filter dropping what arrives on "wan"
// unasked, as home routers do (otherwise the kernel tracks an early
// hole-punching packet as a flow to the router itself, and the host's own
// packet to that peer, which should have opened the hole, gets a new port
// since the mapping clashes with it); and for UDPBlocked a forward filter
// that drops UDP.
func ruleset(c Class) string {
	masq := "masquerade"
	if c == Symmetric {
		masq = "masquerade fully-random"
	}
	rules := "table ip nat {\n chain postrouting {\n  type nat hook postrouting priority srcnat; policy accept;\n" +
		"  oifname \"wan\" " + masq + "\n }\n}\n" +
		"table ip filter {\n chain input {\n  type filter hook input priority filter; policy accept;\n" +
		"  iifname \"wan\" ct state new drop\n }\n"
	if c == UDPBlocked {
		rules += " chain forward {\n  type filter hook forward priority filter; policy accept;\n" +
			"  meta l4proto udp drop\n }\n"
	}
	return rules + "}\n"
}

// Command returns name with args to run inside ns ("ip netns exec").
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// run runs name with args inside ns and wraps its output into the error.
func (ns *NS) run(name string, args ...string) error {
	if out, err := ns.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("in %s: %s %s: %w: %s", ns.Name, name, strings.Join(args, " "), err, out)
	}
	return nil
}

// ip runs "ip -n NS args".
func (ns *NS) ip(args ...string) error {
	if out, err := exec.Command("ip", append([]string{"-n", ns.Name}, args...)...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s %s: %w: %s", ns.Name, strings.Join(args, " "), err, out)
	}
	return nil
}

// Do runs f on an OS thread switched into ns and returns its error.
// Sockets f opens belong to ns for their whole life, whichever goroutine
// uses them later. The thread is never switched back: it ends with the
// goroutine (a locked thread is destroyed, not reused), so no other
// goroutine ever runs in ns by accident.
func (ns *NS) Do(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		fd, err := unix.Open("/var/run/netns/"+ns.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- fmt.Errorf("open netns %s: %w", ns.Name, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			done <- fmt.Errorf("enter netns %s: %w", ns.Name, err)
			return
		}
		done <- f()
	}()
	return <-done
}
