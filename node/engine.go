package node

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/netstack"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// Errors returned by Engine methods.
var (
	// ErrClosed means the Engine was closed.
	ErrClosed = errors.New("engine closed")
	// ErrNotRunning means no full map has started the data plane yet.
	ErrNotRunning = localapi.ErrNotReady
	// ErrUnknownPeer means no active peer has that name or address.
	ErrUnknownPeer = localapi.ErrNoPeer
	// ErrNotGranted means the map grants no flow to that port of the
	// peer (see NotGrantedError).
	ErrNotGranted = localapi.ErrNotGranted
	// ErrRefused means the peer refused the connection (see
	// RefusedError).
	ErrRefused = localapi.ErrRefused
)

// EngineConfig configures an Engine. NewEngine validates it.
type EngineConfig struct {
	// PrivateKey is the node's WireGuard private key; required.
	PrivateKey wire.WGPrivate
	// ListenPort is WireGuard's UDP port; 0 picks a free one.
	ListenPort uint16
	// Expose lists the ports whose inbound TCP and UDP flows are
	// forwarded to 127.0.0.1 (when the filter allows them); PingPort may
	// not be among them.
	Expose []uint16
	// MTU is the overlay MTU; 0 means netstack.DefaultMTU.
	MTU int
	// Logger receives the Engine's logs; nil means slog.Default().
	Logger *slog.Logger
	// Bind makes wireguard-go's UDP bind; nil means conn.NewDefaultBind.
	Bind func() conn.Bind
	// Clock reads the node's clock, which the key expiry times of the
	// maps passed to Apply are on; nil means time.Now. Tests set it to
	// run a node whose clock is off.
	Clock func() time.Time
	// Relays, if not nil, gives the Engine the relay path: it keeps a
	// connection to the map's first relay and sends to peers over it until
	// UDP from them arrives (see pathbind.go). Nil: UDP only.
	Relays RelayTokens
	// HomeRelay pins the home relay by name (while the map lists it);
	// empty: the map's first until round trips are measured, then the
	// nearest.
	HomeRelay string
	// TUN, if not nil, puts the data plane on a real TUN device instead of
	// the userspace netstack: the Engine runs wireguard-go over the device
	// TUN returns, behind a netstack.Guard that enforces the same inbound
	// filter and connection tracking as the netstack, and dials and pings
	// through the operating system's stack. MTU and Expose do not apply
	// (the OS serves its own ports); Expose must then be empty. Creating a
	// TUN needs root or CAP_NET_ADMIN.
	TUN TUNFunc
	// TUNRoutes, with TUN, routes the subnet routes the map gives this
	// node (its peers' Routes, all of them; nil: none) into the TUN, so
	// the OS sends flows to routed devices through the overlay. Called
	// with the Engine's lock held whenever the set changes; it must not
	// call back into the Engine. An error is logged.
	TUNRoutes func(prefixes []netip.Prefix) error
	// Kernel, if not nil, runs the data plane on a kernel WireGuard link
	// instead of wireguard-go (`--engine kernel`, package kernelwg): the
	// Engine configures it with the same UAPI "set" deltas it gives
	// wireguard-go, which the link translates to wgctrl, and hands it the
	// inbound filter's live rules, which it enforces with nftables. Dials
	// and pings go through the operating system's stack, as with TUN.
	// Each peer is sent to its first map endpoint over the kernel's own
	// UDP socket: there is no relay path (Relays is ignored), and Expose
	// and TUN must be unset.
	Kernel KernelFunc
	// LegacyDataPath runs the netstack's data path as it was before issue
	// 12 (netstack.Config.LegacyDataPath), for benchmarks against it.
	LegacyDataPath bool
	// TCPBufferMax bounds the netstack's TCP buffers
	// (netstack.Config.TCPBufferMax), for benchmarks; 0: the default.
	TCPBufferMax int
	// ReadBatch bounds the packets one netstack Read returns
	// (netstack.Config.ReadBatch), for benchmarks; 0: the default.
	ReadBatch int
	// UDPBatch is how many 64 KiB message buffers Ward's UDP bind hands
	// each receive (see udpBind; 0: WARD_UDP_BATCH or 128). The legacy
	// data path keeps wireguard-go's conn.StdNetBind.
	UDPBatch int
	// UDPSocketBuffer is the SO_RCVBUF and SO_SNDBUF of Ward's UDP bind's
	// sockets in bytes (0: DefaultUDPSocketBuffer; negative: the
	// kernel's defaults, for benchmarks against them).
	UDPSocketBuffer int
	// StdBind keeps wireguard-go's conn.StdNetBind on today's data path,
	// for benchmarks of Ward's own bind.
	StdBind bool
	// CopyBuffer is netstack.Config.CopyBuffer (an exposed service's
	// copy buffer), for benchmarks; 0: the default.
	CopyBuffer int
	// InFlight bounds the packets wireguard-go holds each way
	// (netstack.Config.InFlight; the netstack's Read and Write and the
	// bind's UDP send and receive keep the count), for benchmarks; 0: the
	// default, negative: no bound.
	InFlight int
}

func (c *EngineConfig) validate() error {
	if c.PrivateKey == (wire.WGPrivate{}) {
		return errors.New("engine config: no private key")
	}
	if len(c.Expose) > wire.MaxExposedPorts {
		return fmt.Errorf("engine config: more than %d exposed ports", wire.MaxExposedPorts)
	}
	for _, p := range c.Expose {
		if p == 0 || p == PingPort {
			return fmt.Errorf("engine config: cannot expose port %d", p)
		}
	}
	if c.TUN != nil && len(c.Expose) > 0 {
		return errors.New("engine config: exposed ports need the netstack, not a TUN")
	}
	if c.Kernel != nil && (c.TUN != nil || len(c.Expose) > 0) {
		return errors.New("engine config: the kernel engine takes neither a TUN nor exposed ports (the OS serves its own)")
	}
	if c.Kernel != nil {
		c.Relays = nil // the kernel's UDP socket is not Ward's bind
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Bind == nil {
		c.Bind = conn.NewDefaultBind
		if !c.LegacyDataPath && !c.StdBind {
			batch, sockBuf := c.UDPBatch, c.UDPSocketBuffer
			c.Bind = func() conn.Bind { return newUDPBind(batch, sockBuf) }
		}
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return nil
}

// Engine is a node's data plane: wireguard-go over a netstack.Stack (or a
// guarded TUN, see EngineConfig.TUN), configured by the map messages passed to Apply. It starts the data plane
// at the first full map (which gives the node its overlay addresses),
// configures peers and the inbound filter from every message, and drops a
// peer whose key expiry has passed on its own timer, so it keeps working,
// and keeps enforcing expiry, when no message comes. It is safe for
// concurrent use.
type Engine struct {
	log    *slog.Logger
	cfg    EngineConfig
	denied *deniedLog
	// flowDenied carries denied attempts from the packet path to the flow
	// log (see flowcollect.go); full means dropped, counted in
	// flowDeniedLost.
	flowDenied     chan netstack.DeniedFlow
	flowDeniedLost atomic.Uint64
	// curPolicy is inFilter for readers without mu (the flow log).
	curPolicy atomic.Pointer[policy]
	// nm is the current map view; written only with mu held.
	nm atomic.Pointer[netmap]
	// dp is the running data plane, nil before the first full map;
	// written only with mu held.
	dp atomic.Pointer[dataplane]
	// kick wakes expiryLoop after nextWake changed.
	kick chan struct{}
	// onEndpoints is called when the endpoints to announce change.
	onEndpoints atomic.Pointer[func()]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards the following and serializes changes to the device.
	mu sync.Mutex
	// priv is the device's private key.
	priv wire.WGPrivate
	// have is the peer configuration the device holds; resync forces a
	// full rewrite after a failed change.
	have map[wire.WGPublic]peerConf
	// routed are the subnet routes the device sends to peers (their map
	// Routes), for cutRoutesLocked.
	routed []netip.Prefix
	resync bool
	// starts tracks handshake starts with each configured peer (see
	// handshake.go).
	starts map[wire.WGPublic]peerStart
	// inFilter is the policy installed in the stack; nil before the first.
	inFilter *policy
	// live caches the matcher of a map whose filter has time-bound rules,
	// compiled from the rules live at some time (see liveMatcherLocked).
	live liveFilter
	// portHint is the listen port to try first when the data plane starts
	// and EngineConfig.ListenPort is 0; 0: none.
	portHint uint16
	// changed is closed, and replaced, whenever the device's peers change.
	changed chan struct{}
	// nextWake is when the device must next be reconciled without a new
	// map: the earliest key expiry of an active peer, delayed keepalive,
	// scheduled handshake kick, peer's key switch or end of rotation
	// roles; zero: never.
	nextWake time.Time
	// rotated is when the device last switched to a new private key (on
	// the Engine's clock; zero: never): it leads every pair for
	// rotationRoles after (see keyswitch.go).
	rotated time.Time
	closed  bool
	// relay is the relay connection (nil without EngineConfig.Relays),
	// bind the running data plane's bind, stun the STUN servers of the
	// last full map and stunAlt the relays' second STUN addresses (asked
	// only to classify the NAT).
	relay   *relayLink
	bind    *pathBind
	stun    []netip.AddrPort
	stunAlt []netip.AddrPort
	// stunOf maps each relay of the last full map to its STUN address;
	// stunGen counts relay lists, so an older list's slow resolution
	// cannot overwrite a newer one's.
	stunOf  map[string]netip.AddrPort
	stunGen uint64
}

// NewEngine validates cfg and returns an Engine waiting for its first map.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.Expose = slices.Clone(cfg.Expose)
	e := &Engine{log: cfg.Logger, cfg: cfg, denied: newDeniedLog(), kick: make(chan struct{}, 1),
		priv: cfg.PrivateKey, have: map[wire.WGPublic]peerConf{}, starts: map[wire.WGPublic]peerStart{}, changed: make(chan struct{}),
		flowDenied: make(chan netstack.DeniedFlow, flowDeniedQueue)}
	e.nm.Store(emptyNetmap())
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.wg.Add(1)
	go e.expiryLoop()
	e.startRelay()
	return e, nil
}

// Apply applies one map message: a full map or a delta against the last
// message applied; its KeyExpiry times are on the Engine's clock
// (control.Client converts the coordinator's). Keep-alives are ignored. A message that fails
// validation changes nothing and returns an error wrapping ErrBadMap (or
// ErrNoBase for a delta before any full map); the caller should then
// fetch a full map.
func (e *Engine) Apply(m wire.MapResponse) error {
	if m.KeepAlive {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	next, err := e.nm.Load().apply(m)
	if err != nil {
		return fmt.Errorf("apply map version %d: %w", m.Version, err)
	}
	e.nm.Store(next)
	if m.Full || m.RelaysChanged {
		e.relaysChangedLocked(m.Relays)
	}
	return e.reconcileLocked(e.cfg.Clock())
}

// SetPrivateKey switches the device to private key k (key rotation). The
// node then leads every pair for rotationRoles, and starts a handshake at
// once with every peer it keeps alive (see keyswitch.go).
func (e *Engine) SetPrivateKey(k wire.WGPrivate) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	e.priv = k
	if e.relay != nil {
		e.relay.redial() // the connection speaks for the old key
	}
	if e.bind != nil {
		e.bind.setPrivateKey(k)
	}
	dp := e.dp.Load()
	if dp == nil {
		return nil
	}
	if err := dp.setPrivateKey(k); err != nil {
		return err
	}
	e.rotated = e.cfg.Clock()
	// The peers' configuration (who leads) depends on the key: the bind
	// must know this side leads before the handshakes below leave. The
	// key is switched whatever happens here (a failed change is retried
	// in full at the next reconcile).
	if err := e.reconcileLocked(e.rotated); err != nil {
		e.log.Warn("reconfigure peers after key switch", "err", err)
	}
	var peers []wire.WGPublic
	for key, c := range e.have {
		if c.keepalive {
			peers = append(peers, key)
		}
	}
	slices.SortFunc(peers, func(a, b wire.WGPublic) int { return bytes.Compare(a[:], b[:]) })
	if err := dp.rehandshake(peers); err != nil {
		e.log.Debug("handshake after rotation", "err", err)
	}
	rotated, switched := e.rotated, time.Now()
	time.AfterFunc(rotationRekick, func() { e.rekickAfterRotation(dp, rotated, switched) })
	return nil
}

// rekickAfterRotation starts a new handshake, by a kick (see
// handshake.go), with every keepalive peer that has completed none since
// the switch at switched (on wireguard-go's clock), on data plane dp if
// it still runs, unless a later rotation (rotated is this one's) took
// over: the handshake sent at the switch was lost (the peer had not taken
// the new key yet) or crossed one the peer sent just before (see
// keyswitch.go), and wireguard-go would only retry after 5 s.
func (e *Engine) rekickAfterRotation(dp *dataplane, rotated, switched time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || e.dp.Load() != dp || !e.rotated.Equal(rotated) {
		return
	}
	st, err := dp.state()
	if err != nil {
		return
	}
	kicks := map[wire.WGPublic]bool{}
	for key, c := range e.have {
		if c.keepalive && st.peers[key].lastHandshake.Before(switched) {
			kicks[key] = true
		}
	}
	if len(kicks) == 0 {
		return
	}
	if e.bind != nil {
		e.bind.forgetInits(kicks)
	}
	if err := e.configurePeersLocked(dp, e.nm.Load(), e.have, kicks, e.cfg.Clock()); err != nil {
		e.log.Warn("handshake again after rotation", "err", err)
		return
	}
	e.log.Debug("handshake kicked again after rotation", "peers", len(kicks))
}

// PublicKey returns the public half of the device's current private key.
func (e *Engine) PublicKey() wire.WGPublic {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.priv.Public()
}

// ListenPort returns WireGuard's UDP port, or 0 before the data plane runs.
func (e *Engine) ListenPort() uint16 {
	if dp := e.dp.Load(); dp != nil {
		return dp.port
	}
	return 0
}

// Self returns the node as the last map described it; its ID is zero
// before the first full map.
func (e *Engine) Self() wire.Node { return e.nm.Load().self }

// ActivePeers returns the peers of the last map whose key is valid at now,
// other than the node itself, sorted by name then ID.
func (e *Engine) ActivePeers(now time.Time) []wire.Node {
	nm := e.nm.Load()
	out := make([]wire.Node, 0, len(nm.peers))
	for _, p := range nm.peers {
		if !expired(p, now) && p.WGKey != nm.self.WGKey {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b wire.Node) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// MapVersion returns the version of the last message applied.
func (e *Engine) MapVersion() uint64 { return e.nm.Load().version }

// Close stops the data plane and every goroutine of the Engine. It is
// idempotent.
func (e *Engine) Close() error {
	e.cancel()
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		if dp := e.dp.Swap(nil); dp != nil {
			dp.close()
		}
	}
	e.mu.Unlock()
	e.wg.Wait()
	return nil
}

// reconcileLocked makes the device match the current map at now: starts
// the data plane, configures active peers, installs the filter and
// re-arms the expiry timer.
func (e *Engine) reconcileLocked(now time.Time) error {
	nm := e.nm.Load()
	if !nm.hasSelf() {
		return nil
	}
	dp, err := e.dataplaneLocked(nm.self)
	if err != nil {
		return err
	}
	want, addrs, next := e.desiredLocked(nm, now)
	kicks := e.kicksLocked(dp, want, now)
	if err := e.configurePeersLocked(dp, nm, want, kicks, now); err != nil {
		return err
	}
	m, ends := e.liveMatcherLocked(nm, now)
	e.installFilterLocked(dp, m, addrs)
	dp.net.SetRoutes(nm.self.Routes)
	e.cutRoutesLocked(dp, nm)
	next = earliest(next, ends)
	for _, s := range e.starts {
		next = earliest(next, s.kickAt)
	}
	if !next.Equal(e.nextWake) {
		e.nextWake = next
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// dataplaneLocked returns the data plane for self's addresses, starting
// it, or restarting it when the addresses changed.
func (e *Engine) dataplaneLocked(self wire.Node) (*dataplane, error) {
	dp := e.dp.Load()
	if dp != nil && dp.v4 == self.IPv4 && dp.v6 == self.IPv6 {
		return dp, nil
	}
	port, hinted := e.cfg.ListenPort, false
	if dp != nil {
		e.log.Warn("overlay addresses changed, restarting data plane", "ipv4", self.IPv4, "ipv6", self.IPv6)
		port = dp.port
		e.dp.Store(nil)
		dp.close()
		e.have, e.starts, e.inFilter = map[wire.WGPublic]peerConf{}, map[wire.WGPublic]peerStart{}, nil
		e.curPolicy.Store(nil)
	} else if port == 0 && e.portHint != 0 {
		port, hinted = e.portHint, true
	}
	dp, err := e.newDataplaneLocked(self, port)
	if err != nil && hinted {
		e.log.Info("last listen port unavailable, picking another", "port", port, "err", err)
		dp, err = e.newDataplaneLocked(self, 0)
	}
	if err != nil {
		return nil, err
	}
	e.dp.Store(dp)
	e.log.Info("data plane started", "ipv4", self.IPv4, "ipv6", self.IPv6, "listen_port", dp.port)
	return dp, nil
}

// newDataplaneLocked starts a data plane for self's addresses on port (0:
// any).
func (e *Engine) newDataplaneLocked(self wire.Node, port uint16) (*dataplane, error) {
	return newDataplane(e.ctx, dataplaneConfig{self: self, tun: e.cfg.TUN, kernel: e.cfg.Kernel, priv: e.priv, listenPort: port,
		mtu: e.cfg.MTU, expose: e.cfg.Expose, log: e.log, onDenied: e.onDenied, bind: e.bindFuncLocked(),
		legacy: e.cfg.LegacyDataPath, tcpBufMax: e.cfg.TCPBufferMax,
		readBatch: e.cfg.ReadBatch, copyBuf: e.cfg.CopyBuffer, inFlight: e.cfg.InFlight})
}

// preferListenPort makes the data plane, when it starts with
// EngineConfig.ListenPort 0, try port first (the port of the node's last
// run, which its peers and the coordinator still know) and fall back to
// any free port.
func (e *Engine) preferListenPort(port uint16) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.portHint = port
}

// desiredLocked returns the peers the device should hold at now, their
// overlay addresses and when the result will next change by itself (a key
// expiry or a delayed keepalive; kicks are added by reconcileLocked).
func (e *Engine) desiredLocked(nm *netmap, now time.Time) (map[wire.WGPublic]peerConf, map[netip.Addr]struct{}, time.Time) {
	self := e.priv.Public()
	want := make(map[wire.WGPublic]peerConf, len(nm.peers))
	addrs := make(map[netip.Addr]struct{}, 2*len(nm.peers))
	var next time.Time
	held := make(map[wire.NodeID]wire.WGPublic, len(e.have))
	for k, c := range e.have {
		held[c.id] = k
	}
	leading := !e.rotated.IsZero() && now.Before(e.rotated.Add(rotationRoles))
	if leading {
		next = earliest(next, e.rotated.Add(rotationRoles))
	}
	for _, p := range nm.peers {
		if expired(p, now) {
			continue
		}
		key := keyAt(p, now)
		if key == self {
			continue
		}
		if _, dup := want[key]; dup {
			continue
		}
		if key != p.WGKey {
			next = earliest(next, switchOf(p)) // take p.WGKey then
		}
		st, known := e.starts[key]
		if old, ok := held[p.ID]; ok && old != key && !known {
			// The peer rotated its key: it switches now (or switched
			// already) and leads every pair, so this side follows,
			// whatever the key order (see keyswitch.go).
			st.follow = true
			e.starts[key] = st
		}
		added := st.added
		if added.IsZero() {
			added = now
		}
		if st.follow && !now.Before(added.Add(rotationRoles)) {
			st.follow = false
			e.starts[key] = st
		}
		c := confOf(p, key, self, added, now)
		switch {
		case st.follow && leading:
			// Both rotated within rotationRoles: the key order decides.
		case st.follow:
			// Taken at the end of a hold (switchLag after the peer's
			// switch), this side initiates at once: the peer switched
			// first and leads, so its bind settles a crossing. Taken
			// otherwise (no hold: the peer switches later), the keepalive
			// waits keepaliveDelay, so that it does not meet the peer's
			// own handshake at its switch (see keyswitch.go).
			held := !p.KeySwitchAt.IsZero() && !now.Before(switchOf(p))
			c.leads, c.keepalive = false, held || !now.Before(added.Add(keepaliveDelay))
			next = earliest(next, added.Add(rotationRoles))
		case leading:
			c.leads, c.keepalive = true, true
		}
		want[key] = c
		for _, a := range []netip.Addr{p.IPv4, p.IPv6} {
			if a.IsValid() {
				addrs[a] = struct{}{}
			}
		}
		next = earliest(next, p.KeyExpiry)
		if !c.keepalive {
			next = earliest(next, added.Add(keepaliveDelay))
		}
	}
	return want, addrs, next
}

// earliest returns the earlier of a and b, ignoring zero times.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// kicksLocked schedules the kicks that the change from e.have to want
// calls for, and returns the peers to kick now: those whose kick is due
// and with which the device has no live session (see handshake.go).
func (e *Engine) kicksLocked(dp *dataplane, want map[wire.WGPublic]peerConf, now time.Time) map[wire.WGPublic]bool {
	var due []wire.WGPublic
	for k, w := range want {
		h, had := e.have[k]
		s, ok := e.starts[k]
		if !had || !ok {
			continue // adding the peer starts its handshake
		}
		s.schedule(h, w, now)
		if s.due(w, now) && !e.handshakeUnderWayLocked(k) {
			due = append(due, k)
		}
		e.starts[k] = s
	}
	if len(due) == 0 {
		return nil
	}
	st, err := dp.state()
	if err != nil {
		// Without a kick, wireguard-go's own retry still comes.
		e.log.Warn("read sessions before a handshake kick", "err", err)
		return nil
	}
	kicks := make(map[wire.WGPublic]bool, len(due))
	// wireguard-go stamps handshakes with time.Now, not the Engine's
	// clock: compare them on its clock.
	wgNow := time.Now()
	for _, k := range due {
		if !liveSession(st.peers[k], wgNow) {
			kicks[k] = true
		}
	}
	return kicks
}

// configurePeersLocked changes the device's peers to want, re-creating
// those in kicks, and logs each peer removed.
func (e *Engine) configurePeersLocked(dp *dataplane, nm *netmap, want map[wire.WGPublic]peerConf, kicks map[wire.WGPublic]bool, now time.Time) error {
	direct := e.cfg.Kernel != nil
	set := peerDiff(e.have, want, kicks, direct)
	if e.resync {
		set = "replace_peers=true\n" + peerDiff(nil, want, nil, direct)
	}
	// The bind learns the peers first: wireguard-go sends a new peer's
	// first handshake initiation as the peer is added, and a bind that
	// does not know the peer yet has no path for it.
	e.notePathsLocked(nm, want)
	if err := dp.configure(set); err != nil {
		e.resync = true
		return err
	}
	if set != "" {
		close(e.changed)
		e.changed = make(chan struct{})
	}
	for k, c := range e.have {
		if _, ok := want[k]; !ok {
			p, inMap := nm.peers[c.id]
			e.log.Info("peer removed", "peer_id", c.id, "peer", p.Name, "key", k.ShortString(), "expired", inMap && p.WGKey == k)
			delete(e.starts, k)
		}
	}
	relayed := e.relay != nil && e.relay.connected()
	for k, c := range want {
		_, had := e.have[k]
		s := e.starts[k]
		s.noteAdded(c, !had || kicks[k] || e.resync, relayed, now)
		e.starts[k] = s
		if kicks[k] {
			e.log.Debug("handshake kicked", "peer_id", c.id, "endpoint", c.endpoint)
		}
	}
	e.have, e.resync = want, false
	return nil
}

// liveFilter is a matcher of nm's rules live until next (zero: for good).
type liveFilter struct {
	nm   *netmap
	m    *filter.Matcher
	next time.Time
}

// liveMatcherLocked returns the matcher of nm's rules that apply at now,
// and when the next of them expires (zero: none does). A map without
// time-bound rules has its own matcher; one with them is compiled again
// only when one expired, so a grant ends on time without the coordinator.
func (e *Engine) liveMatcherLocked(nm *netmap, now time.Time) (*filter.Matcher, time.Time) {
	if !nm.timed {
		return nm.matcher, time.Time{}
	}
	if c := e.live; c.nm == nm && (c.next.IsZero() || now.Before(c.next)) {
		return c.m, c.next
	}
	rules, next := filter.LiveAt(nm.rules, now)
	e.live = liveFilter{nm: nm, m: filter.Compile(rules), next: next}
	return e.live.m, next
}

// installFilterLocked swaps in a new policy when the matcher or the active
// peer addresses changed.
func (e *Engine) installFilterLocked(dp *dataplane, m *filter.Matcher, addrs map[netip.Addr]struct{}) {
	if old := e.inFilter; old != nil && old.m == m && maps.Equal(old.peers, addrs) {
		return
	}
	e.inFilter = &policy{m: m, peers: addrs}
	e.curPolicy.Store(e.inFilter)
	dp.net.SetFilter(e.inFilter)
}

// expiryLoop re-runs reconcile at nextWake: when the earliest peer key
// expiry passes, whether or not the coordinator is reachable, and to turn
// on delayed keepalives.
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
				t.Reset(next.Sub(e.cfg.Clock()) + time.Millisecond)
			}
		case <-t.C:
			e.reconcileNow()
		}
	}
}

// reconcileNow drops the peers whose key expiry has passed and turns on
// delayed keepalives.
func (e *Engine) reconcileNow() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	if err := e.reconcileLocked(e.cfg.Clock()); err != nil {
		e.log.Warn("reconcile peers", "err", err)
	}
}
