package client_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/client"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/node/localapi"
)

// tunChildEnv marks the re-executed test binary running inside the test's
// network namespace.
const tunChildEnv = "WARD_TUN_E2E_CHILD"

// TestTUNInNetns runs a client daemon with --tun inside a network namespace
// that the test creates (and deletes), together with a coordinator and a
// camera on the namespace's own loopback, and checks from inside the
// namespace that a plain TCP dial to the camera's overlay address reaches
// the granted port, not the other one, and that the laptop's inbound filter
// refuses the camera. The namespace's part runs in a re-exec of this test
// binary under `ip netns exec`.
func TestTUNInNetns(t *testing.T) {
	if os.Getenv(tunChildEnv) == "1" {
		tunScenario(t)
		return
	}
	ns := tunNetns(t)
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestTUNInNetns$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), tunChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("inside netns %s:\n%s", ns, out)
	if err != nil {
		t.Fatalf("the TUN scenario failed inside the namespace: %v", err)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Skip("the TUN scenario skipped inside the namespace")
	}
}

// tunNetns creates a network namespace with its loopback up, deleted when
// the test ends; it skips the test when TUN or namespaces are unavailable.
func tunNetns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("TUN mode test needs root (network namespaces and a TUN device)")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("TUN mode test needs /dev/net/tun: %v", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("TUN mode test needs ip from iproute2 to create a network namespace")
	}
	b := make([]byte, 4)
	rand.Read(b)
	ns := "ward-e2e-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("delete netns %s: %v: %s", ns, err, out)
		}
	})
	if out, err := exec.Command("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("bring lo up in %s: %v: %s", ns, err, out)
	}
	return ns
}

// tunScenario is the part that runs inside the namespace.
func tunScenario(t *testing.T) {
	w := newWorld(t, 0)
	l := w.startLaptop(func(c *client.Config) { c.TUN, c.TUNName, c.SOCKS5, c.HTTPProxy = true, "wardtest0", "", "" })
	res, loggedIn := l.login(w, "alice", "ops", "")
	if res.Error != "" || !res.Ready {
		t.Fatalf("login: %+v", res)
	}
	st, err := l.api.Status(context.Background())
	if err != nil || person(st).Interface != "wardtest0" || len(person(st).Devices) != 1 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	cam := person(st).Devices[0]
	c, err := net.DialTimeout("tcp", netip.AddrPortFrom(cam.IPv4, w.granted).String(), deadline)
	if err != nil {
		t.Fatalf("dial the camera by overlay address through the tun: %v", err)
	}
	if err := echo(c, "hello through the tun"); err != nil {
		t.Fatal(err)
	}
	t.Logf("figure: tun mode, login finished to first byte echoed by the device: %v", time.Since(loggedIn))
	c.Close()
	if ipv6Enabled() {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(cam.IPv6, w.granted).String(), deadline)
		if err != nil {
			t.Fatalf("dial the camera by overlay IPv6 through the tun: %v", err)
		}
		if err := echo(c, "hello over ipv6"); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if c, err := net.DialTimeout("tcp", netip.AddrPortFrom(cam.IPv4, w.ungranted).String(), refusedDial); err == nil {
		c.Close()
		t.Fatal("reached the camera's ungranted port")
	}
	inboundRefused(t, w, l, st)
}

// inboundRefused checks that the laptop's inbound filter (nobody may open
// flows to a person's machine in this policy) refuses the camera: the
// camera's own engine refuses the dial at once, from the grants in its
// map, and the camera's key in a modified client, sending a SYN to a port
// the laptop's OS serves anyway, gets nothing back from the laptop's
// guard, which counts the denial.
func inboundRefused(t *testing.T, w *world, l *laptop, st localapi.Status) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if _, err := w.camera.Engine().DialPeer(ctx, st.Self.IPv4.String(), port); !errors.Is(err, node.ErrNotGranted) {
		t.Fatalf("the camera's dial to the laptop: %v; want it refused as not granted", err)
	}
	a := w.attackAsCamera(t, st.Self.Name)
	eventually(t, "the laptop's filter to count the camera's SYN", func() bool {
		a.SYN(port)
		st2, _ := l.api.Status(context.Background())
		return st2.Filter.Denied > 0
	})
	if flags, ok := a.Answer(port, refusedDial); ok {
		t.Errorf("the laptop answered the camera's SYN (flags %#x)", flags)
	}
}

// ipv6Enabled reports whether this namespace has IPv6.
func ipv6Enabled() bool {
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/all/disable_ipv6")
	v, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return err == nil && v == 0
}
