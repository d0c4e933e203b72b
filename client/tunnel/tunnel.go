// Package tunnel is the desktop client's privileged data plane: wireguard-go
// over a real TUN device of the operating system, so that any program
// reaches the overlay by address. The TUN gets the node's overlay addresses
// and routes for the overlay ranges (100.64.0.0/10 and the coordinator's
// ULA /48); the node's inbound filter is enforced on this machine by a
// client/guard Device between wireguard-go and the TUN.
//
// Engine is driven by wire.MapResponse values like node.Engine, and offers
// the same methods (Apply, DialPeer, Ping, Status, ListenPort, Close), so
// the client daemon uses either behind one interface. It creates the TUN at
// the first full map, and drops a peer whose key expiry has passed on its
// own timer, whether or not the coordinator is reachable. Creating a TUN and
// configuring it needs root or CAP_NET_ADMIN.
package tunnel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"github.com/wardnet/ward/client/guard"
	"github.com/wardnet/ward/client/netmap"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// Defaults for Config.
const (
	DefaultName = "ward0"
	DefaultMTU  = 1280
)

// Errors returned by Engine methods.
var (
	// ErrClosed means the Engine was closed.
	ErrClosed = errors.New("tunnel closed")
	// ErrNotRunning means no full map has started the TUN yet.
	ErrNotRunning = localapi.ErrNotReady
	// ErrUnknownPeer means no active peer has that name or address.
	ErrUnknownPeer = localapi.ErrNoPeer
)

// Config configures an Engine. New validates it.
type Config struct {
	// PrivateKey is the node's WireGuard private key; required.
	PrivateKey wire.WGPrivate
	// Name is the TUN interface's name; "" means DefaultName.
	Name string
	// MTU is the TUN's MTU; 0 means DefaultMTU.
	MTU int
	// ListenPort is WireGuard's UDP port; 0 picks one.
	ListenPort uint16
	// Logger receives the Engine's logs; nil means slog.Default().
	Logger *slog.Logger
	// Bind makes wireguard-go's UDP bind; nil means conn.NewDefaultBind.
	Bind func() conn.Bind
	// OnDenied, if set, is told of each inbound flow the filter denies or
	// cuts; it is called on the packet path and must not block.
	OnDenied func(guard.Flow)
}

func (c *Config) validate() error {
	if c.PrivateKey == (wire.WGPrivate{}) {
		return errors.New("tunnel config: no private key")
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.MTU < 1280 || c.MTU > 65535 {
		return fmt.Errorf("tunnel config: mtu %d not in [1280, 65535]", c.MTU)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Bind == nil {
		c.Bind = conn.NewDefaultBind
	}
	return nil
}

// Engine is the TUN data plane. It is safe for concurrent use.
type Engine struct {
	cfg Config
	log *slog.Logger
	// view is the current map; written only with mu held.
	view atomic.Pointer[netmap.View]
	// ln is the running link, nil before the first full map; written only
	// with mu held.
	ln atomic.Pointer[link]
	// kick wakes expiryLoop after nextWake changed.
	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards the following and serializes changes to the device.
	mu sync.Mutex
	// have is the peer configuration the device holds; added is when each
	// peer was first configured.
	have  map[wire.WGPublic]peerConf
	added map[wire.WGPublic]time.Time
	// nextWake is when peers must next be reconciled without a new map.
	nextWake time.Time
	closed   bool
}

// New validates cfg and returns an Engine waiting for its first map. It
// touches no interface until then.
func New(cfg Config) (*Engine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1),
		have: map[wire.WGPublic]peerConf{}, added: map[wire.WGPublic]time.Time{}}
	e.view.Store(netmap.Empty())
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.wg.Add(1)
	go e.expiryLoop()
	return e, nil
}

// Apply applies one map message (full or delta); keep-alives are ignored.
// A message that fails validation changes nothing.
func (e *Engine) Apply(m wire.MapResponse) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	next, err := e.view.Load().Apply(m)
	if err != nil {
		return fmt.Errorf("apply map version %d: %w", m.Version, err)
	}
	e.view.Store(next)
	return e.reconcileLocked(time.Now())
}

// ListenPort returns WireGuard's UDP port, or 0 before the TUN runs.
func (e *Engine) ListenPort() uint16 {
	if ln := e.ln.Load(); ln != nil {
		return ln.port
	}
	return 0
}

// InterfaceName returns the TUN's name, or "" before it runs.
func (e *Engine) InterfaceName() string {
	if ln := e.ln.Load(); ln != nil {
		return ln.name
	}
	return ""
}

// Close removes the TUN (and with it its addresses and routes) and stops
// every goroutine. It is idempotent.
func (e *Engine) Close() error {
	e.cancel()
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		if ln := e.ln.Swap(nil); ln != nil {
			ln.close()
		}
	}
	e.mu.Unlock()
	e.wg.Wait()
	return nil
}

// reconcileLocked makes the device match the view at now.
func (e *Engine) reconcileLocked(now time.Time) error {
	v := e.view.Load()
	if !v.HasSelf() {
		return nil
	}
	ln, err := e.linkLocked(v.Self)
	if err != nil {
		return err
	}
	want, next := e.desiredLocked(v, now)
	if err := ln.configure(peerDiff(e.have, want)); err != nil {
		return err
	}
	for k := range e.have {
		if _, ok := want[k]; !ok {
			e.log.Info("peer removed", "key", k.ShortString())
			delete(e.added, k)
		}
	}
	for k := range want {
		if _, ok := e.added[k]; !ok {
			e.added[k] = now
		}
	}
	e.have = want
	ln.guard.SetMatcher(v.Matcher)
	if !next.Equal(e.nextWake) {
		e.nextWake = next
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// linkLocked returns the link for self's addresses, creating it, or
// recreating it when the addresses changed.
func (e *Engine) linkLocked(self wire.Node) (*link, error) {
	ln := e.ln.Load()
	if ln != nil && ln.v4 == self.IPv4 && ln.v6 == self.IPv6 {
		return ln, nil
	}
	port := e.cfg.ListenPort
	if ln != nil {
		e.log.Warn("overlay addresses changed, recreating the tun", "ipv4", self.IPv4, "ipv6", self.IPv6)
		port = ln.port
		e.ln.Store(nil)
		ln.close()
		e.have, e.added = map[wire.WGPublic]peerConf{}, map[wire.WGPublic]time.Time{}
	}
	ln, err := newLink(e.cfg, self.IPv4, self.IPv6, port)
	if err != nil {
		return nil, err
	}
	e.ln.Store(ln)
	e.log.Info("tun up", "name", ln.name, "ipv4", self.IPv4, "ipv6", self.IPv6, "listen_port", ln.port)
	return ln, nil
}

// desiredLocked returns the peers the device should hold at now and when
// that changes by itself (a key expiry or a delayed keepalive).
func (e *Engine) desiredLocked(v *netmap.View, now time.Time) (map[wire.WGPublic]peerConf, time.Time) {
	self := e.cfg.PrivateKey.Public()
	want := map[wire.WGPublic]peerConf{}
	var next time.Time
	for _, p := range v.Active(now) {
		if _, dup := want[p.WGKey]; dup || p.WGKey == self {
			continue
		}
		added, ok := e.added[p.WGKey]
		if !ok {
			added = now
		}
		c := confOf(p, self, added, now)
		want[p.WGKey] = c
		next = earliest(next, p.KeyExpiry)
		if !c.keepalive {
			next = earliest(next, added.Add(keepaliveDelay))
		}
	}
	return want, next
}

// earliest returns the earlier of a and b, ignoring zero times.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// expiryLoop reconciles at nextWake, so expired peers are dropped even
// while no map comes.
func (e *Engine) expiryLoop() {
	defer e.wg.Done()
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			t.Stop()
			return
		case <-e.kick:
			e.mu.Lock()
			next := e.nextWake
			e.mu.Unlock()
			t.Stop()
			if !next.IsZero() {
				t.Reset(time.Until(next) + time.Millisecond)
			}
		case <-t.C:
			e.reconcileNow()
		}
	}
}

func (e *Engine) reconcileNow() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	if err := e.reconcileLocked(time.Now()); err != nil {
		e.log.Warn("reconcile peers", "err", err)
	}
	if ln := e.ln.Load(); ln != nil {
		ln.guard.Sweep()
	}
}

// Addrs returns the TUN's overlay addresses; zero before it runs.
func (e *Engine) Addrs() (v4, v6 netip.Addr) {
	if ln := e.ln.Load(); ln != nil {
		return ln.v4, ln.v6
	}
	return netip.Addr{}, netip.Addr{}
}

// sortedPeers returns the peers sorted by name, then ID.
func sortedPeers(m map[wire.NodeID]wire.Node) []wire.Node {
	out := make([]wire.Node, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b wire.Node) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}
