package control

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/wardnet/ward/wire"
)

// loginPollTimeout bounds one long poll of wire.PathLoginWait; the
// coordinator answers within about 25 s.
const loginPollTimeout = 60 * time.Second

// Login starts an interactive login for the key in req (a person's
// machine; the machine need not be a node yet). The answer names the page
// the person opens and the code its confirmation page shows; its Expires
// is on the node's clock.
func (c *Client) Login(ctx context.Context, req wire.LoginRequest) (wire.LoginResponse, error) {
	var resp wire.LoginResponse
	if err := c.call(ctx, request{path: wire.PathLogin, body: req, replayable: true}, &resp); err != nil {
		return resp, fmt.Errorf("start login: %w", err)
	}
	if resp.ID == "" || resp.URL == "" {
		return resp, fmt.Errorf("start login: %w: no id or url", ErrProtocol)
	}
	resp.Expires = c.skew.local(resp.Expires)
	return resp, nil
}

// WaitLogin long-polls the outcome of login id once; Done is false when
// the coordinator had nothing yet. The node of a finished login has its
// times on the node's clock.
func (c *Client) WaitLogin(ctx context.Context, id string) (wire.LoginResult, error) {
	var res wire.LoginResult
	r := request{method: http.MethodGet, path: wire.PathLoginWait, query: url.Values{"id": {id}}, timeout: loginPollTimeout}
	if err := c.call(ctx, r, &res); err != nil {
		return res, fmt.Errorf("wait for login: %w", err)
	}
	if res.Node != nil {
		n := c.skew.localNode(*res.Node)
		res.Node = &n
	}
	return res, nil
}

// Logout expires this machine's node key at the coordinator at once.
func (c *Client) Logout(ctx context.Context) error {
	if err := c.call(ctx, request{path: wire.PathLogout, body: struct{}{}}, nil); err != nil {
		return fmt.Errorf("log out: %w", err)
	}
	return nil
}
