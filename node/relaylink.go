package node

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

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

// Relay link timings.
const (
	relayBackoffMin = 250 * time.Millisecond
	relayBackoffMax = 10 * time.Second
	// relayQueue bounds the packets waiting for the relay connection.
	relayQueue = 256
)

// relayOut is one packet waiting for the relay connection.
type relayOut struct {
	to  wire.WGPublic
	pkt []byte
}

// relayLink is the node's one connection to its home relay (the map's
// first relay), redialled with backoff and a fresh token each time (the
// relay checks a token only when admitting, so a connection outlives its
// token). Frames it receives wait in in for the pathBind.
type relayLink struct {
	tokens RelayTokens
	log    *slog.Logger
	in     chan relay.Frame
	// out holds packets for the relay until the connection's writer
	// sends them (bounded: send drops when it is full).
	out chan relayOut
	// home wakes run when the home relay changes.
	wake chan struct{}

	// up is set while a connection is open.
	up atomic.Bool

	mu     sync.Mutex    // mu guards the fields below
	home   wire.Relay    // zero: none
	client *relay.Client // nil while disconnected
	// drop ends the current connection's session (which closes it).
	drop context.CancelFunc
}

func newRelayLink(tokens RelayTokens, log *slog.Logger) *relayLink {
	return &relayLink{tokens: tokens, log: log, in: make(chan relay.Frame, 64), out: make(chan relayOut, relayQueue), wake: make(chan struct{}, 1)}
}

// setRelays takes the map's relays; the first is home. A change of home
// closes the current connection.
func (l *relayLink) setRelays(rs []wire.Relay) {
	var home wire.Relay
	if len(rs) > 0 {
		home = rs[0]
	}
	l.mu.Lock()
	if home == l.home {
		l.mu.Unlock()
		return
	}
	l.home = home
	l.mu.Unlock()
	l.redial()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// homeName names the home relay ("" when none).
func (l *relayLink) homeName() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.home.Name
}

// connected reports whether a relay connection is open.
func (l *relayLink) connected() bool { return l.up.Load() }

// redial closes the current connection, so run dials again with a fresh
// token (after a key rotation: a connection speaks for the key its token
// named).
func (l *relayLink) redial() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drop != nil {
		l.drop()
	}
}

// send queues pkt for the node holding key over the relay, and never
// waits: without a connection, or with the queue full (the relay or the
// TCP path behind), the packet is dropped as a full UDP buffer would drop
// it (WireGuard retries). It is called from wireguard-go's send path,
// which must not stall on the relay: a stalled relay write once held up
// the UDP path too.
func (l *relayLink) send(to wire.WGPublic, pkt []byte) {
	if !l.up.Load() {
		return
	}
	select {
	case l.out <- relayOut{to: to, pkt: append([]byte(nil), pkt...)}:
	default:
	}
}

// write sends queued packets over c until ctx ends or a write fails, which
// ends the connection's session (drop).
func (l *relayLink) write(ctx context.Context, c *relay.Client, drop context.CancelFunc) {
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-l.out:
			if err := c.Send(ctx, o.to, o.pkt); err != nil {
				l.log.Debug("relay send", "err", err)
				drop()
				return
			}
		}
	}
}

// run keeps the link up until ctx is done.
func (l *relayLink) run(ctx context.Context) {
	backoff := relayBackoffMin
	for ctx.Err() == nil {
		l.mu.Lock()
		home := l.home
		l.mu.Unlock()
		if home == (wire.Relay{}) {
			select {
			case <-ctx.Done():
				return
			case <-l.wake:
				continue
			}
		}
		if l.session(ctx, home) {
			backoff = relayBackoffMin
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		case <-l.wake:
		}
		backoff = min(2*backoff, relayBackoffMax)
	}
}

// session dials home and pumps its frames into l.in until the connection
// ends; it reports whether it connected.
func (l *relayLink) session(ctx context.Context, home wire.Relay) bool {
	c, err := l.dial(ctx, home)
	if err != nil {
		l.log.Warn("relay connect", "relay", home.Name, "err", err)
		return false
	}
	defer c.Close()
	sctx, drop := context.WithCancel(ctx)
	defer drop()
	l.mu.Lock()
	if l.home != home {
		l.mu.Unlock()
		return true
	}
	l.client, l.drop = c, drop
	l.up.Store(true)
	l.mu.Unlock()
	l.log.Info("relay connected", "relay", home.Name)
	var writer sync.WaitGroup
	writer.Go(func() { l.write(sctx, c, drop) })
	defer func() {
		l.mu.Lock()
		l.client, l.drop = nil, nil
		l.up.Store(false)
		l.mu.Unlock()
		drop()
		writer.Wait()
	}()
	for {
		f, err := c.Recv(sctx)
		if err != nil {
			l.log.Info("relay disconnected", "relay", home.Name, "err", err)
			return true
		}
		if f.Type == relay.TypeRefused {
			l.log.Debug("relay refused", "peer", f.Key.ShortString(), "reason", f.Reason())
			continue
		}
		select {
		case l.in <- f:
		default: // wireguard-go is behind: drop, as a full UDP buffer would
		}
	}
}

// dial fetches a token and connects to home.
func (l *relayLink) dial(ctx context.Context, home wire.Relay) (*relay.Client, error) {
	url, err := l.tokens.RelayURL(home)
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
