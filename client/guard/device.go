package guard

import (
	"golang.zx2c4.com/wireguard/tun"
)

// Device is a tun.Device that puts a Guard between wireguard-go and a real
// TUN device: packets the OS sends (Read) are tracked and packets of revoked
// flows dropped; packets from peers (Write) reach the OS only when the
// Guard passes them.
type Device struct {
	tun.Device
	g *Guard
}

var _ tun.Device = (*Device)(nil)

// Wrap returns d guarded by g.
func Wrap(d tun.Device, g *Guard) *Device { return &Device{Device: d, g: g} }

// Read implements tun.Device. wireguard-go's reader skips a packet whose
// size is 0, so a dropped packet is marked that way.
func (d *Device) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	n, err := d.Device.Read(bufs, sizes, offset)
	for i := range n {
		if sizes[i] > 0 && !d.g.Outbound(bufs[i][offset:offset+sizes[i]]) {
			sizes[i] = 0
		}
	}
	return n, err
}

// Write implements tun.Device. It compacts bufs in place to the packets
// the Guard passes (wireguard-go does not look at bufs after Write) and
// reports every packet as written.
func (d *Device) Write(bufs [][]byte, offset int) (int, error) {
	kept := bufs[:0]
	for _, b := range bufs {
		if d.g.Inbound(b[offset:]) == Pass {
			kept = append(kept, b)
		}
	}
	if len(kept) == 0 {
		return len(bufs), nil
	}
	_, err := d.Device.Write(kept, offset)
	return len(bufs), err
}
