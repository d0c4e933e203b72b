//go:build linux

package client_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/wardnet/ward/client"
	"github.com/wardnet/ward/internal/needtool"
	"github.com/wardnet/ward/splitdns"
)

// tunResolvedChildEnv marks the re-executed test binary running inside
// TestTUNSplitDNSThroughSystemdResolved's network namespace.
const tunResolvedChildEnv = "WARD_TUN_RESOLVED_CHILD"

// resolvedPaths are where the test looks for Debian's systemd-resolved:
// installed, or unpacked from its package by `make systemd-resolved`
// (relative to this package's directory, where go test runs).
var resolvedPaths = []string{
	"/lib/systemd/systemd-resolved",
	"/usr/lib/systemd/systemd-resolved",
	"../bin/testdeps/resolved/lib/systemd/systemd-resolved",
}

// TestTUNSplitDNSThroughSystemdResolved runs the split-DNS path that
// talks to systemd-resolved over D-Bus against the real systemd-resolved,
// not a stand-in. Inside a network namespace the test makes, it starts a
// private system bus (dbus-daemon) and systemd-resolved on it, in a mount
// namespace of their own (a tmpfs /run/systemd and the systemd-resolve
// user, bind-mounted, so the machine's files are untouched). The laptop in
// TUN mode with --dns resolved then gives its TUN link the overlay
// resolver and the fleet domain: an application asking resolved's stub
// (127.0.0.53, what /etc/resolv.conf points at on such systems) for
// cam1.ward.internal gets the camera's overlay address through the
// overlay resolver; the link carries the domain and is no default route
// (no other name goes to the overlay); at logout the link is reverted.
func TestTUNSplitDNSThroughSystemdResolved(t *testing.T) {
	if os.Getenv(tunResolvedChildEnv) == "1" {
		tunResolvedScenario(t)
		return
	}
	resolved := ""
	for _, p := range resolvedPaths {
		if abs, err := filepath.Abs(p); err == nil {
			if _, err := os.Stat(abs); err == nil {
				resolved = abs
				break
			}
		}
	}
	if resolved == "" {
		needtool.Missing(t, os.Getenv("CI"), "the systemd-resolved split-DNS test needs Debian's systemd-resolved (make systemd-resolved unpacks it into bin/testdeps)")
	}
	if out, err := exec.Command("ldd", resolved).CombinedOutput(); err != nil || strings.Contains(string(out), "not found") {
		needtool.Missing(t, os.Getenv("CI"), fmt.Sprintf("systemd-resolved at %s cannot load its libraries (systemd's package is missing?): %v\n%s", resolved, err, out))
	}
	needtool.Executable(t, "/usr/bin/dbus-daemon", os.Getenv("CI"), "the systemd-resolved split-DNS test needs Debian's dbus-daemon")
	ns := tunNetns(t)
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestTUNSplitDNSThroughSystemdResolved$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), tunResolvedChildEnv+"=1", "WARD_TEST_RESOLVED_BIN="+resolved)
	out, err := cmd.CombinedOutput()
	t.Logf("inside netns %s:\n%s", ns, out)
	if err != nil {
		t.Fatalf("the systemd-resolved scenario failed inside the namespace: %v", err)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Fatal("the systemd-resolved scenario skipped inside the namespace")
	}
}

// startResolved starts a private system bus and systemd-resolved on it in
// a mount namespace of their own, and returns the bus address. Both are
// one process group, killed at cleanup.
func startResolved(t *testing.T, bin string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wardres") // a unix socket path is short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// resolved connects to the bus after dropping to its own user.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bus := filepath.Join(dir, "bus")
	conf := `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=` + bus + `</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	confPath := write("bus.conf", conf)
	// resolved drops its privileges to systemd-resolve: give the mount
	// namespace a passwd and group that have the user.
	passwd, _ := os.ReadFile("/etc/passwd")
	group, _ := os.ReadFile("/etc/group")
	if !strings.Contains(string(passwd), "\nsystemd-resolve:") {
		passwd = append(passwd, "systemd-resolve:x:991:991:systemd-resolved:/:/usr/sbin/nologin\n"...)
		group = append(group, "systemd-resolve:x:991:\n"...)
	}
	passwdPath, groupPath := write("passwd", string(passwd)), write("group", string(group))
	script := strings.Join([]string{
		"set -e",
		"mount --bind " + passwdPath + " /etc/passwd",
		"mount --bind " + groupPath + " /etc/group",
		"mkdir -p /run/systemd",
		"mount -t tmpfs tmpfs /run/systemd",
		"dbus-daemon --config-file=" + confPath + " --nofork &",
		"for i in $(seq 100); do [ -S " + bus + " ] && break; sleep 0.1; done",
		"export DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + bus,
		"exec " + bin,
	}, "\n")
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start systemd-resolved: %v", err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			t.Logf("systemd-resolved and dbus-daemon:\n%s", logs.String())
		}
	})
	addr := "unix:path=" + bus
	eventually(t, "systemd-resolved on the private bus", func() bool {
		conn, err := dbus.Connect(addr)
		if err != nil {
			return false
		}
		defer conn.Close()
		var has bool
		return conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.freedesktop.resolve1").Store(&has) == nil && has
	})
	return addr
}

// resolvedLink is what systemd-resolved holds for one link.
type resolvedLink struct {
	known        bool
	dns          []netip.Addr
	domains      []string // "~" before a routing-only domain
	defaultRoute bool
}

// readResolvedLink reads ifindex's link from systemd-resolved's D-Bus API.
func readResolvedLink(t *testing.T, conn *dbus.Conn, ifindex int) resolvedLink {
	t.Helper()
	var path dbus.ObjectPath
	mgr := conn.Object("org.freedesktop.resolve1", "/org/freedesktop/resolve1")
	if err := mgr.Call("org.freedesktop.resolve1.Manager.GetLink", 0, int32(ifindex)).Store(&path); err != nil {
		return resolvedLink{}
	}
	link := conn.Object("org.freedesktop.resolve1", path)
	get := func(name string) dbus.Variant {
		v, err := link.GetProperty("org.freedesktop.resolve1.Link." + name)
		if err != nil {
			t.Fatalf("read link property %s: %v", name, err)
		}
		return v
	}
	l := resolvedLink{known: true}
	var servers []struct {
		Family  int32
		Address []byte
	}
	if err := get("DNS").Store(&servers); err != nil {
		t.Fatalf("link DNS: %v", err)
	}
	for _, s := range servers {
		if a, ok := netip.AddrFromSlice(s.Address); ok {
			l.dns = append(l.dns, a)
		}
	}
	var domains []struct {
		Domain      string
		RoutingOnly bool
	}
	if err := get("Domains").Store(&domains); err != nil {
		t.Fatalf("link Domains: %v", err)
	}
	for _, d := range domains {
		if d.RoutingOnly {
			d.Domain = "~" + d.Domain
		}
		l.domains = append(l.domains, d.Domain)
	}
	if err := get("DefaultRoute").Store(&l.defaultRoute); err != nil {
		t.Fatalf("link DefaultRoute: %v", err)
	}
	return l
}

func tunResolvedScenario(t *testing.T) {
	addr := startResolved(t, os.Getenv("WARD_TEST_RESOLVED_BIN"))
	// The laptop's split DNS reaches the system bus through the address
	// any D-Bus program honours.
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	w := newWorld(t, 0)
	const ifname = "wardtestres"
	l := w.startLaptop(func(c *client.Config) {
		c.TUN, c.TUNName, c.SOCKS5, c.HTTPProxy = true, ifname, "", ""
		c.DNS = splitdns.ModeResolved
	})
	if res, _ := l.login(w, "alice", "ops", ""); res.Error != "" || !res.Ready {
		t.Fatalf("login: %+v", res)
	}
	st, err := l.api.Status(context.Background())
	if err != nil || len(person(st).Devices) != 1 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	cam, self := person(st).Devices[0], st.Self.IPv4
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		t.Fatal(err)
	}

	var link resolvedLink
	eventually(t, "systemd-resolved holding the overlay resolver for the TUN link", func() bool {
		link = readResolvedLink(t, conn, ifi.Index)
		return slices.Contains(link.dns, self)
	})
	if !slices.Contains(link.domains, "ward.internal") {
		t.Errorf("link domains = %v, want ward.internal", link.domains)
	}
	if link.defaultRoute {
		t.Error("the TUN link is a default route for DNS: names outside the fleet would go to the overlay")
	}

	// An application asks the stub resolver, as glibc does through
	// resolv.conf's nameserver 127.0.0.53.
	stub := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, "127.0.0.53:53")
	}}
	var got []netip.Addr
	eventually(t, "cam1.ward.internal through systemd-resolved's stub", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		got, err = stub.LookupNetIP(ctx, "ip4", "cam1.ward.internal")
		return err == nil && len(got) == 1 && got[0].Unmap() == cam.IPv4
	})

	if _, err := l.api.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the TUN link reverted in systemd-resolved at logout", func() bool {
		l := readResolvedLink(t, conn, ifi.Index)
		return !l.known || len(l.dns) == 0 && len(l.domains) == 0
	})
}
