package node

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/device"

	"github.com/wardnet/ward/relay"
	"github.com/wardnet/ward/wire"
)

// RelayTokens is what the relay path needs from the control client: a
// fresh admission token, a map relay's URL and STUN address, and the
// HTTP client to dial with. *control.Client implements it.
type RelayTokens interface {
	RelayToken(ctx context.Context) (wire.RelayTokenResponse, error)
	RelayURL(r wire.Relay) (string, error)
	STUNAddr(ctx context.Context, r wire.Relay) (netip.AddrPort, error)
	HTTPClient() *http.Client
}

// Relay link timings and bounds.
const (
	relayBackoffMin = 250 * time.Millisecond
	relayBackoffMax = 10 * time.Second
	// relayQueue bounds the packets waiting for one relay connection.
	relayQueue = 256
	// relayBatch bounds the packets sent in one message.
	relayBatch = 16
	// relayPingTimeout is how long a connection being checked may show
	// no life (no pong, no frame, none of our bytes acknowledged by the
	// relay's TCP) before it counts as dead (its NAT mapping gone: TCP
	// alone would notice only minutes later) and is redialled.
	// relaySessionMin: a session shorter than this does not reset the
	// redial backoff; a longer one is redialled at once.
	relayPingTimeout = 3 * time.Second
	relaySessionMin  = 5 * time.Second
	// relayIdle closes a connection to a relay that is not home after
	// this long without a packet to send over it.
	relayIdle = time.Minute
	// homeBetter: another relay becomes home only when its round trip is
	// below this share of the home relay's (no flapping between two
	// relays of about the same distance).
	homeBetter = 0.67
	// relayHoldFor is how long a packet sent while its connection is
	// being dialled waits for it (see send): wireguard-go replaces an
	// unanswered handshake initiation after device.RekeyTimeout, so an
	// older one is of no use.
	relayHoldFor = device.RekeyTimeout
)

// relayOut is one packet waiting for a relay connection, queued at at.
type relayOut struct {
	to  wire.WGPublic
	pkt []byte
	at  time.Time
}

// stale reports whether o waited too long to be worth sending at now.
func (o relayOut) stale(now time.Time) bool { return now.Sub(o.at) > relayHoldFor }

// relayLink is the node's relay connections: one to its home relay,
// which it keeps up and where its peers reach it, and one on demand to
// each other relay that a peer it sends to calls home (closed after
// relayIdle without use). Each is redialled with backoff and a fresh token
// each time (a relay checks a token only when admitting, so a connection
// outlives its token). Home is the map's first relay until round trips
// are measured (chooseHome); then the nearest. Frames from every
// connection wait in in for the pathBind.
type relayLink struct {
	tokens RelayTokens
	log    *slog.Logger
	in     chan relay.Frame
	// onHome is called (on its own goroutine) when the home relay changes
	// or its connection opens.
	onHome func(name string)
	// pinned, when the map lists a relay of that name, is home whatever
	// the round trips.
	pinned string
	// pingTimeout is relayPingTimeout (shorter in tests).
	pingTimeout time.Duration
	// up is set while the home connection is open.
	up atomic.Bool
	// inits are the handshake initiations sent to peers that the relay
	// may refuse (see initresend.go).
	inits initResender

	mu sync.Mutex // mu guards the fields below
	// ctx is run's context (nil before run): connections live in it.
	ctx context.Context
	// relays are the map's relays by name, in the map's order in names.
	relays map[string]wire.Relay
	names  []string
	// home names the home relay ("" when none).
	home  string
	conns map[string]*relayConn
	wg    sync.WaitGroup
}

// relayConn is the connection to one relay.
type relayConn struct {
	relay wire.Relay
	// out holds packets until the connection's writer sends them
	// (bounded: while connected, send drops a packet when it is full;
	// while dialling, the oldest, see hold).
	out chan relayOut
	up  atomic.Bool
	// used is when a packet was last queued (unix nanoseconds).
	used atomic.Int64
	// stop ends the connection for good; drop ends the current session
	// (run dials again).
	stop context.CancelFunc
	// checkNow asks the session's pinger to ping at once; frames counts
	// frames received (liveness while a ping waits).
	checkNow chan struct{}
	frames   atomic.Uint64
	mu       sync.Mutex         // mu guards drop
	drop     context.CancelFunc // nil while not connected
}

func newRelayLink(tokens RelayTokens, log *slog.Logger) *relayLink {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &relayLink{tokens: tokens, log: log, in: make(chan relay.Frame, 64), relays: map[string]wire.Relay{},
		conns: map[string]*relayConn{}, pingTimeout: relayPingTimeout}
	l.inits.deliver = l.deliver
	l.inits.debug = l.log.Debug
	return l
}

// setRelays takes the map's relays. Home stays when still listed, else
// it is the first; connections to relays no longer listed end.
func (l *relayLink) setRelays(rs []wire.Relay) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.relays, l.names = map[string]wire.Relay{}, nil
	for _, r := range rs {
		if _, dup := l.relays[r.Name]; !dup {
			l.relays[r.Name] = r
			l.names = append(l.names, r.Name)
		}
	}
	for name, c := range l.conns {
		if r, ok := l.relays[name]; !ok || r != c.relay {
			c.stop()
			delete(l.conns, name)
		}
	}
	if _, ok := l.relays[l.pinned]; ok {
		l.setHomeLocked(l.pinned)
	} else if _, ok := l.relays[l.home]; !ok {
		home := ""
		if len(l.names) > 0 {
			home = l.names[0]
		}
		l.setHomeLocked(home)
	}
	l.ensureLocked(l.home)
}

// setHomeLocked makes name the home relay.
func (l *relayLink) setHomeLocked(name string) {
	if name == l.home {
		return
	}
	l.log.Info("home relay", "relay", name, "was", l.home)
	l.home = name
	l.up.Store(false)
	if c := l.conns[name]; c != nil && c.up.Load() {
		l.up.Store(true)
	}
	if l.onHome != nil {
		go l.onHome(name)
	}
}

// chooseHome takes measured round trips per relay name and moves home to
// the nearest when it is clearly nearer (homeBetter) than home, or home
// has none.
func (l *relayLink) chooseHome(rtts map[string]time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.relays[l.pinned]; ok {
		return
	}
	best, bestRTT := "", time.Duration(0)
	for _, name := range l.names {
		if d, ok := rtts[name]; ok && d > 0 && (best == "" || d < bestRTT) {
			best, bestRTT = name, d
		}
	}
	if best == "" || best == l.home {
		return
	}
	if cur, ok := rtts[l.home]; ok && cur > 0 && float64(bestRTT) >= homeBetter*float64(cur) {
		return
	}
	l.setHomeLocked(best)
	l.ensureLocked(best)
}

// homeName names the home relay ("" when none).
func (l *relayLink) homeName() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.home
}

// connected reports whether the home connection is open.
func (l *relayLink) connected() bool { return l.up.Load() }

// redial ends every connection's session, so each dials again with a
// fresh token (after a key rotation: a connection speaks for the key its
// token named).
func (l *relayLink) redial() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.mu.Lock()
		if c.drop != nil {
			c.drop()
		}
		c.mu.Unlock()
	}
}

// send queues pkt for the node holding key to, over relay via ("" or
// unknown: home), and never waits. While the connection there is being
// dialled (one is started if there is none), the packet waits for it, up
// to relayHoldFor (hold): the first handshake initiation of a node that
// just started is sent before its relay connection is up, and wireguard-go
// would not send another for 5 s. With the queue of an open connection
// full, the packet is dropped as a full UDP buffer would drop it
// (WireGuard retries). It is called from wireguard-go's send path, which
// must not stall on the relay.
func (l *relayLink) send(to wire.WGPublic, via string, pkt []byte) {
	l.mu.Lock()
	if _, ok := l.relays[via]; !ok {
		via = l.home
	}
	c := l.conns[via]
	if c == nil {
		l.ensureLocked(via)
		c = l.conns[via]
	}
	l.mu.Unlock()
	if c == nil {
		return
	}
	now := time.Now()
	l.inits.sent(to, via, pkt, now)
	o := relayOut{to: to, pkt: append([]byte(nil), pkt...), at: now}
	if !c.up.Load() {
		c.hold(o)
		return
	}
	c.used.Store(now.UnixNano())
	select {
	case c.out <- o:
	default:
	}
}

// deliver queues pkt for the peer to over an open connection to relay via
// ("" or unknown: home), dropping it when there is none or its queue is
// full; it is not noted as sent (initResender's resends).
func (l *relayLink) deliver(to wire.WGPublic, via string, pkt []byte) {
	l.mu.Lock()
	if _, ok := l.relays[via]; !ok {
		via = l.home
	}
	c := l.conns[via]
	l.mu.Unlock()
	if c == nil || !c.up.Load() {
		return
	}
	select {
	case c.out <- relayOut{to: to, pkt: pkt, at: time.Now()}:
	default:
	}
}

// hold queues o on c while c is not connected; with the queue full, the
// oldest packet makes room (the newest are the ones worth sending).
func (c *relayConn) hold(o relayOut) {
	for range 2 {
		select {
		case c.out <- o:
			return
		default:
		}
		select {
		case <-c.out:
		default:
		}
	}
}

// run keeps the connections until ctx is done, then waits for them.
func (l *relayLink) run(ctx context.Context) {
	l.mu.Lock()
	l.ctx = ctx
	l.ensureLocked(l.home)
	l.mu.Unlock()
	<-ctx.Done()
	l.inits.close()
	l.mu.Lock()
	for name, c := range l.conns {
		c.stop()
		delete(l.conns, name)
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// ensureLocked starts the connection to relay name unless there is one
// (or no such relay, or run has not started).
func (l *relayLink) ensureLocked(name string) {
	r, ok := l.relays[name]
	if !ok || l.ctx == nil || l.ctx.Err() != nil || l.conns[name] != nil {
		return
	}
	ctx, stop := context.WithCancel(l.ctx)
	c := &relayConn{relay: r, out: make(chan relayOut, relayQueue), stop: stop, checkNow: make(chan struct{}, 1)}
	c.used.Store(time.Now().UnixNano())
	l.conns[name] = c
	l.wg.Go(func() {
		defer stop()
		l.keep(ctx, c)
		l.mu.Lock()
		if l.conns[name] == c {
			delete(l.conns, name)
		}
		l.mu.Unlock()
	})
}

// isHome reports whether c is the home relay's connection.
func (l *relayLink) isHome(c *relayConn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.home == c.relay.Name && l.conns[c.relay.Name] == c
}

// idle reports whether c is not home and unused for relayIdle.
func (l *relayLink) idle(c *relayConn, now time.Time) bool {
	return !l.isHome(c) && now.Sub(time.Unix(0, c.used.Load())) > relayIdle
}

// keep keeps c up until ctx is done or c idles out.
func (l *relayLink) keep(ctx context.Context, c *relayConn) {
	backoff := relayBackoffMin
	for ctx.Err() == nil && !l.idle(c, time.Now()) {
		start := time.Now()
		if l.session(ctx, c) && time.Since(start) >= relaySessionMin {
			// A connection that lasted ended (its NAT mapping gone, the
			// relay restarted): dial again at once, a peer's relay copies
			// may be on their way; back off from there.
			backoff = relayBackoffMin
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, relayBackoffMax)
	}
}

// session dials c's relay and pumps its frames into l.in until the
// connection ends (or idles out); it reports whether it connected.
func (l *relayLink) session(ctx context.Context, c *relayConn) bool {
	cl, err := l.dial(ctx, c.relay)
	if err != nil {
		l.log.Warn("relay connect", "relay", c.relay.Name, "err", err)
		return false
	}
	defer cl.Close()
	sctx, drop := context.WithCancel(ctx)
	defer drop()
	c.mu.Lock()
	c.drop = drop
	c.mu.Unlock()
	c.up.Store(true)
	l.mu.Lock()
	if l.home == c.relay.Name && l.conns[c.relay.Name] == c {
		l.up.Store(true)
		if l.onHome != nil {
			go l.onHome(c.relay.Name)
		}
	}
	l.mu.Unlock()
	l.log.Info("relay connected", "relay", c.relay.Name)
	var workers sync.WaitGroup
	workers.Go(func() { l.write(sctx, c, cl, drop) })
	workers.Go(func() { l.watchIdle(sctx, c, drop) })
	workers.Go(func() { l.ping(sctx, c, cl, drop) })
	defer func() {
		c.up.Store(false)
		l.mu.Lock()
		if l.home == c.relay.Name && l.conns[c.relay.Name] == c {
			l.up.Store(false)
		}
		l.mu.Unlock()
		c.mu.Lock()
		c.drop = nil
		c.mu.Unlock()
		drop()
		workers.Wait()
	}()
	for {
		f, err := cl.Recv(sctx)
		if err != nil {
			l.log.Info("relay disconnected", "relay", c.relay.Name, "err", err)
			return true
		}
		c.frames.Add(1)
		if f.Type == relay.TypeRefused {
			l.log.Debug("relay refused", "relay", c.relay.Name, "peer", f.Key.ShortString(), "reason", f.Reason())
			l.inits.refused(f.Key, f.Reason())
			continue
		}
		l.inits.heard(f.Key)
		select {
		case l.in <- f:
		default: // wireguard-go is behind: drop, as a full UDP buffer would
		}
	}
}

// check has every open connection pinged at once (a direct path just
// went silent: the relay is about to carry the packets, so a dead
// connection must be found now).
func (l *relayLink) check() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		select {
		case c.checkNow <- struct{}{}:
		default:
		}
	}
}

// ping checks the connection when asked (check: a direct path went
// silent and the relay is about to carry packets) and ends the session
// (drop) when it shows no life (alive). Idle connections are not pinged
// on a timer: every ping would wake each of a relay's thousands of
// connections.
func (l *relayLink) ping(ctx context.Context, c *relayConn, cl *relay.Client, drop context.CancelFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.checkNow:
		}
		if !l.alive(ctx, c, cl) {
			l.log.Info("relay unresponsive, reconnecting", "relay", c.relay.Name)
			drop()
			return
		}
	}
}

// alive pings cl and reports whether the relay showed life within
// pingTimeout of its last sign: its pong, a frame from it, or its TCP
// acknowledging more of our bytes (relay.Client.Acked). A busy
// connection's ping waits behind the bytes queued before it, which drain
// while the relay lives: a connection that only sends is not taken for
// dead because its pong is late, and a dead one's bytes stop draining.
// It is true when ctx ends. The ping is cancelled only when false (the
// connection is dropped then) or ctx ends.
func (l *relayLink) alive(ctx context.Context, c *relayConn, cl *relay.Client) bool {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pong := make(chan error, 1)
	go func() { pong <- cl.Ping(pctx) }()
	frames, acked := c.frames.Load(), cl.Acked()
	dead := time.NewTimer(l.pingTimeout)
	defer dead.Stop()
	look := time.NewTicker(l.pingTimeout / 4)
	defer look.Stop()
	for {
		select {
		case err := <-pong:
			return err == nil || ctx.Err() != nil
		case <-ctx.Done():
			return true
		case <-look.C:
			if f, a := c.frames.Load(), cl.Acked(); f != frames || a > acked {
				frames, acked = f, a
				dead.Reset(l.pingTimeout)
			}
		case <-dead.C:
			f, a := c.frames.Load(), cl.Acked()
			if f == frames && a <= acked {
				return false
			}
			// Life at the last moment: wait on (cancelling a ping
			// whose write waits would close the connection).
			frames, acked = f, a
			dead.Reset(l.pingTimeout)
		}
	}
}

// watchIdle ends the session (drop) once c idles out.
func (l *relayLink) watchIdle(ctx context.Context, c *relayConn, drop context.CancelFunc) {
	t := time.NewTicker(relayIdle / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if l.idle(c, now) {
				l.log.Info("relay idle, closing", "relay", c.relay.Name)
				drop()
				return
			}
		}
	}
}

// write sends c's queued packets over cl until ctx ends or a write fails,
// which ends the session (drop). What is queued goes in batches, one
// message per run of packets to one peer (relay.Client.SendBatch): a
// wireguard-go batch leaves in one write.
func (l *relayLink) write(ctx context.Context, c *relayConn, cl *relay.Client, drop context.CancelFunc) {
	var batch [][]byte
	for {
		var o relayOut
		select {
		case <-ctx.Done():
			return
		case o = <-c.out:
		}
		now := time.Now()
		if o.stale(now) {
			continue
		}
		to := o.to
		batch = append(batch[:0], o.pkt)
		for len(batch) < relayBatch {
			select {
			case n := <-c.out:
				if n.stale(now) {
					continue
				}
				if n.to != to {
					if !l.sendBatch(ctx, c, cl, to, batch, drop) {
						return
					}
					to, batch = n.to, append(batch[:0], n.pkt)
				} else {
					batch = append(batch, n.pkt)
				}
				continue
			default:
			}
			break
		}
		if !l.sendBatch(ctx, c, cl, to, batch, drop) {
			return
		}
	}
}

// sendBatch sends pkts to peer to over cl, ending the session on failure.
func (l *relayLink) sendBatch(ctx context.Context, c *relayConn, cl *relay.Client, to wire.WGPublic, pkts [][]byte, drop context.CancelFunc) bool {
	if err := cl.SendBatch(ctx, to, pkts); err != nil {
		l.log.Debug("relay send", "relay", c.relay.Name, "err", err)
		drop()
		return false
	}
	return true
}

// dial fetches a token and connects to r.
func (l *relayLink) dial(ctx context.Context, r wire.Relay) (*relay.Client, error) {
	url, err := l.tokens.RelayURL(r)
	if err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tok, err := l.tokens.RelayToken(tctx)
	if err != nil {
		return nil, err
	}
	return relay.Dial(tctx, url, tok.Token, l.tokens.HTTPClient())
}
