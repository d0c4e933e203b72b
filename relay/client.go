package relay

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/coder/websocket"

	"github.com/wardnet/ward/wire"
)

// clientQueue bounds the frames a Client has read and its caller not yet
// taken; past it, the client stops reading (TCP pushes back on the relay).
const clientQueue = 64

// Client is a node's connection to a relay.
type Client struct {
	ws *websocket.Conn
	// in carries the frames read; closed when reading ends.
	in     chan Frame
	cancel context.CancelFunc

	// cork, when not nil, is the connection below: a batch's messages
	// leave in one write.
	cork *corkConn

	wmu  sync.Mutex // wmu guards wbuf and serializes writes
	wbuf []byte     // the message being written

	mu  sync.Mutex // mu guards err
	err error      // why reading ended
}

// Dial connects to the relay at url (ws:// or wss://, or http(s)://)
// presenting token, through hc (its TLS configuration included; nil means
// http.DefaultClient).
func Dial(ctx context.Context, url, token string, hc *http.Client) (*Client, error) {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	hc, dialed := corking(hc)
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h,
		CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial relay %s: %s: %w", url, resp.Status, err)
		}
		return nil, fmt.Errorf("dial relay %s: %w", url, err)
	}
	ws.SetReadLimit(MaxMessage)
	rctx, cancel := context.WithCancel(context.Background())
	c := &Client{ws: ws, in: make(chan Frame, clientQueue), cancel: cancel, cork: dialed()}
	go c.readLoop(rctx)
	return c, nil
}

// readLoop reads frames into c.in until the connection ends.
func (c *Client) readLoop(ctx context.Context) {
	defer close(c.in)
	scratch := make([]byte, MaxMessage+1)
	for {
		msg, err := c.readMessage(ctx, scratch)
		for err == nil && len(msg) > 0 {
			var f Frame
			f, msg, _ = Next(msg)
			select {
			case c.in <- f:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
	}
}

// readMessage reads one message through scratch, checks it, and returns
// it in a buffer of its own.
func (c *Client) readMessage(ctx context.Context, scratch []byte) ([]byte, error) {
	_, rd, err := c.ws.Reader(ctx)
	if err != nil {
		return nil, err
	}
	n, err := readFull(rd, scratch)
	if err != nil {
		return nil, err
	}
	if err := checkMessage(scratch[:n], true); err != nil {
		return nil, err
	}
	return bytes.Clone(scratch[:n]), nil
}

// Send sends pkt to the node holding key to.
func (c *Client) Send(ctx context.Context, to wire.WGPublic, pkt []byte) error {
	return c.SendBatch(ctx, to, [][]byte{pkt})
}

// SendBatch sends pkts, in order, to the node holding key to, as few
// WebSocket messages as they fit in (one for up to 20 full-size packets).
// Nothing is sent when a packet is empty or larger than MaxPayload.
func (c *Client) SendBatch(ctx context.Context, to wire.WGPublic, pkts [][]byte) error {
	for _, pkt := range pkts {
		if len(pkt) == 0 || len(pkt) > MaxPayload {
			return fmt.Errorf("send %d bytes to %s: %w", len(pkt), to.ShortString(), ErrBadFrame)
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.cork != nil {
		c.cork.cork()
	}
	err := c.writeBatch(ctx, to, pkts)
	if c.cork != nil {
		if uerr := c.cork.uncork(ctx); err == nil && uerr != nil {
			c.ws.CloseNow()
			err = fmt.Errorf("send to %s: %w", to.ShortString(), uerr)
		}
	}
	return err
}

// writeBatch writes pkts to to in messages of at most MaxMessage bytes.
func (c *Client) writeBatch(ctx context.Context, to wire.WGPublic, pkts [][]byte) error {
	b := c.wbuf[:0]
	for _, pkt := range pkts {
		if len(b)+HeaderLen+len(pkt) > MaxMessage {
			if err := c.write(ctx, to, b); err != nil {
				return err
			}
			b = b[:0]
		}
		b = Append(b, TypeSend, to, pkt)
	}
	c.wbuf = b
	return c.write(ctx, to, b)
}

// write writes the message msg of SENDs to to.
func (c *Client) write(ctx context.Context, to wire.WGPublic, msg []byte) error {
	if err := c.ws.Write(ctx, websocket.MessageBinary, msg); err != nil {
		return fmt.Errorf("send to %s: %w", to.ShortString(), err)
	}
	return nil
}

// Recv returns the next frame from the relay: a RECV (Key is the sender)
// or a REFUSED (Key is the destination refused, Reason why). ctx ending
// leaves the connection open.
func (c *Client) Recv(ctx context.Context) (Frame, error) {
	select {
	case f, ok := <-c.in:
		if !ok {
			c.mu.Lock()
			defer c.mu.Unlock()
			return Frame{}, fmt.Errorf("receive from relay: %w", c.err)
		}
		return f, nil
	case <-ctx.Done():
		return Frame{}, ctx.Err()
	}
}

// Ping sends a WebSocket ping and waits for the relay's pong (Recv or a
// reader must be running), or for ctx to end: a connection whose NAT
// mapping died answers neither, where a read would wait for TCP to time
// out.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.ws.Ping(ctx); err != nil {
		return fmt.Errorf("ping relay: %w", err)
	}
	return nil
}

// Acked is how many bytes of what c sent the relay's TCP has
// acknowledged: it grows while the relay takes c's writes, even while a
// ping waits behind them. It is 0 where that cannot be told: outside
// Linux, or dialled through a transport other than an *http.Transport.
// It is read below TLS, so it counts TLS records' bytes.
func (c *Client) Acked() uint64 {
	if c.cork == nil {
		return 0
	}
	return c.cork.acked()
}

// Close closes the connection.
func (c *Client) Close() error {
	c.cancel()
	return c.ws.Close(websocket.StatusNormalClosure, "")
}
