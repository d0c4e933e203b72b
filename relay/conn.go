package relay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/wardnet/ward/ratelimit"
	"github.com/wardnet/ward/wire"
)

// conn is one admitted connection. Frames for it wait in one buffer,
// written as one WebSocket message (one flush) per MaxMessage by a writer
// goroutine that runs only while there is something to write.
type conn struct {
	key wire.WGPublic
	ws  *websocket.Conn
	// nc is the connection below ws (a *tls.Conn over TLS).
	nc net.Conn
	// br is ws's buffered reader: the connection's reader waits on it for
	// the next message with a shallow stack (see Server.readLoop).
	br       *bufio.Reader
	lim      *rate.Limiter
	queueLen int
	// refusals limits REFUSED frames per destination; made at the first.
	// Only the connection's reader uses it.
	refusals *ratelimit.Keyed[wire.WGPublic]

	mu sync.Mutex // mu guards the following
	// queue holds frames waiting, back to back, in a buffer from msgPool;
	// nil when none wait.
	queue *[]byte
	// queued counts the frames in queue, at most queueLen.
	queued int
	// wake, while a writeLoop runs, tells it that queue has frames; nil
	// otherwise.
	wake chan struct{}
	// closed is set by close: nothing is queued after it, and the
	// connection's own SENDs not yet forwarded are dropped. Read without
	// mu too.
	closed atomic.Bool
}

// writerLinger is how long a connection's writer waits for a frame before
// it ends.
const writerLinger = 2 * time.Second

// msgPool holds buffers of MaxMessage+1 bytes: a message read, a queue.
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
// closes. It writes without a context: closing c's WebSocket ends a write.
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
			c.close()
			return
		}
		idle.Reset(writerLinger)
		lingered = false
	}
}

// write writes frames, cut at frame boundaries into messages of at most
// MaxMessage bytes.
func (c *conn) write(frames []byte) error {
	for len(frames) > 0 {
		n := 0
		for n < len(frames) {
			m := HeaderLen + int(binary.BigEndian.Uint16(frames[n+HeaderLen-2:]))
			if n+m > MaxMessage {
				break
			}
			n += m
		}
		if err := c.ws.Write(context.Background(), websocket.MessageBinary, frames[:n]); err != nil {
			return err
		}
		frames = frames[n:]
	}
	return nil
}

// close closes c's WebSocket at once and drops its queue; its reader
// and writer end.
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
	c.mu.Unlock()
	if q != nil {
		*q = (*q)[:0]
		msgPool.Put(q)
	}
	c.ws.CloseNow()
}

// Buffer sizes of a hijacked connection (net/http's are 4 KiB each, held
// for the connection's life). Reads of a frame's payload bypass a
// bufio.Reader, and every write is one whole message, so small buffers
// cost at most one more read and one more write call per message.
const (
	hijackReadBuf  = 256
	hijackWriteBuf = 256
)

// smallBuffers is an http.ResponseWriter whose Hijack hands out buffers
// of hijackReadBuf and hijackWriteBuf bytes instead of net/http's.
type smallBuffers struct {
	http.ResponseWriter
	// nc and br are the connection Hijack took and the reader it handed
	// out; nil before.
	nc net.Conn
	br *bufio.Reader
}

// Hijack hijacks the connection. Bytes the client sent after its request
// (before the answer, which a client may not wait for) start the new
// reader's buffer, where the WebSocket library looks for them.
func (w *smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.nc = c
	n := brw.Reader.Buffered()
	if n == 0 {
		w.br = bufio.NewReaderSize(c, hijackReadBuf)
	} else {
		early, _ := brw.Reader.Peek(n)
		w.br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), c), max(n, hijackReadBuf))
		if _, err := w.br.Peek(n); err != nil {
			c.Close()
			return nil, nil, err
		}
	}
	return c, bufio.NewReadWriter(w.br, bufio.NewWriterSize(c, hijackWriteBuf)), nil
}
