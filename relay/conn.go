package relay

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/wardnet/ward/ratelimit"
	"github.com/wardnet/ward/wire"
)

// conn is one admitted connection. Frames for it wait in one buffer,
// written as one WebSocket message (one write) per MaxMessage by a writer
// goroutine that runs only while there is something to write. Its reader
// runs only while there is something to read: an idle connection waits in
// its server's poller with no goroutine and no buffer (see Server.serve).
type conn struct {
	key wire.WGPublic
	srv *Server
	// nc is the hijacked connection (a *tls.Conn over TLS).
	nc net.Conn
	// raw is the TCP connection below nc, which the poller watches; nil
	// when there is none (nc is of another type) or it cannot be watched:
	// the reader then waits in a read.
	raw syscall.RawConn
	// tls is set when nc is a *tls.Conn: bytes may wait decrypted in it.
	tls      bool
	lim      *rate.Limiter
	queueLen int
	// refusals limits REFUSED frames per destination; made at the first.
	// Only the connection's reader uses it.
	refusals *ratelimit.Keyed[wire.WGPublic]
	// rd is the reader's state; only the goroutine serving c uses it.
	rd reader

	wmu sync.Mutex // wmu orders writes to nc

	mu sync.Mutex // mu guards the following
	// queue holds frames waiting, back to back after maxServerHeader
	// bytes of room for a frame header, in a buffer from msgPool; nil
	// when none wait.
	queue *[]byte
	// queued counts the frames in queue, at most queueLen.
	queued int
	// wake, while a writeLoop runs, tells it that queue has frames; nil
	// otherwise.
	wake chan struct{}
	// parked is set while c waits in the poller, no goroutine reading it.
	parked bool
	// fd is c's descriptor in the poller; -1 when not in it.
	fd int
	// closed is set by close: nothing is queued after it, and the
	// connection's own SENDs not yet forwarded are dropped. Read without
	// mu too.
	closed atomic.Bool
}

// newConn returns the connection of key over nc, hijacked by srv.
func newConn(srv *Server, key wire.WGPublic, nc net.Conn) *conn {
	c := &conn{key: key, srv: srv, nc: nc, queueLen: srv.cfg.QueueLen, fd: -1,
		lim: rate.NewLimiter(rate.Limit(srv.cfg.RateBytes), srv.cfg.BurstBytes)}
	below := nc
	if t, ok := nc.(*tls.Conn); ok {
		c.tls, below = true, t.NetConn()
	}
	// Only a TCP connection: a wrapper might hold bytes read that the
	// poller cannot see.
	if tc, ok := below.(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			c.raw = rc
		}
	}
	return c
}

// writerLinger is how long a connection's writer waits for a frame before
// it ends.
const writerLinger = 2 * time.Second

// msgPool holds buffers of MaxMessage+1 bytes: a queue.
var msgPool = sync.Pool{New: func() any { b := make([]byte, 0, MaxMessage+1); return &b }}

// enqueue queues the frame (t, key, payload) for c, starting its writer
// when none runs; false when the queue is full or c closed.
func (c *conn) enqueue(t Type, key wire.WGPublic, payload []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() || c.queued >= c.queueLen {
		return false
	}
	if c.queue == nil {
		c.queue = msgPool.Get().(*[]byte)
		*c.queue = (*c.queue)[:maxServerHeader]
	}
	*c.queue = Append(*c.queue, t, key, payload)
	c.queued++
	if c.wake == nil {
		c.wake = make(chan struct{}, 1)
		go c.writeLoop(c.wake)
	} else {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// take returns the frames queued, or nil and ends the writer whose wake
// channel is wake when there are none and end is set.
func (c *conn) take(end bool) *[]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue
	c.queue, c.queued = nil, 0
	if q == nil && (end || c.closed.Load()) {
		c.wake = nil
	}
	return q
}

// writeLoop writes c's queue until it stays empty for writerLinger or c
// closes. Closing c's connection ends a write.
func (c *conn) writeLoop(wake chan struct{}) {
	idle := time.NewTimer(writerLinger)
	defer idle.Stop()
	lingered := false
	for {
		q := c.take(lingered)
		if q == nil {
			c.mu.Lock()
			done := c.wake != wake
			c.mu.Unlock()
			if done {
				return
			}
			select {
			case <-wake:
				lingered = false
			case <-idle.C:
				lingered = true
			}
			continue
		}
		err := c.write(*q)
		*q = (*q)[:0]
		msgPool.Put(q)
		if err != nil {
			// c may be parked, with no reader to unregister it.
			c.srv.unregister(c)
			c.close()
			return
		}
		idle.Reset(writerLinger)
		lingered = false
	}
}

// write writes buf's frames, after its maxServerHeader bytes of room,
// cut at frame boundaries into binary messages of at most MaxMessage
// bytes, each with one write: a message's header goes in the room before
// it (the end of the message written before it). A message not taken
// within MessageTimeout fails: a peer that never reads pins no writer.
func (c *conn) write(buf []byte) error {
	for start := maxServerHeader; start < len(buf); {
		frames, n := buf[start:], 0
		for n < len(frames) {
			m := HeaderLen + int(binary.BigEndian.Uint16(frames[n+HeaderLen-2:]))
			if n+m > MaxMessage {
				break
			}
			n += m
		}
		h := putHeader(buf[:start], opBinary, n)
		if err := c.writeRaw(buf[h:start+n], time.Now().Add(c.srv.cfg.MessageTimeout)); err != nil {
			return err
		}
		start += n
	}
	return nil
}

// writeControl writes a control frame of type op with payload p (at most
// maxControl bytes), failing when not taken by deadline.
func (c *conn) writeControl(op byte, p []byte, deadline time.Time) error {
	var b [maxServerHeader + maxControl]byte
	n := copy(b[maxServerHeader:], p)
	h := putHeader(b[:maxServerHeader], op, n)
	return c.writeRaw(b[h:maxServerHeader+n], deadline)
}

// writeRaw writes b, failing when it is not taken by deadline.
func (c *conn) writeRaw(b []byte, deadline time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.nc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := c.nc.Write(b)
	return err
}

// sendClose writes a close frame with code, waiting at most a second (a
// writer stuck on a dead peer fails then too).
func (c *conn) sendClose(code uint16) {
	if c.closed.Load() {
		return
	}
	deadline := time.Now().Add(time.Second)
	c.nc.SetWriteDeadline(deadline)
	c.writeControl(opClose, binary.BigEndian.AppendUint16(nil, code), deadline)
}

// close closes c's connection at once and drops its queue; its reader
// and writer end, and it leaves the poller.
func (c *conn) close() {
	c.mu.Lock()
	if c.closed.Swap(true) {
		c.mu.Unlock()
		return
	}
	q := c.queue
	c.queue, c.queued = nil, 0
	if c.wake != nil {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	c.unparkLocked()
	if c.fd >= 0 { // armed: srv.poll was set before
		c.srv.poll.forget(c)
	}
	c.mu.Unlock()
	if q != nil {
		*q = (*q)[:0]
		msgPool.Put(q)
	}
	c.nc.Close()
}

// unparkLocked takes c out of the parked count; c.mu held.
func (c *conn) unparkLocked() bool {
	if !c.parked {
		return false
	}
	c.parked = false
	c.srv.parked.Add(-1)
	return true
}

// readSlack is room in a read buffer past MaxMessage: a frame header and
// a control frame between a message's fragments.
const readSlack = 256

// readPool holds a reader's buffers, taken only while there are bytes to
// read.
var readPool = sync.Pool{New: func() any { b := make([]byte, MaxMessage+readSlack); return &b }}

// reader is a connection's read state: bytes read and not yet used, and
// the message being put together from its fragments.
type reader struct {
	// buf is from readPool; nil when nothing is read and not used.
	buf *[]byte
	// r and w bound the bytes read and not yet used: (*buf)[r:w].
	r, w int
	// msgAt and msgLen locate the message so far: (*buf)[msgAt:][:msgLen];
	// inMsg is set between a message's first fragment and its last.
	msgAt, msgLen int
	inMsg         bool
	// small takes the first bytes after a wait (readSmall).
	small [16]byte
}

// idle reports whether rd holds nothing: no byte, no message begun.
func (rd *reader) idle() bool { return rd.r == rd.w && !rd.inMsg }

// release returns rd's buffer to the pool when it holds nothing.
func (rd *reader) release() {
	if rd.buf != nil && rd.idle() {
		readPool.Put(rd.buf)
		rd.buf, rd.r, rd.w = nil, 0, 0
	}
}

// drop returns rd's buffer to the pool, whatever it holds: its
// connection ended.
func (rd *reader) drop() {
	if rd.buf != nil {
		readPool.Put(rd.buf)
	}
	*rd = reader{}
}

// fill reads from src until rd holds n bytes not yet used (n at most
// readSlack more than MaxMessage less the message so far).
func (rd *reader) fill(src io.Reader, n int) error {
	if rd.buf == nil {
		rd.buf, rd.r, rd.w = readPool.Get().(*[]byte), 0, 0
	}
	if rd.r+n > len(*rd.buf) {
		rd.compact()
	}
	b := *rd.buf
	for rd.w-rd.r < n {
		m, err := src.Read(b[rd.w:])
		rd.w += m
		if err != nil && rd.w-rd.r < n {
			return err
		}
	}
	return nil
}

// compact moves the message so far and the bytes not yet used to the
// start of the buffer.
func (rd *reader) compact() {
	b := *rd.buf
	copy(b, b[rd.msgAt:rd.msgAt+rd.msgLen])
	rd.msgAt = 0
	copy(b[rd.msgLen:], b[rd.r:rd.w])
	rd.w, rd.r = rd.msgLen+rd.w-rd.r, rd.msgLen
}

// readHeader reads the next frame's header: its length in n.
func (c *conn) readHeader() (h frameHeader, n int, err error) {
	rd := &c.rd
	for {
		if rd.buf != nil {
			if h, n, err = parseHeader((*rd.buf)[rd.r:rd.w]); err != nil || n > 0 {
				return h, n, err
			}
		}
		if err := rd.fill(c.nc, rd.w-rd.r+1); err != nil {
			return h, 0, err
		}
	}
}

// readMessage reads frames until a binary message is whole and returns it
// (valid until rd is used again), or until it has handled a control frame
// outside a message (nil): pings are answered. A message (or a control
// frame) begun must end within timeout.
func (c *conn) readMessage(timeout time.Duration) ([]byte, error) {
	if err := c.nc.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	rd := &c.rd
	for {
		h, hl, err := c.readHeader()
		if err != nil {
			return nil, err
		}
		data := h.op < opClose
		switch {
		case h.op == opText:
			return nil, errors.Join(ErrBadFrame, errors.New("a text message"))
		case data && (h.op == opContinuation) != rd.inMsg:
			return nil, errors.Join(ErrBadFrame, errors.New("a fragment out of order"))
		case data && rd.msgLen+h.length > MaxMessage:
			return nil, errors.Join(ErrBadFrame, errors.New("a message over MaxMessage"))
		}
		if err := rd.fill(c.nc, hl+h.length); err != nil {
			return nil, err
		}
		b := *rd.buf
		p := b[rd.r+hl : rd.r+hl+h.length]
		unmask(p, h.mask)
		rd.r += hl + h.length
		switch h.op {
		case opPing:
			// A peer that never reads its pongs pins no reader.
			if err := c.writeControl(opPong, p, time.Now().Add(timeout)); err != nil {
				return nil, err
			}
		case opClose:
			return nil, errPeerClosed
		case opBinary, opContinuation:
			if !rd.inMsg {
				rd.msgAt, rd.msgLen = rd.r-h.length, 0
			} else {
				copy(b[rd.msgAt+rd.msgLen:], p)
			}
			rd.msgLen += h.length
			rd.inMsg = !h.fin
			if h.fin {
				msg := b[rd.msgAt : rd.msgAt+rd.msgLen]
				rd.msgAt, rd.msgLen = 0, 0
				return msg, nil
			}
		}
		if !rd.inMsg {
			return nil, nil
		}
	}
}

// waitAny waits, with no timer, until c has bytes to read and reads
// them: how a connection the poller cannot watch waits, holding no
// buffer.
func (c *conn) waitAny() error {
	more, err := c.readSmall(time.Time{})
	if err == nil && !more {
		err = io.ErrNoProgress
	}
	return err
}

// readSmall reads what c has to read, waiting until deadline (none when
// zero), first into rd.small, so that a connection waiting holds no
// buffer (over TLS, what the read leaves of a record waits decrypted in
// crypto/tls); false when the deadline passed first. A deadline already
// past reads only what TLS holds decrypted or whole: the read fails
// before any system call, and a timeout does not break a tls.Conn.
func (c *conn) readSmall(deadline time.Time) (bool, error) {
	if err := c.nc.SetReadDeadline(deadline); err != nil {
		return false, err
	}
	rd := &c.rd
	n, err := c.nc.Read(rd.small[:])
	if n > 0 {
		rd.buf, rd.r = readPool.Get().(*[]byte), 0
		rd.w = copy(*rd.buf, rd.small[:n])
		return true, nil
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false, nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return false, err
}
