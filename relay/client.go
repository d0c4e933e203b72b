package relay

import (
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

	mu  sync.Mutex // mu guards err
	err error      // why reading ended
}

// Dial connects to the relay at url (ws:// or wss://, or http(s)://)
// presenting token, through hc (its TLS configuration included; nil means
// http.DefaultClient).
func Dial(ctx context.Context, url, token string, hc *http.Client) (*Client, error) {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h,
		CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial relay %s: %s: %w", url, resp.Status, err)
		}
		return nil, fmt.Errorf("dial relay %s: %w", url, err)
	}
	ws.SetReadLimit(MaxFrame)
	rctx, cancel := context.WithCancel(context.Background())
	c := &Client{ws: ws, in: make(chan Frame, clientQueue), cancel: cancel}
	go c.readLoop(rctx)
	return c, nil
}

// readLoop reads frames into c.in until the connection ends.
func (c *Client) readLoop(ctx context.Context) {
	defer close(c.in)
	scratch := make([]byte, MaxFrame+1)
	for {
		f, err := c.readFrame(ctx, scratch)
		if err == nil {
			select {
			case c.in <- f:
				continue
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		return
	}
}

// readFrame reads one message through scratch and returns its frame in a
// buffer of its own.
func (c *Client) readFrame(ctx context.Context, scratch []byte) (Frame, error) {
	_, rd, err := c.ws.Reader(ctx)
	if err != nil {
		return Frame{}, err
	}
	n, err := readFull(rd, scratch)
	if err != nil {
		return Frame{}, err
	}
	f, err := Decode(append([]byte(nil), scratch[:n]...))
	if err == nil && f.Type == TypeSend {
		err = ErrBadFrame
	}
	return f, err
}

// Send sends pkt to the node holding key to.
func (c *Client) Send(ctx context.Context, to wire.WGPublic, pkt []byte) error {
	if len(pkt) == 0 || len(pkt) > MaxPayload {
		return fmt.Errorf("send %d bytes to %s: %w", len(pkt), to.ShortString(), ErrBadFrame)
	}
	if err := c.ws.Write(ctx, websocket.MessageBinary, Append(make([]byte, 0, HeaderLen+len(pkt)), TypeSend, to, pkt)); err != nil {
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

// Close closes the connection.
func (c *Client) Close() error {
	c.cancel()
	return c.ws.Close(websocket.StatusNormalClosure, "")
}
