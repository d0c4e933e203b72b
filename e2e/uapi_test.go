package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/node/localapi"
)

// peerStatus returns ag's `ward status` line for peer name.
func peerStatus(t *testing.T, ag *agent, name string) localapi.Peer {
	t.Helper()
	for _, p := range ag.Status().Peers {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("%s's status has no peer %s", ag.name, name)
	return localapi.Peer{}
}

// wgPeer returns the peer of dev whose allowed IPs hold a.
func wgPeer(t *testing.T, dev *wgtypes.Device, a netip.Addr) wgtypes.Peer {
	t.Helper()
	for _, p := range dev.Peers {
		for _, ip := range p.AllowedIPs {
			if ip.Contains(a.AsSlice()) {
				return p
			}
		}
	}
	t.Fatalf("device %s has no peer for %v: %+v", dev.Name, a, dev.Peers)
	return wgtypes.Peer{}
}

// TestWireGuardToolsReadNode: a running node serves wireguard-go's UAPI
// where wgctrl (and `wg show`) look, owner-only: a wgctrl program reads
// its peers, handshakes and byte counters, which are the counters `ward
// status` shows; a client that tries to change the device (`wg set`) is
// refused, so the policy's peer set stays the coordinator's.
func TestWireGuardToolsReadNode(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		t.Skip("the UAPI socket's directory, " + node.DefaultUAPIDir + ", needs root")
	}
	name := fmt.Sprintf("ward-e2e-%d", os.Getpid())
	ssh := echoServer(t)
	f := newFleet(t, fleetPolicy(ssh), nil)
	f.startAgent("cam1", f.authKey("tag:camera"), "", agentOpts{expose: []uint16{ssh}})
	op := f.startAgent("op1", f.authKey("tag:operator"), "", agentOpts{uapiName: name})
	waitFor(t, "a flow operator -> camera", func() bool { return op.roundTrip("cam1", ssh) == nil })

	path := filepath.Join(node.DefaultUAPIDir, name+".sock")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no uapi socket: %v", err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("uapi socket mode %v; want a socket, 0600", fi.Mode())
	}
	wc, err := wgctrl.New()
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	camIP := peerStatus(t, op, "cam1").IPv4
	before := peerStatus(t, op, "cam1")
	dev, err := wc.Device(name)
	if err != nil {
		t.Fatalf("wgctrl device %s: %v", name, err)
	}
	after := peerStatus(t, op, "cam1")
	p := wgPeer(t, dev, camIP)
	if p.LastHandshakeTime.IsZero() || p.ReceiveBytes == 0 || p.TransmitBytes == 0 {
		t.Fatalf("wgctrl peer %+v; want a handshake and bytes both ways", p)
	}
	rx, tx := uint64(p.ReceiveBytes), uint64(p.TransmitBytes)
	if rx < before.RxBytes || rx > after.RxBytes || tx < before.TxBytes || tx > after.TxBytes {
		t.Fatalf("wgctrl counters rx %d tx %d; ward status read rx %d..%d, tx %d..%d around them: not the same counters",
			p.ReceiveBytes, p.TransmitBytes, before.RxBytes, after.RxBytes, before.TxBytes, after.TxBytes)
	}
	if dev.PrivateKey.PublicKey() != dev.PublicKey || dev.ListenPort == 0 {
		t.Fatalf("device key/port %v/%d", dev.PublicKey, dev.ListenPort)
	}
	if st := peerStatus(t, op, "cam1"); st.Path == "direct" && p.Endpoint != nil && unmapped(p.Endpoint.AddrPort()) != st.Endpoint {
		t.Fatalf("wgctrl endpoint %v; ward status says the direct path is %v", p.Endpoint, st.Endpoint)
	}

	// A modified client, as the socket's owner, tries to remove the peer.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "set=1\npublic_key=%x\nremove=true\n\n", p.PublicKey[:])
	answer, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || strings.TrimSpace(answer) != "errno=1" {
		t.Fatalf("answer to set = %q, %v; want errno=1 (refused)", answer, err)
	}
	if err := op.roundTrip("cam1", ssh); err != nil {
		t.Fatalf("the flow after a refused set: %v", err)
	}
	op.Stop()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("uapi socket left behind after the node stopped: %v", err)
	}
}

// unmapped returns ap with an IPv4-mapped address as IPv4.
func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
