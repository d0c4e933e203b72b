package client_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl"
	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"

	"github.com/wardnet/ward/client"
	"github.com/wardnet/ward/node"
)

// TestWireGuardToolsReadLaptop: the desktop client's daemon serves the
// running session's wireguard-go UAPI where wgctrl (and `wg show`) look,
// owner-only and read-only as a node does: a wgctrl program reads the
// laptop's peer (the camera), its handshake and byte counters; a modified
// client's `set` is refused and the flow goes on; after logout the socket
// answers no device state, and it is gone when the daemon stops.
func TestWireGuardToolsReadLaptop(t *testing.T) {
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		t.Skip("the UAPI socket's directory, " + node.DefaultUAPIDir + ", needs root")
	}
	name := fmt.Sprintf("ward-laptop-%d", os.Getpid())
	w := newWorld(t, 0)
	l := w.startLaptop(func(c *client.Config) { c.UAPIName = name })
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
	if dev, err := wc.Device(name); err == nil {
		t.Fatalf("wgctrl read a device before login: %+v", dev)
	}

	l.login(w, "alice", "ops", "")
	reach(t, "socks5", func() (net.Conn, error) { return socksConnect(l.socks, "cam1", w.granted) })
	dev, err := wc.Device(name)
	if err != nil {
		t.Fatalf("wgctrl device %s: %v", name, err)
	}
	if dev.PublicKey != wgtypes.Key(l.wgKey()) || dev.ListenPort == 0 || len(dev.Peers) != 1 {
		t.Fatalf("wgctrl device key %v port %d peers %d; want the session's key %v, a port, the camera", dev.PublicKey, dev.ListenPort, len(dev.Peers), l.wgKey())
	}
	cam := dev.Peers[0]
	if cam.PublicKey != wgtypes.Key(w.camera.Engine().PublicKey()) || cam.LastHandshakeTime.IsZero() || cam.ReceiveBytes == 0 || cam.TransmitBytes == 0 {
		t.Fatalf("wgctrl peer %+v; want the camera, a handshake and bytes both ways", cam)
	}

	// A modified client, as the socket's owner, tries to remove the peer.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(deadline))
	fmt.Fprintf(c, "set=1\npublic_key=%x\nremove=true\n\n", cam.PublicKey[:])
	answer, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || strings.TrimSpace(answer) != "errno=1" {
		t.Fatalf("answer to set = %q, %v; want errno=1 (refused)", answer, err)
	}
	reach(t, "socks5 after a refused set", func() (net.Conn, error) { return socksConnect(l.socks, "cam1", w.granted) })

	if _, err := l.api.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	if dev, err := wc.Device(name); err == nil {
		t.Fatalf("wgctrl read a device after logout: %+v", dev)
	}
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("uapi socket left behind after the daemon stopped: %v", err)
	}
}
