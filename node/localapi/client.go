package localapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/wardnet/ward/apicall"
	"github.com/wardnet/ward/node/splice"
)

// ErrNoDaemon means nothing answers on the socket.
var ErrNoDaemon = errors.New("no ward daemon runs here (`ward up` starts the desktop client; `ward node` runs a device's agent)")

// maxAnswer bounds an answer's body.
const maxAnswer = 16 << 20

// serverName names the daemon in errors.
const serverName = "ward daemon"

// Client talks to a ward daemon's local API: a device's agent or a
// person's desktop client. It is the one client of the local API.
type Client struct {
	// Socket is the path of the daemon's unix socket (SocketName in its
	// state directory).
	Socket string
}

// dialSocket connects to the daemon's socket. It refuses (ErrUntrusted)
// a socket or state directory that another user owns or may write to,
// and a daemon that runs as another user (where the OS tells: Linux):
// root and this process's own user are trusted.
func (c *Client) dialSocket(ctx context.Context) (net.Conn, error) {
	if err := checkSocketFiles(c.Socket); err != nil {
		return nil, &socketError{err}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Socket)
	if err != nil {
		return nil, &socketError{fmt.Errorf("connect to %s: %w: %w", c.Socket, ErrNoDaemon, err)}
	}
	if err := checkServer(conn, c.Socket); err != nil {
		conn.Close()
		return nil, &socketError{err}
	}
	return conn, nil
}

// socketError is a failure to reach the daemon's socket; plain returns it
// without the HTTP request around it.
type socketError struct{ error }

// Unwrap returns the dial's error.
func (e *socketError) Unwrap() error { return e.error }

func (c *Client) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return c.dialSocket(ctx) },
	}}
}

// Status fetches the daemon's status; its Person is set for a desktop
// client.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/status", nil, nil, &st)
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
	err := c.do(ctx, http.MethodPost, "/ping", q, nil, &res)
	return res, err
}

// Login starts a login on a desktop client (see Logins.StartLogin).
func (c *Client) Login(ctx context.Context, req LoginRequest) (LoginStart, error) {
	var res LoginStart
	err := c.do(ctx, http.MethodPost, "/login", nil, req, &res)
	return res, err
}

// WaitLogin waits for login id's outcome.
func (c *Client) WaitLogin(ctx context.Context, id string) (LoginResult, error) {
	var res LoginResult
	err := c.do(ctx, http.MethodGet, "/login/wait", url.Values{"id": {id}}, nil, &res)
	return res, err
}

// Logout logs a desktop client out (see Logins.Logout).
func (c *Client) Logout(ctx context.Context) (LogoutResult, error) {
	var res LogoutResult
	err := c.do(ctx, http.MethodPost, "/logout", nil, struct{}{}, &res)
	return res, err
}

// Quit stops a desktop client's daemon.
func (c *Client) Quit(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/quit", nil, struct{}{}, nil)
}

// do sends one request and decodes a JSON answer into out (may be nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	u := url.URL{Scheme: "http", Host: "ward", Path: path, RawQuery: q.Encode()}
	hc := c.httpClient()
	defer hc.CloseIdleConnections()
	err := apicall.Do(ctx, hc, apicall.Request{Method: method, URL: u.String(), Body: in, MaxAnswer: maxAnswer,
		Server: serverName}, out)
	return plain(err)
}

// Dial opens a TCP connection through the overlay to port on peer (a name
// or overlay address), relayed by the daemon. The returned connection
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
		if err := plain(apicall.Check(resp, serverName)); err != nil {
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

// plain makes the daemon's error answer read as its message alone (the
// daemon is the person's own, and its messages are written for them), and
// a socket no daemon listens on as that alone.
func plain(err error) error {
	var se *socketError
	if errors.As(err, &se) {
		return se
	}
	var e *apicall.Error
	if err == nil || !errors.As(err, &e) || e.Message == "" {
		return err
	}
	return &answerError{e: e}
}

// answerError is a daemon's error answer that reads as its message; it
// unwraps to the *apicall.Error.
type answerError struct{ e *apicall.Error }

// Error returns the daemon's message.
func (a *answerError) Error() string { return a.e.Message }

// Unwrap returns the answer as an *apicall.Error.
func (a *answerError) Unwrap() error { return a.e }
