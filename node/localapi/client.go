package localapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/wardnet/ward/node/splice"
)

// Client talks to a node agent's local API.
type Client struct {
	// Socket is the path of the agent's unix socket.
	Socket string
}

// dialSocket connects to the agent's socket.
func (c *Client) dialSocket(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Socket)
	if err != nil {
		return nil, fmt.Errorf("connect to node agent at %s (is `ward node` running?): %w", c.Socket, err)
	}
	return conn, nil
}

func (c *Client) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return c.dialSocket(ctx) },
	}}
}

// Status fetches the node's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/status", nil, &st)
	return st, err
}

// Ping pings peer through the overlay, waiting at most timeout (0 means
// DefaultPingTimeout).
func (c *Client) Ping(ctx context.Context, peer string, timeout time.Duration) (PingResult, error) {
	q := url.Values{"peer": {peer}}
	if timeout > 0 {
		q.Set("timeout", timeout.String())
	}
	var res PingResult
	err := c.do(ctx, http.MethodPost, "/ping", q, &res)
	return res, err
}

// do sends one request and decodes a JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, out any) error {
	u := url.URL{Scheme: "http", Host: "ward", Path: path, RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return err
	}
	hc := c.httpClient()
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := checkResponse(resp); err != nil {
		return err
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("decode %s answer: %w", path, err)
	}
	return nil
}

// checkResponse turns an error response into an error with its message.
func checkResponse(resp *http.Response) error {
	if resp.StatusCode < 300 {
		return nil
	}
	var e apiError
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e); err != nil || e.Error == "" {
		e.Error = resp.Status
	}
	return errors.New(e.Error)
}

// Dial opens a TCP connection through the overlay to port on peer (a name
// or overlay address), relayed by the agent. The returned connection
// supports CloseWrite.
func (c *Client) Dial(ctx context.Context, peer string, port uint16) (net.Conn, error) {
	conn, err := c.dialSocket(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	q := url.Values{"peer": {peer}, "port": {strconv.Itoa(int(port))}}
	fmt.Fprintf(conn, "POST /dial?%s HTTP/1.1\r\nHost: ward\r\nConnection: Upgrade\r\nUpgrade: %s\r\nContent-Length: 0\r\n\r\n", q.Encode(), upgradeProto)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("dial %s:%d: %w", peer, port, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer conn.Close()
		defer resp.Body.Close()
		if err := checkResponse(resp); err != nil {
			return nil, fmt.Errorf("dial %s:%d: %w", peer, port, err)
		}
		return nil, fmt.Errorf("dial %s:%d: unexpected %s", peer, port, resp.Status)
	}
	if !stop() {
		conn.Close()
		return nil, ctx.Err()
	}
	return &splice.BufferedConn{Conn: conn, R: br}, nil
}
