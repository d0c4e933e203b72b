package node

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/node/socks5"
	"github.com/wardnet/ward/node/splice"
	"github.com/wardnet/ward/wire"
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
	// SOCKS5 is the address of the SOCKS5 proxy; empty: no proxy. It must
	// be a loopback address unless AllowNonLoopbackProxy: the proxy asks
	// no credentials and connects as this node.
	SOCKS5 string
	// AllowNonLoopbackProxy lets SOCKS5 listen beyond loopback, with a
	// warning in the log.
	AllowNonLoopbackProxy bool
	// ListenPort is WireGuard's UDP port; 0 picks one.
	ListenPort uint16
	// Endpoints are the UDP endpoints announced to peers (port 0 means
	// the listen port); nil means the default (see endpoints).
	Endpoints []netip.AddrPort
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
	// Clock reads the node's clock; nil means time.Now. The agent keeps
	// its key times (state file, rotation schedule, peer expiry) on it
	// and converts the coordinator's to it. Tests set it to run a node
	// whose clock is off.
	Clock func() time.Time
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

// Agent is the node agent: an Engine driven by the coordinator's map
// stream, with key rotation, reports, the local API and the SOCKS5 proxy.
// Create it with NewAgent and run it with Run.
type Agent struct {
	cfg    AgentConfig
	log    *slog.Logger
	client *control.Client
	eng    *Engine

	// connected tells whether the map stream is open.
	connected atomic.Bool
	// needEndpoints and needPorts ask the reporter to send the endpoints
	// and the exposed ports; kickReport wakes it. portsSent tells that the
	// exposed ports went through once.
	needEndpoints atomic.Bool
	needPorts     atomic.Bool
	portsSent     atomic.Bool
	kickReport    chan struct{}
	// kickRotate wakes the rotator after the node's key expiry changed.
	kickRotate chan struct{}
	// kickSave wakes the map saver after a map message was applied.
	kickSave chan struct{}
	// refused is the coordinator's reason for refusing the last rotation
	// (403); nil when the last one was not refused.
	refused atomic.Pointer[string]

	// mu guards st, which is also written to the state file.
	mu sync.Mutex
	st *State
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
	a := &Agent{cfg: cfg, log: cfg.Logger, st: st, kickReport: make(chan struct{}, 1), kickRotate: make(chan struct{}, 1),
		kickSave: make(chan struct{}, 1)}
	if err := a.promoteIfDue(a.now()); err != nil {
		return nil, err
	}
	roots, err := loadRoots(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	a.client, err = control.New(control.Config{URL: cfg.Coordinator, AllowInsecureHTTP: cfg.AllowInsecureHTTP,
		RootCAs: roots, MachineKey: st.MachineKey, Logger: cfg.Logger, Backoff: cfg.Backoff, Clock: cfg.Clock})
	if err != nil {
		return nil, err
	}
	a.eng, err = NewEngine(EngineConfig{PrivateKey: st.WGKey, ListenPort: cfg.ListenPort, Expose: cfg.Expose, Logger: cfg.Logger,
		Clock: cfg.Clock})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// now reads the node's clock (AgentConfig.Clock).
func (a *Agent) now() time.Time { return a.cfg.Clock() }

// Engine returns the agent's data plane.
func (a *Agent) Engine() *Engine { return a.eng }

// SocketPath returns the local API socket's path.
func (a *Agent) SocketPath() string { return filepath.Join(a.cfg.StateDir, localapi.SocketName) }

// Run starts the data plane from the map saved by the last run (if any),
// serves the local API, registers the node if needed, then follows the map
// stream (resuming from the saved map's version), reports, rotates keys
// and serves the SOCKS5 proxy until ctx is done. It stops every goroutine
// and the data plane before returning; it returns nil when ctx ended it,
// or the error that prevented the start.
func (a *Agent) Run(ctx context.Context) error {
	defer a.eng.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	defer wg.Wait()
	l, err := localapi.Listen(a.SocketPath())
	if err != nil {
		return err
	}
	saved := a.restoreMap()
	a.goRun(&wg, cancel, "map saver", func() error { a.saveLoop(ctx, saved); return nil })
	a.goRun(&wg, cancel, "local api", func() error { return localapi.Serve(ctx, l, a, a.log) })
	if a.cfg.SOCKS5 != "" {
		sl, err := splice.Listen(a.cfg.SOCKS5, a.cfg.AllowNonLoopbackProxy, "socks5", a.log)
		if err != nil {
			return err
		}
		srv := &socks5.Server{Dial: a.eng.DialPeer, Logger: a.log}
		a.log.Info("socks5 proxy listening", "addr", sl.Addr().String())
		a.goRun(&wg, cancel, "socks5", func() error { return srv.Serve(ctx, sl) })
	}
	if err := a.register(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		cancel(err)
		return err
	}
	since := a.resumeVersion()
	a.goRun(&wg, cancel, "map stream", func() error { a.client.FollowMap(ctx, since, a); return nil })
	a.goRun(&wg, cancel, "reporter", func() error { a.reportLoop(ctx); return nil })
	a.goRun(&wg, cancel, "rotator", func() error { a.rotateLoop(ctx); return nil })
	<-ctx.Done()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// goRun runs fn on a goroutine tracked by wg; an error from fn stops the
// agent.
func (a *Agent) goRun(wg *sync.WaitGroup, cancel context.CancelCauseFunc, what string, fn func() error) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := fn(); err != nil {
			cancel(fmt.Errorf("%s: %w", what, err))
		}
	}()
}

// HandleMap implements control.MapHandler.
func (a *Agent) HandleMap(m wire.MapResponse) error {
	wasRunning := a.eng.ListenPort() != 0
	if err := a.eng.Apply(m); err != nil {
		return err
	}
	if !wasRunning && a.eng.ListenPort() != 0 {
		a.requestEndpoints()
	}
	kick(a.kickSave)
	if m.Self != nil {
		a.checkExposed(m.Self.ExposedPorts)
		kick(a.kickRotate)
	}
	return nil
}

// resumeVersion is the map version to resume the stream from: the saved
// map's, when it is the registered node's; else 0 (a full map).
func (a *Agent) resumeVersion() uint64 {
	a.mu.Lock()
	id := a.st.NodeID
	a.mu.Unlock()
	if self := a.eng.Self(); self.ID == 0 || self.ID != id {
		return 0
	}
	return a.eng.MapVersion()
}

// SetConnected implements control.MapHandler.
func (a *Agent) SetConnected(c bool) {
	a.connected.Store(c)
	if c {
		a.log.Info("map stream connected", "coordinator", a.client.URL())
		a.requestEndpoints()
	}
}

// Status implements localapi.Backend.
func (a *Agent) Status() localapi.Status {
	st := a.eng.Status()
	st.Coordinator = a.client.URL()
	st.Connected = a.connected.Load()
	if r := a.refused.Load(); r != nil {
		st.KeyRefused = *r
	}
	return st
}

// Ping implements localapi.Backend.
func (a *Agent) Ping(ctx context.Context, peer string) (localapi.PingResult, error) {
	return a.eng.Ping(ctx, peer)
}

// DialPeer implements localapi.Backend.
func (a *Agent) DialPeer(ctx context.Context, peer string, port uint16) (net.Conn, error) {
	return a.eng.DialPeer(ctx, peer, port)
}

// loadRoots reads a PEM CA bundle; "" gives nil (the system's roots).
func loadRoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ca file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("read ca file %s: no PEM certificate", path)
	}
	return pool, nil
}

// kick signals ch without blocking.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// hostOS is the OS reported at registration.
func hostOS() string { return runtime.GOOS + "/" + runtime.GOARCH }
