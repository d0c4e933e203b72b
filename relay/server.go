package relay

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// MessageTimeout bounds the time from a message's first byte to its
	// last: a connection stalling within a message (holding a 32 KiB
	// read buffer) is closed. 0 means DefaultMessageTimeout.
	MessageTimeout time.Duration
	// Linger is how long a connection's reader waits for the next message
	// before it parks the connection in the poller (no goroutine, no
	// buffer); 0 means DefaultLinger.
	Linger time.Duration
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
}

// Defaults of Config.
const (
	// DefaultRateBytes is 12.5 MB/s (100 Mbit/s) per key.
	DefaultRateBytes = 12_500_000
	// DefaultBurstBytes lets a key send 256 KiB at once.
	DefaultBurstBytes = 256 << 10
	// DefaultQueueLen bounds one connection's queue: a burst of 64
	// packets, as wireguard-go writes in batches (at most 100 KB of
	// full-size frames, held only while they wait).
	DefaultQueueLen = 64
	// RefusalEvery is the least time between two refusals for the same
	// destination on one connection.
	RefusalEvery = 2 * time.Second
	// DefaultMessageTimeout lets a message of MaxMessage bytes arrive at
	// 10 kbit/s.
	DefaultMessageTimeout = 30 * time.Second
	// DefaultLinger keeps a busy connection's reader from parking
	// between its messages.
	DefaultLinger = 2 * time.Second
)

// Stats counts what a Server dropped.
type Stats struct {
	// QueueDrops are frames dropped because a queue was full.
	QueueDrops uint64
	// Refused are SENDs refused (whether or not a REFUSED went back).
	Refused uint64
	// Forwarded are frames handed to a destination's queue.
	Forwarded uint64
	// Conns are the connections admitted now.
	Conns int
	// Parked are the connections waiting in the poller now: idle, with no
	// goroutine of their own.
	Parked int
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
	// closed is set by Close: no connection is admitted after it.
	closed bool
	// poll watches parked connections; nil until the first parks, and
	// when there can be none (see conn.raw).
	poll *poller
	// pollTried is set once poll was made (or failed to be).
	pollTried bool

	queueDrops, refused, forwarded atomic.Uint64
	// parked counts connections parked.
	parked atomic.Int64
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
	if cfg.MessageTimeout <= 0 {
		cfg.MessageTimeout = DefaultMessageTimeout
	}
	if cfg.Linger <= 0 {
		cfg.Linger = DefaultLinger
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log, conns: map[wire.WGPublic]*conn{}, cuts: map[wire.WGPublic]time.Time{}}
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	return Stats{QueueDrops: s.queueDrops.Load(), Refused: s.refused.Load(), Forwarded: s.forwarded.Load(), Conns: n,
		Parked: int(s.parked.Load())}
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

// ServeHTTP admits a connection carrying a valid token and relays its
// frames until it closes, is replaced or cut. The handler returns at
// once: the connection outlives the request, read only while it has
// something to read (see serve).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	claims, err := s.admit(r)
	if err != nil {
		http.Error(w, "relay: unauthorized", http.StatusUnauthorized)
		return
	}
	accept, err := checkUpgrade(r)
	if err != nil {
		http.Error(w, "relay: a WebSocket upgrade is required", http.StatusBadRequest)
		return
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "relay: cannot take the connection", http.StatusInternalServerError)
		return
	}
	c := newConn(s, claims.Key, nc)
	// Bytes the client sent after its request, not waiting for the
	// answer, are the start of its first message.
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		c.rd.buf = readPool.Get().(*[]byte)
		c.rd.w = copy(*c.rd.buf, early)
	}
	nc.SetWriteDeadline(time.Now().Add(s.cfg.MessageTimeout))
	_, err = io.WriteString(nc, upgradeResponse(accept))
	nc.SetWriteDeadline(time.Time{})
	if err != nil || !s.register(c, claims) {
		c.sendClose(closePolicyViolation)
		c.close()
		c.rd.drop()
		return
	}
	// This goroutine, whose stack grew through net/http and TLS, ends
	// here: the connection parks at once unless it has bytes to read.
	s.resume(c, 0)
}

// resume serves c in a goroutine of its own when it has something to
// read within linger, else parks it.
func (s *Server) resume(c *conn, linger time.Duration) {
	if c.raw != nil && c.rd.idle() {
		more, err := s.await(c, linger)
		if err != nil {
			s.end(c, err)
			return
		}
		if !more && s.park(c) {
			return
		}
	}
	go s.serve(c)
}

// serve reads c while it has something to read, relaying its messages,
// then parks it, or closes it when it ends. A busy connection's reader
// waits Linger for the next message before it parks.
func (s *Server) serve(c *conn) {
	for {
		if c.rd.idle() {
			if err := s.wait(c); err != nil {
				if !errors.Is(err, errParked) {
					s.end(c, err)
				}
				return
			}
		}
		if err := s.readMessage(c); err != nil {
			s.end(c, err)
			return
		}
		c.rd.release()
	}
}

// errParked ends a reader whose connection parked.
var errParked = errors.New("relay: connection parked")

// wait waits for c to have something to read: up to Linger, then it parks
// c (errParked), or as long as it takes when c cannot park.
func (s *Server) wait(c *conn) error {
	if c.raw == nil {
		return c.waitAny()
	}
	more, err := s.await(c, s.cfg.Linger)
	if err != nil || more {
		return err
	}
	if s.park(c) {
		return errParked
	}
	return c.waitAny()
}

// await reports whether c, which holds nothing read, has something to
// read within linger (0: what TLS holds now), and reads it.
func (s *Server) await(c *conn, linger time.Duration) (bool, error) {
	deadline := time.Unix(1, 0) // past
	if linger > 0 {
		deadline = time.Now().Add(linger)
	}
	return c.readSmall(deadline)
}

// park hands c to the poller, which serves it again when it becomes
// readable; false when it cannot (no poller, c closed).
func (s *Server) park(c *conn) bool {
	p := s.poller()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return false
	}
	if err := p.arm(c); err != nil {
		s.log.Debug("relay connection cannot park", "key", c.key.ShortString(), "err", err)
		c.raw = nil
		return false
	}
	c.parked = true
	s.parked.Add(1)
	return true
}

// unpark serves c, parked and now readable.
func (s *Server) unpark(c *conn) {
	c.mu.Lock()
	ok := c.unparkLocked() && !c.closed.Load()
	c.mu.Unlock()
	if ok {
		go s.serve(c)
	}
}

// poller returns the server's poller, started at the first call; nil
// when it cannot start.
func (s *Server) poller() *poller {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.pollTried && !s.closed {
		s.pollTried = true
		p, err := newPoller(s.unpark)
		if err != nil {
			s.log.Warn("relay connections cannot park: each keeps a goroutine", "err", err)
		}
		s.poll = p
	}
	return s.poll
}

// end unregisters and closes c, which ended with err, with a close frame
// (a no-op after close).
func (s *Server) end(c *conn, err error) {
	s.unregister(c)
	code := uint16(closeNormal)
	if errors.Is(err, ErrBadFrame) {
		code = closeProtocolError
	}
	c.sendClose(code)
	c.close()
	c.rd.drop()
	s.log.Debug("relay connection closed", "key", c.key.ShortString(), "err", err)
}

// Close ends every connection; the server admits no more.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	clear(s.conns) // parked connections have no reader to unregister them
	p := s.poll
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	if p != nil {
		p.close()
	}
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
	closed := s.closed
	cut := s.cutLocked(c)
	s.mu.Unlock()
	if closed {
		return Claims{}, errClosed
	}
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
// false when the key was cut after the token was issued or the server
// closed.
func (s *Server) register(c *conn, cl Claims) bool {
	s.mu.Lock()
	if s.closed || s.cutLocked(cl) {
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

// readMessage reads one message from c and relays its frames (nothing
// for a control frame).
func (s *Server) readMessage(c *conn) error {
	msg, err := c.readMessage(s.cfg.MessageTimeout)
	if err == nil && msg != nil {
		err = checkMessage(msg, false)
	}
	if err != nil {
		return fmt.Errorf("read from %s: %w", c.key.ShortString(), err)
	}
	if msg != nil {
		s.forwardAll(c, msg)
	}
	return nil
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

// forwardAll forwards every SEND of msg, a checked message, until c is
// closed (cut, replaced): a cut node's message is not relayed past the cut.
func (s *Server) forwardAll(c *conn, msg []byte) {
	now := time.Now()
	for len(msg) > 0 && !c.closed.Load() {
		f, rest, _ := Next(msg)
		s.forward(c, f, HeaderLen+len(f.Payload), now)
		msg = rest
	}
}

// forward hands the SEND f of n bytes to its destination as a RECV, or
// refuses it.
func (s *Server) forward(c *conn, f Frame, n int, now time.Time) {
	to := f.Key
	switch {
	case !c.lim.AllowN(now, n):
		s.refuse(c, to, RateLimited, now)
	case s.cfg.Authorizer == nil || !s.cfg.Authorizer.MayRelay(c.key, to):
		s.refuse(c, to, NotPeer, now)
	default:
		dst := s.lookup(to)
		if dst == nil {
			s.refuse(c, to, NotConnected, now)
			return
		}
		if !dst.enqueue(TypeRecv, c.key, f.Payload) {
			s.queueDrops.Add(1)
			return
		}
		s.forwarded.Add(1)
	}
}

// refuse answers a refused SEND to to, at most once per RefusalEvery.
func (s *Server) refuse(c *conn, to wire.WGPublic, why Reason, now time.Time) {
	s.refused.Add(1)
	if c.refusals == nil {
		c.refusals = ratelimit.New[wire.WGPublic](RefusalEvery, 1, 64)
	}
	if ok, _ := c.refusals.Allow(to, now); !ok {
		return
	}
	if !c.enqueue(TypeRefused, to, []byte{byte(why)}) {
		s.queueDrops.Add(1)
	}
}
