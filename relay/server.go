package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/wardnet/ward/ratelimit"
	"github.com/wardnet/ward/wire"
)

// errClosed refuses a connection to a closed Server.
var errClosed = errors.New("relay: server closed")

// Authorizer decides, per frame, whether from may send to to. It must be
// cheap and safe for concurrent use.
type Authorizer interface {
	MayRelay(from, to wire.WGPublic) bool
}

// Admitter is an Authorizer that also decides admissions: a Server whose
// Authorizer implements it admits a verified, uncut token only when
// MayAdmit says yes. It is called once per upgrade request, from its
// handler, and may block (a standalone relay asks its coordinator).
type Admitter interface {
	MayAdmit(c Claims) bool
}

// Config configures a Server.
type Config struct {
	// Verifier checks admission tokens; nil refuses every connection.
	Verifier *Verifier
	// Authorizer decides who may send to whom; nil refuses every frame.
	Authorizer Authorizer
	// RateBytes and BurstBytes bound what one key may send (bytes per
	// second, bucket size); 0 means DefaultRateBytes, DefaultBurstBytes.
	RateBytes, BurstBytes int
	// QueueLen bounds frames waiting for one connection; 0 means
	// DefaultQueueLen. A frame for a full queue is dropped and counted.
	QueueLen int
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// Defaults of Config.
const (
	// DefaultRateBytes is 12.5 MB/s (100 Mbit/s) per key.
	DefaultRateBytes = 12_500_000
	// DefaultBurstBytes lets a key send 256 KiB at once.
	DefaultBurstBytes = 256 << 10
	// DefaultQueueLen bounds one connection's queue (about 48 KB of
	// full-size packets).
	DefaultQueueLen = 32
	// RefusalEvery is the least time between two refusals for the same
	// destination on one connection.
	RefusalEvery = 2 * time.Second
	// writerLinger is how long a connection's writer waits for a frame
	// before it ends.
	writerLinger = 2 * time.Second
)

// Stats counts what a Server dropped.
type Stats struct {
	// QueueDrops are frames dropped because a queue was full.
	QueueDrops uint64
	// Refused are SENDs refused (whether or not a REFUSED went back).
	Refused uint64
	// Forwarded are frames handed to a destination's queue.
	Forwarded uint64
}

// Server is the relay: an http.Handler accepting WebSocket connections.
type Server struct {
	cfg Config
	log *slog.Logger

	mu sync.Mutex // mu guards the following
	// conns is the one connection of each admitted key.
	conns map[wire.WGPublic]*conn
	// cuts holds keys cut at a time: tokens issued before it are refused
	// until they must have expired.
	cuts map[wire.WGPublic]time.Time

	queueDrops, refused, forwarded atomic.Uint64
	// ctx ends with Close; every connection's context derives from it.
	ctx  context.Context
	stop context.CancelFunc
}

// NewServer returns a relay with cfg.
func NewServer(cfg Config) *Server {
	if cfg.RateBytes <= 0 {
		cfg.RateBytes = DefaultRateBytes
	}
	if cfg.BurstBytes <= 0 {
		cfg.BurstBytes = DefaultBurstBytes
	}
	if cfg.BurstBytes < MaxFrame {
		cfg.BurstBytes = MaxFrame
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Server{cfg: cfg, log: log, conns: map[wire.WGPublic]*conn{}, cuts: map[wire.WGPublic]time.Time{}, ctx: ctx, stop: stop}
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{QueueDrops: s.queueDrops.Load(), Refused: s.refused.Load(), Forwarded: s.forwarded.Load()}
}

// Connected reports whether key has a connection.
func (s *Server) Connected(key wire.WGPublic) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[key] != nil
}

// Cut closes key's connection at once and refuses it again until a token
// issued after now: a revoked node's tokens stay valid up to MaxTokenLife.
func (s *Server) Cut(key wire.WGPublic) {
	now := time.Now()
	s.mu.Lock()
	c := s.conns[key]
	delete(s.conns, key)
	s.cuts[key] = now
	for k, at := range s.cuts {
		if now.Sub(at) > MaxTokenLife+2*DefaultSkew {
			delete(s.cuts, k)
		}
	}
	s.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// conn is one admitted connection.
type conn struct {
	key    wire.WGPublic
	ws     *websocket.Conn
	out    chan []byte
	lim    *rate.Limiter
	ctx    context.Context
	cancel context.CancelFunc
	// writing is set while a writeLoop runs: one starts when a frame is
	// queued and ends after writerLinger without one, so an idle
	// connection holds one goroutine, not two.
	writing atomic.Bool
	// refusals limits REFUSED frames per destination; made at the first.
	refusals *ratelimit.Keyed[wire.WGPublic]
}

func (c *conn) close() { c.cancel() }

var framePool = sync.Pool{New: func() any { b := make([]byte, MaxFrame+1); return &b }}

// ServeHTTP admits a connection carrying a valid token and relays its
// frames until it closes, is replaced or cut.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	claims, err := s.admit(r)
	if err == nil && s.ctx.Err() != nil {
		err = errClosed
	}
	if err != nil {
		http.Error(w, "relay: unauthorized", http.StatusUnauthorized)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	ws.SetReadLimit(MaxFrame)
	// The connection outlives this handler (see below): its context is
	// the server's, not the request's, which ends when the handler returns.
	ctx, cancel := context.WithCancel(s.ctx)
	c := &conn{key: claims.Key, ws: ws, out: make(chan []byte, s.cfg.QueueLen), ctx: ctx, cancel: cancel,
		lim: rate.NewLimiter(rate.Limit(s.cfg.RateBytes), s.cfg.BurstBytes)}
	if !s.register(c, claims) {
		cancel()
		ws.Close(websocket.StatusPolicyViolation, "cut")
		return
	}
	// A fresh goroutine reads, and this one, whose stack grew through
	// net/http and TLS, ends: an idle connection costs less.
	go func() {
		defer cancel()
		defer s.unregister(c)
		err := s.readLoop(ctx, c)
		ws.Close(websocket.StatusNormalClosure, "")
		s.log.Debug("relay connection closed", "key", c.key.ShortString(), "err", err)
	}()
}

// Close ends every connection; the server admits no more.
func (s *Server) Close() {
	s.stop()
}

// admit checks the upgrade request's bearer token.
func (s *Server) admit(r *http.Request) (Claims, error) {
	if s.cfg.Verifier == nil {
		return Claims{}, ErrBadToken
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return Claims{}, ErrBadToken
	}
	c, err := s.cfg.Verifier.Verify(tok, time.Now())
	if err != nil {
		return Claims{}, err
	}
	s.mu.Lock()
	cut := s.cutLocked(c)
	s.mu.Unlock()
	if cut {
		return Claims{}, fmt.Errorf("%w: key cut", ErrBadToken)
	}
	// Outside mu: MayAdmit may wait for the coordinator. A cut arriving
	// meanwhile is seen by register.
	if a, ok := s.cfg.Authorizer.(Admitter); ok && !a.MayAdmit(c) {
		return Claims{}, fmt.Errorf("%w: not admitted", ErrBadToken)
	}
	return c, nil
}

// cutLocked reports whether c's key was cut when or after c was issued.
func (s *Server) cutLocked(c Claims) bool {
	at, ok := s.cuts[c.Key]
	return ok && !c.IssuedAt.After(at)
}

// register makes c its key's connection, closing the one it replaces;
// false when the key was cut after the token was issued.
func (s *Server) register(c *conn, cl Claims) bool {
	s.mu.Lock()
	if s.cutLocked(cl) {
		s.mu.Unlock()
		return false
	}
	old := s.conns[c.key]
	s.conns[c.key] = c
	s.mu.Unlock()
	if old != nil {
		old.close()
	}
	return true
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	if s.conns[c.key] == c {
		delete(s.conns, c.key)
	}
	s.mu.Unlock()
}

func (s *Server) lookup(key wire.WGPublic) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[key]
}

// readLoop relays c's SEND frames until c ends.
func (s *Server) readLoop(ctx context.Context, c *conn) error {
	for {
		typ, rd, err := c.ws.Reader(ctx)
		if err != nil {
			return err
		}
		bp := framePool.Get().(*[]byte)
		n, err := readFull(rd, *bp)
		if err != nil || typ != websocket.MessageBinary {
			framePool.Put(bp)
			return errors.Join(err, ErrBadFrame)
		}
		f, err := Decode((*bp)[:n])
		if err != nil || f.Type != TypeSend {
			framePool.Put(bp)
			return errors.Join(err, ErrBadFrame)
		}
		s.forward(c, f, bp, n)
	}
}

// readFull reads one message into buf; a message filling buf is too big.
func readFull(r io.Reader, buf []byte) (int, error) {
	n := 0
	for {
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if n == len(buf) {
			return n, ErrBadFrame
		}
	}
}

// forward hands the SEND in *bp to its destination as a RECV, or refuses.
func (s *Server) forward(c *conn, f Frame, bp *[]byte, n int) {
	to := f.Key
	switch {
	case !c.lim.AllowN(time.Now(), n):
		s.refuse(c, to, RateLimited)
	case s.cfg.Authorizer == nil || !s.cfg.Authorizer.MayRelay(c.key, to):
		s.refuse(c, to, NotPeer)
	default:
		dst := s.lookup(to)
		if dst == nil {
			s.refuse(c, to, NotConnected)
			break
		}
		buf := *bp
		buf[0] = byte(TypeRecv)
		copy(buf[1:HeaderLen], c.key[:])
		*bp = buf[:n]
		if dst.enqueue(*bp) {
			s.forwarded.Add(1)
			return
		}
		s.queueDrops.Add(1)
	}
	*bp = (*bp)[:cap(*bp)]
	framePool.Put(bp)
}

// refuse answers a refused SEND to to, at most once per RefusalEvery.
func (s *Server) refuse(c *conn, to wire.WGPublic, why Reason) {
	s.refused.Add(1)
	if c.refusals == nil {
		c.refusals = ratelimit.New[wire.WGPublic](RefusalEvery, 1, 64)
	}
	if ok, _ := c.refusals.Allow(to, time.Now()); !ok {
		return
	}
	if !c.enqueue(Append(make([]byte, 0, HeaderLen+1), TypeRefused, to, []byte{byte(why)})) {
		s.queueDrops.Add(1)
	}
}

// enqueue queues b for c, starting its writer when none runs; false when
// the queue is full.
func (c *conn) enqueue(b []byte) bool {
	select {
	case c.out <- b:
	default:
		return false
	}
	if c.writing.CompareAndSwap(false, true) {
		go c.writeLoop()
	}
	return true
}

// writeLoop writes c's queue until it stays empty for writerLinger or c
// ends.
func (c *conn) writeLoop() {
	idle := time.NewTimer(writerLinger)
	defer idle.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-idle.C:
			c.writing.Store(false)
			// A frame queued before the store found the writer running.
			if len(c.out) == 0 || !c.writing.CompareAndSwap(false, true) {
				return
			}
			idle.Reset(writerLinger)
		case b := <-c.out:
			err := c.ws.Write(c.ctx, websocket.MessageBinary, b)
			if cap(b) == MaxFrame+1 {
				b = b[:cap(b)]
				framePool.Put(&b)
			}
			if err != nil {
				c.cancel()
				return
			}
			idle.Reset(writerLinger)
		}
	}
}
