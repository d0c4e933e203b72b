package kernelwg

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/wgctrl"

	"github.com/wardnet/ward/client/tunnel"
	"github.com/wardnet/ward/wire"
)

// linkOps makes the link with netlink (vishvananda/netlink, already
// Ward's for the TUN's addresses) and configures it as the desktop
// client's TUN is configured (tunnel.Link).
type linkOps struct {
	tun *tunnel.Link
}

func newLinkOps(mtu int, log *slog.Logger) (LinkOps, error) {
	t, err := tunnel.New("", mtu, log)
	if err != nil {
		return nil, err
	}
	return &linkOps{tun: t}, nil
}

func newClient() (Client, error) { return wgctrl.New() }

// Add implements LinkOps. The kernel answers a link type it does not know
// with EOPNOTSUPP ("Unknown device type" to ip link).
func (o *linkOps) Add(name string, mtu int) error {
	err := netlink.LinkAdd(&netlink.Wireguard{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu}})
	switch {
	case errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("create wireguard link %s: %w: %v", name, ErrNoModule, err)
	case errors.Is(err, unix.EPERM):
		return fmt.Errorf("create wireguard link %s (needs root or CAP_NET_ADMIN): %w", name, err)
	case err != nil:
		return fmt.Errorf("create wireguard link %s: %w", name, err)
	}
	return nil
}

// Configure implements LinkOps.
func (o *linkOps) Configure(name string, self wire.Node) error { return o.tun.Configure(name, self) }

// SetRoutes implements LinkOps.
func (o *linkOps) SetRoutes(_ string, prefixes []netip.Prefix) error {
	return o.tun.SetRoutes(prefixes)
}

// Delete implements LinkOps.
func (o *linkOps) Delete(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find link %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("remove link %s: %w", name, err)
	}
	return nil
}
