package netstack

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"golang.zx2c4.com/wireguard/tun"
)

// GuardConfig configures a Guard. NewGuard validates it; it is not
// retained.
type GuardConfig struct {
	// IPv4 and IPv6 are the node's overlay addresses, as in Config; either
	// may be the zero Addr, not both.
	IPv4, IPv6 netip.Addr
	// MaxFlows bounds the connection-tracking table; 0 means
	// DefaultMaxFlows.
	MaxFlows int
	// OnDenied is as in Config: called on the packet path for each denied
	// new inbound flow and each flow cut by a Filter change; may be nil.
	OnDenied func(DeniedFlow)
	// CountFlows is as in Config.
	CountFlows bool
}

// withDefaults validates c and returns a copy with defaults filled in.
func (c GuardConfig) withDefaults() (GuardConfig, error) {
	if c.MaxFlows == 0 {
		c.MaxFlows = DefaultMaxFlows
	}
	if err := validateAddrs(c.IPv4, c.IPv6); err != nil {
		return GuardConfig{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if c.MaxFlows < minFlows {
		return GuardConfig{}, fmt.Errorf("%w: max flows %d below %d", ErrInvalidConfig, c.MaxFlows, minFlows)
	}
	return c, nil
}

// Guard is a tun.Device that puts the Stack's inbound filter and connection
// tracking in front of another tun.Device, typically a real TUN whose
// operating system stack carries the overlay. Packets from peers (Write)
// reach the device only when the Filter or a tracked flow admits them;
// packets the device sends (Read) are tracked, so their replies pass, and
// dropped when their flow was revoked. Every port counts as served: the
// OS answers or refuses by itself, so Stats.Unserved stays 0. Create it
// with NewGuard; it is safe for concurrent use.
type Guard struct {
	tun.Device
	g *guard
	// cancel stops the sweep goroutine, which wg tracks.
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ tun.Device = (*Guard)(nil)

// NewGuard validates cfg and returns dev guarded by a new, empty flow
// table. The Filter starts nil, so every new inbound flow is denied until
// SetFilter is called. The Guard owns dev: Close closes it.
func NewGuard(dev tun.Device, cfg GuardConfig) (*Guard, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Guard{Device: dev, g: newGuard(cfg, nil)}
	var ctx context.Context
	ctx, d.cancel = context.WithCancel(context.Background())
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.g.sweepLoop(ctx)
	}()
	return d, nil
}

// SetFilter replaces the inbound Filter and revokes, at once, the tracked
// inbound flows it denies (their packets are dropped both ways from then
// on). Unlike a Stack, a Guard cannot end the operating system's sockets
// nor answer the peer: a cut flow goes silent.
func (d *Guard) SetFilter(f Filter) {
	d.g.filter.set(f)
	d.g.revokeDenied()
}

// Stats returns the filter counters.
func (d *Guard) Stats() Stats { return d.g.stats() }

// Read implements tun.Device. A packet the guard drops is reported with
// size 0, which wireguard-go's reader skips.
func (d *Guard) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	n, err := d.Device.Read(bufs, sizes, offset)
	now := d.g.ct.now()
	for i := range n {
		if sizes[i] > 0 && !d.g.outbound(bufs[i][offset:offset+sizes[i]], now) {
			sizes[i] = 0
		}
	}
	return n, err
}

// Write implements tun.Device. It moves the packets the guard admits to
// the front of bufs (swapping, so bufs keeps every buffer it had), writes
// those, and reports every packet as written: drops are counted, not
// errors.
func (d *Guard) Write(bufs [][]byte, offset int) (int, error) {
	now := d.g.ct.now()
	kept := 0
	for i, b := range bufs {
		if len(b) > offset && d.g.inbound(b[offset:], now) {
			bufs[i], bufs[kept] = bufs[kept], bufs[i]
			kept++
		}
	}
	if kept == 0 {
		return len(bufs), nil
	}
	if _, err := d.Device.Write(bufs[:kept], offset); err != nil {
		return 0, err
	}
	return len(bufs), nil
}

// Close stops the sweep goroutine and closes the guarded device. It is
// idempotent and returns the device's Close error.
func (d *Guard) Close() error {
	d.closeOnce.Do(func() {
		d.cancel()
		d.closeErr = d.Device.Close()
		d.wg.Wait()
	})
	return d.closeErr
}
