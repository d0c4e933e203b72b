package node

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// sessionConfig configures a Session; newSession checks it.
type sessionConfig struct {
	// stateDir holds the saved map (MapFile).
	stateDir string
	// client talks to the coordinator for this machine.
	client *control.Client
	// engine is the data plane, made with the key keys holds; the Session
	// closes it.
	engine *Engine
	// keys is the key's life.
	keys keyLife
	// expose are the ports the node exposes; reported when the
	// coordinator's differ. Empty for a person's machine.
	expose []uint16
	// routes are the subnet routes the node advertises (an Agent's
	// AdvertiseRoutes); reported once per run. Empty for a person's
	// machine.
	routes []netip.Prefix
	// endpoints are the UDP endpoints announced to peers (port 0: the
	// listen port); nil means this machine's addresses (see endpoints).
	endpoints []netip.AddrPort
	// flowPoll and flowWindow time the flow log; 0 means DefaultFlowPoll
	// and DefaultFlowWindow.
	flowPoll, flowWindow time.Duration
	// watchPoll and watchRehash time the watch over the disk; 0 means
	// watch.DefaultPoll and watch.DefaultRehash.
	watchPoll, watchRehash time.Duration
	// watchLogsUnder limits the logs followed (watch.Config.LogsUnder).
	watchLogsUnder []string
	log            *slog.Logger
}

// Session is one machine's life with the coordinator, the same for a
// device and a person's machine: the data plane (an Engine) started from
// the map saved by the last run, the key's life (keyLife: rotating for a
// device, bound to the SSO session for a person), the map stream followed
// and resumed from the last version applied, the map saved for restarts,
// and reports of the UDP endpoints, the exposed ports and the denied
// flows. Create it with NewPersonSession, or through an Agent, and run it
// with Run (once).
type Session struct {
	cfg    sessionConfig
	log    *slog.Logger
	client *control.Client
	eng    *Engine
	keys   keyLife

	// connected tells whether the map stream is open.
	connected atomic.Bool
	// needEndpoints and needPorts ask the reporter to send the endpoints
	// and the exposed ports; kickReport wakes it. portsSent tells that the
	// exposed ports went through once.
	needEndpoints atomic.Bool
	needPorts     atomic.Bool
	portsSent     atomic.Bool
	// needRoutes asks the reporter to send the advertised routes;
	// routesSent tells that they went through once.
	needRoutes atomic.Bool
	routesSent atomic.Bool
	kickReport chan struct{}
	// kickSave wakes the map saver after a map message was applied.
	kickSave chan struct{}
	// firstMap is closed once the first full map from the coordinator
	// was applied.
	firstMap  chan struct{}
	firstOnce sync.Once
	// joined is closed once a map stream from the coordinator opened
	// (the coordinator took the session: it can be reached).
	joined     chan struct{}
	joinedOnce sync.Once
	// closed is closed by Close, and when Run returns.
	closed    chan struct{}
	closeOnce sync.Once
}

// newSession returns a Session over cfg's Engine; it does not contact the
// coordinator.
func newSession(cfg sessionConfig) *Session {
	s := &Session{cfg: cfg, log: cfg.log, client: cfg.client, eng: cfg.engine, keys: cfg.keys,
		kickReport: make(chan struct{}, 1), kickSave: make(chan struct{}, 1), firstMap: make(chan struct{}),
		joined: make(chan struct{}), closed: make(chan struct{})}
	if s.eng != nil {
		s.eng.OnEndpointsChanged(s.requestEndpoints)
	}
	return s
}

// newFlowLog returns the session's flow log, spilling into the state
// directory.
func (s *Session) newFlowLog() *flowLog {
	spool := ""
	if s.cfg.stateDir != "" {
		spool = filepath.Join(s.cfg.stateDir, flowSpoolDir)
	}
	return newFlowLog(cmp.Or(s.cfg.flowWindow, DefaultFlowWindow), spool, s.log)
}

// Engine returns the session's data plane.
func (s *Session) Engine() *Engine { return s.eng }

// KeyExpiry returns when the key in use expires, on the node's clock.
func (s *Session) KeyExpiry() time.Time { return s.keys.Expiry() }

// Connected tells whether the map stream is open.
func (s *Session) Connected() bool { return s.connected.Load() }

// Run starts the data plane from the map saved by the last run (if it is
// this node's), lets the key's life join (a device registers), then
// follows the map stream (resuming from the saved map's version), reports
// and saves the map, until ctx is done, Close is called or the key's life
// ends. It stops every goroutine and closes the Engine before returning.
// It returns nil when ctx or Close ended it, an *EndError (ErrEnded) when
// the key's life did, or the error that prevented the start.
func (s *Session) Run(ctx context.Context) error {
	defer s.Close()
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: the goroutines end with ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wg.Go(func() {
		select {
		case <-s.closed:
			cancel(nil)
		case <-ctx.Done():
		}
	})
	saved := s.restoreMap()
	wg.Go(func() { s.saveLoop(ctx, saved) })
	if err := s.keys.Join(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	since := s.resumeVersion()
	wg.Go(func() { s.client.FollowMap(ctx, since, s) })
	wg.Go(func() { s.reportLoop(ctx) })
	wg.Go(func() { s.flowLoop(ctx, s.newFlowLog(), cmp.Or(s.cfg.flowPoll, DefaultFlowPoll)) })
	wg.Go(func() { s.watchLoop(ctx) })
	wg.Go(func() {
		if end := s.keys.Run(ctx); end != nil {
			s.log.Info("session ended", "reason", end.Reason)
			cancel(end)
		}
	})
	<-ctx.Done()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Close stops the data plane at once and ends Run; it does not wait for
// Run to return. It is idempotent.
func (s *Session) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.eng.Close()
}

// HandleMap implements control.MapHandler. It hands m's peer lists back
// to the decoders (wire.ReleaseMap): the caller must not use them after.
func (s *Session) HandleMap(m wire.MapResponse) error {
	wasRunning := s.eng.ListenPort() != 0
	err := s.eng.Apply(m)
	// The engine copies the records it keeps (netmap.apply): the next
	// message's decoding reuses the lists.
	wire.ReleaseMap(&m)
	if err != nil {
		return err
	}
	if !wasRunning && s.eng.ListenPort() != 0 {
		s.requestEndpoints()
	}
	kick(s.kickSave)
	if m.Self != nil {
		s.checkExposed(m.Self.ExposedPorts)
		s.checkRoutes(m.Self.Routes)
		s.keys.SelfChanged(*m.Self)
	}
	if m.Full {
		s.firstOnce.Do(func() { close(s.firstMap) })
	}
	return nil
}

// SetConnected implements control.MapHandler.
func (s *Session) SetConnected(c bool) {
	s.connected.Store(c)
	if c {
		s.joinedOnce.Do(func() { close(s.joined) })
		s.log.Info("map stream connected", "coordinator", s.client.URL())
		s.requestEndpoints()
		return
	}
	if s.eng != nil {
		s.eng.CheckPaths()
	}
}

// resumeVersion is the map version to resume the stream from: the applied
// map's, when it is the node's the key's life names; else 0 (a full map).
func (s *Session) resumeVersion() uint64 {
	id := s.keys.NodeID()
	if self := s.eng.Self(); self.ID == 0 || self.ID != id {
		return 0
	}
	return s.eng.MapVersion()
}

// WaitFirstMap waits until the first full map from the coordinator was
// applied, ctx ends, the session ends or d passes, and reports whether
// the map came.
func (s *Session) WaitFirstMap(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.firstMap:
		return true
	case <-ctx.Done():
	case <-s.closed:
	case <-t.C:
	}
	return false
}

// WaitJoined waits until a map stream from the coordinator opened (the
// coordinator can be reached and took this node's session), ctx ends, the
// session ends or d passes, and reports whether it opened. A resumed
// stream counts, though it may bring no full map.
func (s *Session) WaitJoined(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.joined:
		return true
	case <-ctx.Done():
	case <-s.closed:
	case <-t.C:
	}
	return false
}

// Status describes the node, its peers and the coordinator link, for the
// local API.
func (s *Session) Status() localapi.Status {
	st := s.eng.Status()
	st.Coordinator = s.client.URL()
	st.Connected = s.connected.Load()
	s.keys.Describe(&st)
	return st
}

// kick signals ch without blocking.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

var _ control.MapHandler = (*Session)(nil)
