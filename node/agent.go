package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/node/socks5"
	"github.com/wardnet/ward/node/splice"
)

// DefaultRotateFraction rotates the WireGuard key when this fraction of
// its life (from creation to expiry) has passed.
const DefaultRotateFraction = 0.75

// AgentConfig configures an Agent. NewAgent validates it.
type AgentConfig struct {
	// StateDir holds the state file and the local API socket; required.
	StateDir string
	// Coordinator is the coordinator URL; may be empty when the state
	// file has one.
	Coordinator string
	// AuthKey is the pre-auth key for the first registration; unused
	// once registered. Never logged.
	AuthKey string
	// AllowInsecureHTTP allows a plain-http loopback coordinator (dev).
	AllowInsecureHTTP bool
	// CAFile is a PEM file of CA certificates that verify the
	// coordinator's certificate; "" means the system's roots.
	CAFile string
	// Expose lists the ports forwarded to 127.0.0.1.
	Expose []uint16
	// AdvertiseRoutes are the subnet routes the node offers to route for
	// its peers (--advertise-routes); each is used once an admin or the
	// policy's autoApprovers approve it. Empty: the node routes nothing
	// (and withdraws routes it advertised before).
	AdvertiseRoutes []netip.Prefix
	// SOCKS5 is the address of the SOCKS5 proxy; empty: no proxy. It must
	// be a loopback address unless AllowNonLoopbackProxy: the proxy asks
	// no credentials and connects as this node.
	SOCKS5 string
	// AllowNonLoopbackProxy lets SOCKS5 listen beyond loopback, with a
	// warning in the log.
	AllowNonLoopbackProxy bool
	// ListenPort is WireGuard's UDP port; 0 picks one.
	ListenPort uint16
	// UAPIName names the device for WireGuard's own tools: the node
	// serves wireguard-go's UAPI, read only, on UAPIDir/UAPIName.sock
	// (see ListenUAPI), so `wg show UAPIName` and wgctrl programs read its
	// peers, handshakes and byte counters. Empty: no UAPI socket.
	UAPIName string
	// UAPIDir is the UAPI socket's directory; "" means DefaultUAPIDir,
	// where `wg` and wgctrl look.
	UAPIDir string
	// Kernel, if not nil, runs the data plane on a kernel WireGuard link
	// (`--engine kernel`, see EngineConfig.Kernel); Expose must then be
	// empty. No UAPI socket is served then: `wg show` reads the link
	// itself.
	Kernel KernelFunc
	// Endpoints are the UDP endpoints announced to peers (port 0 means
	// the listen port); nil means the default (see Session.endpoints).
	Endpoints []netip.AddrPort
	// HomeRelay pins the home relay to the map's relay of that name
	// (while the map lists it); empty: the nearest.
	HomeRelay string
	// RotateEvery rotates the WireGuard key at this interval; 0: only by
	// RotateFraction.
	RotateEvery time.Duration
	// RotateFraction rotates the key when this fraction of its life has
	// passed; 0 means DefaultRotateFraction; must be in (0, 1).
	RotateFraction float64
	// Hostname is the name asked for at registration; "" means the host's.
	Hostname string
	// Version is the agent's version, sent at registration.
	Version string
	// Logger receives the agent's logs; nil means slog.Default().
	Logger *slog.Logger
	// Backoff paces reconnects and retries; zero means
	// control.DefaultBackoff().
	Backoff control.Backoff
	// FlowPoll and FlowWindow time the flow log: the data plane's
	// counters are read every FlowPoll and aggregated per flow over
	// FlowWindow before they are sent; 0 means DefaultFlowPoll (5s) and
	// DefaultFlowWindow (1m). Tests shorten them.
	FlowPoll, FlowWindow time.Duration
	// WatchPoll and WatchRehash time the watch over the device's disk
	// (package watch): logs are read and files looked at every
	// WatchPoll, and every file hashed again every WatchRehash; 0 means
	// watch.DefaultPoll (2s) and watch.DefaultRehash (5m).
	WatchPoll, WatchRehash time.Duration
	// WatchLogsUnder are the directories under which the node follows the
	// logs the coordinator names; nil means watch.DefaultLogsUnder
	// (/var/log), empty none (`ward node --watch-logs-under`).
	WatchLogsUnder []string
	// Clock reads the node's clock; nil means time.Now. The agent keeps
	// its key times (state file, rotation schedule, peer expiry) on it
	// and converts the coordinator's to it. Tests set it to run a node
	// whose clock is off.
	Clock func() time.Time
	// Model is the device-model label update targets are checked against
	// (issue 16); "" matches only targets for any model.
	Model string
	// UpdateHealthWindow is how long a new Ward binary has to re-join the
	// coordinator before the device goes back to the previous one;
	// UpdatePoll how often the agent asks for an update (see
	// update.Config; 0: the defaults).
	UpdateHealthWindow, UpdatePoll time.Duration
	// LegacyDataPath runs the data path as it was before issue 12 (see
	// EngineConfig.LegacyDataPath) and leaves the Go runtime's memory
	// settings alone (see governMemory), for benchmarks against it.
	LegacyDataPath bool
	// TCPBufferMax bounds the netstack's TCP buffers (see
	// EngineConfig.TCPBufferMax), for benchmarks; 0: the default.
	TCPBufferMax int
	// ReadBatch bounds the packets one netstack Read returns (see
	// EngineConfig.ReadBatch), for benchmarks; 0: the default.
	ReadBatch int
	// UDPBatch is EngineConfig.UDPBatch, for benchmarks; 0: the default.
	UDPBatch int
	// UDPSocketBuffer is EngineConfig.UDPSocketBuffer, for benchmarks; 0:
	// the default.
	UDPSocketBuffer int
	// StdBind is EngineConfig.StdBind, for benchmarks.
	StdBind bool
	// CopyBuffer bounds the copy buffers of the SOCKS5 relay and of
	// exposed services (EngineConfig.CopyBuffer), for benchmarks; 0: the
	// default (128 KiB; each direction starts with 32 KiB and grows when
	// a read fills it).
	CopyBuffer int
	// InFlight is EngineConfig.InFlight (the packets wireguard-go may
	// hold each way), for benchmarks; 0: the default, negative: no bound.
	InFlight int
}

func (c *AgentConfig) validate() error {
	if c.StateDir == "" {
		return errors.New("agent config: no state directory")
	}
	if c.RotateFraction == 0 {
		c.RotateFraction = DefaultRotateFraction
	}
	if c.RotateFraction <= 0 || c.RotateFraction >= 1 {
		return fmt.Errorf("agent config: rotate fraction %v not in (0, 1)", c.RotateFraction)
	}
	if c.RotateEvery < 0 {
		return fmt.Errorf("agent config: negative rotate interval")
	}
	if c.SOCKS5 != "" && !c.AllowNonLoopbackProxy {
		if err := splice.CheckLoopback(c.SOCKS5); err != nil {
			return fmt.Errorf("agent config: --socks5 %w; the proxy would hand the overlay, as this node, to anyone who reaches it (--proxy-allow-non-loopback overrides)", err)
		}
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	if c.Backoff.Min <= 0 || c.Backoff.Max < c.Backoff.Min {
		c.Backoff = control.DefaultBackoff()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return nil
}

// Agent is a device's node agent: a Session with a device's key life
// (registration with a pre-auth key, rotation), the local API and the
// SOCKS5 proxy. Create it with NewAgent and run it with Run.
type Agent struct {
	cfg    AgentConfig
	log    *slog.Logger
	client *control.Client
	eng    *Engine
	keys   *deviceKeys
	sess   *Session
}

// NewAgent loads (or creates) the state in cfg.StateDir and prepares the
// agent. It does not contact the coordinator.
func NewAgent(cfg AgentConfig) (*Agent, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	st, created, err := LoadOrCreateState(cfg.StateDir, cfg.Clock())
	if err != nil {
		return nil, err
	}
	if cfg.Coordinator == "" {
		cfg.Coordinator = st.Coordinator
	}
	if cfg.Coordinator == "" {
		return nil, errors.New("no coordinator url: pass --coordinator")
	}
	cfg.Logger.Info("state loaded", "dir", cfg.StateDir, "new", created, "machine_key", st.MachineKey.Public().String())
	a := &Agent{cfg: cfg, log: cfg.Logger}
	keys := &deviceKeys{cfg: cfg, log: cfg.Logger, st: st, kickRotate: make(chan struct{}, 1)}
	if err := keys.promoteIfDue(keys.now()); err != nil {
		return nil, err
	}
	a.client, err = control.New(control.Config{URL: cfg.Coordinator, AllowInsecureHTTP: cfg.AllowInsecureHTTP,
		CAFile: cfg.CAFile, MachineKey: st.MachineKey, Logger: cfg.Logger, Backoff: cfg.Backoff, Clock: cfg.Clock,
		Beat: routerBeat(cfg.AdvertiseRoutes)})
	if err != nil {
		return nil, err
	}
	a.eng, err = NewEngine(EngineConfig{PrivateKey: st.WGKey, ListenPort: cfg.ListenPort, Expose: cfg.Expose, Logger: cfg.Logger,
		Clock: cfg.Clock, Relays: a.client, HomeRelay: cfg.HomeRelay, LegacyDataPath: cfg.LegacyDataPath, Kernel: cfg.Kernel,
		TCPBufferMax: cfg.TCPBufferMax, ReadBatch: cfg.ReadBatch, UDPBatch: cfg.UDPBatch,
		UDPSocketBuffer: cfg.UDPSocketBuffer, StdBind: cfg.StdBind, CopyBuffer: cfg.CopyBuffer, InFlight: cfg.InFlight})
	if err != nil {
		return nil, err
	}
	keys.client, keys.eng = a.client, a.eng
	a.keys = keys
	a.sess = newSession(sessionConfig{stateDir: cfg.StateDir, client: a.client, engine: a.eng, keys: keys,
		expose: cfg.Expose, routes: cfg.AdvertiseRoutes, endpoints: cfg.Endpoints, flowPoll: cfg.FlowPoll, flowWindow: cfg.FlowWindow,
		watchPoll: cfg.WatchPoll, watchRehash: cfg.WatchRehash, watchLogsUnder: cfg.WatchLogsUnder, log: cfg.Logger})
	return a, nil
}

// Engine returns the agent's data plane.
func (a *Agent) Engine() *Engine { return a.eng }

// SocketPath returns the local API socket's path.
func (a *Agent) SocketPath() string { return filepath.Join(a.cfg.StateDir, localapi.SocketName) }

// Run serves the local API and the SOCKS5 proxy and runs the session (see
// Session.Run: the saved map, registration, the map stream, reports, key
// rotation) until ctx is done. It stops every goroutine and the data plane
// before returning; it returns nil when ctx ended it, or the error that
// prevented the start.
func (a *Agent) Run(ctx context.Context) error {
	defer a.eng.Close()
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: the goroutines end with ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	l, err := localapi.Listen(a.SocketPath())
	if err != nil {
		return err
	}
	a.goRun(&wg, cancel, "local api", func() error { return localapi.Serve(ctx, l, a, a.log) })
	if !a.cfg.LegacyDataPath {
		a.goRun(&wg, cancel, "memory", func() error { governMemory(ctx, a.log); return nil })
	}
	if a.cfg.SOCKS5 != "" {
		sl, err := splice.Listen(a.cfg.SOCKS5, a.cfg.AllowNonLoopbackProxy, "socks5", a.log)
		if err != nil {
			return err
		}
		srv := &socks5.Server{Proxy: splice.Proxy{Dial: a.eng.DialPeer, Logger: a.log}}
		switch {
		case a.cfg.CopyBuffer > 0:
			srv.Limits.Buffer = a.cfg.CopyBuffer
		case a.cfg.LegacyDataPath:
			// 32 KiB a direction, never growing, as before issue 12.
			srv.Limits.Buffer = splice.StartBuffer
		}
		a.log.Info("socks5 proxy listening", "addr", sl.Addr().String())
		a.goRun(&wg, cancel, "socks5", func() error { return srv.Serve(ctx, sl) })
	}
	a.serveUAPI(ctx, &wg, cancel)
	if err := a.runUpdates(ctx, &wg, cancel); err != nil {
		return err
	}
	if err := a.sess.Run(ctx); err != nil {
		return err
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// serveUAPI serves the UAPI socket when the config names one. A socket
// that cannot be opened (not root, another device of that name) is
// logged, not fatal: the overlay works without it.
func (a *Agent) serveUAPI(ctx context.Context, wg *sync.WaitGroup, cancel context.CancelCauseFunc) {
	if a.cfg.UAPIName == "" || a.cfg.Kernel != nil {
		return
	}
	dir := a.cfg.UAPIDir
	if dir == "" {
		dir = DefaultUAPIDir
	}
	l, err := ListenUAPI(dir, a.cfg.UAPIName, a.log)
	if err != nil {
		a.log.Warn("no uapi socket: wg show and wgctrl will not see this node", "err", err)
		return
	}
	a.log.Info("uapi socket listening", "name", a.cfg.UAPIName, "dir", dir)
	a.goRun(wg, cancel, "uapi", func() error { return ServeUAPI(ctx, l, a.eng.WriteUAPI, a.log) })
}

// goRun runs fn on a goroutine tracked by wg; an error from fn stops the
// agent.
func (a *Agent) goRun(wg *sync.WaitGroup, cancel context.CancelCauseFunc, what string, fn func() error) {
	wg.Go(func() {
		if err := fn(); err != nil {
			cancel(fmt.Errorf("%s: %w", what, err))
		}
	})
}

// Status implements localapi.Backend.
func (a *Agent) Status() localapi.Status { return a.sess.Status() }

// Ping implements localapi.Backend.
func (a *Agent) Ping(ctx context.Context, peer string) (localapi.PingResult, error) {
	return a.eng.Ping(ctx, peer)
}

// DialPeer implements localapi.Backend.
func (a *Agent) DialPeer(ctx context.Context, peer string, port uint16) (net.Conn, error) {
	return a.eng.DialPeer(ctx, peer, port)
}

// hostOS is the OS reported at registration.
func hostOS() string { return runtime.GOOS + "/" + runtime.GOARCH }
