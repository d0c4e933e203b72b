package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
)

// Local talks to a client daemon's API on its unix socket.
type Local struct {
	// Socket is the path of the daemon's client.sock.
	Socket string
}

// ErrNoDaemon means nothing answers on the socket.
var ErrNoDaemon = errors.New("no client daemon is running (start one with `ward up`)")

func (c *Local) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "unix", c.Socket)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrNoDaemon, err)
			}
			return conn, nil
		},
	}}
}

// Status fetches the client's status.
func (c *Local) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/status", nil, nil, &st)
	return st, err
}

// Login starts a login (see Daemon.StartLogin).
func (c *Local) Login(ctx context.Context, req LoginRequest) (LoginStart, error) {
	var res LoginStart
	err := c.do(ctx, http.MethodPost, "/login", nil, req, &res)
	return res, err
}

// WaitLogin waits for login id's outcome.
func (c *Local) WaitLogin(ctx context.Context, id string) (LoginResult, error) {
	var res LoginResult
	err := c.do(ctx, http.MethodGet, "/login/wait", url.Values{"id": {id}}, nil, &res)
	return res, err
}

// Logout logs out (see Daemon.Logout).
func (c *Local) Logout(ctx context.Context) (LogoutResult, error) {
	var res LogoutResult
	err := c.do(ctx, http.MethodPost, "/logout", nil, struct{}{}, &res)
	return res, err
}

// Quit stops the daemon.
func (c *Local) Quit(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/quit", nil, struct{}{}, nil)
}

// do sends one request and decodes a JSON answer into out (may be nil).
func (c *Local) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := url.URL{Scheme: "http", Host: "ward-client", Path: path, RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
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
	if resp.StatusCode >= 300 {
		var e apiError
		if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e) != nil || e.Error == "" {
			e.Error = resp.Status
		}
		return errors.New(e.Error)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("decode %s answer: %w", path, err)
	}
	return nil
}
