package control

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"

	"github.com/wardnet/ward/wire"
)

// Register makes the session's machine a node with a pre-auth key. The
// coordinator answers 4xx with a message for a bad, used or expired key.
func (c *Client) Register(ctx context.Context, req wire.RegisterRequest) (wire.Node, error) {
	var resp wire.RegisterResponse
	if err := c.call(ctx, request{path: wire.PathRegister, body: req}, &resp); err != nil {
		return wire.Node{}, fmt.Errorf("register node: %w", err)
	}
	return c.skew.localNode(resp.Node), nil
}

// Rotate announces the node's next WireGuard public key. The node must
// keep its current private key until the answer's SwitchAt, which, like
// its KeyExpiry, is on the node's clock. A refusal is an *APIError:
// ErrForbidden (the node may not rotate; see Refusal) or ErrRateLimited
// (see RetryAfter).
func (c *Client) Rotate(ctx context.Context, next wire.WGPublic) (Rotation, error) {
	var resp wire.RotateResponse
	sent := c.now()
	if err := c.call(ctx, request{path: wire.PathRotate, body: wire.RotateRequest{WGKey: next}}, &resp); err != nil {
		return Rotation{}, fmt.Errorf("rotate key: %w", err)
	}
	recv := c.now()
	c.skew.observe(resp.ServerTime, sent, recv)
	return c.skew.rotation(resp, sent, recv), nil
}

// Report sends the node's endpoints and denied flows.
func (c *Client) Report(ctx context.Context, r wire.Report) error {
	if len(r.DeniedFlows) > wire.MaxDeniedPerReport {
		r.DeniedFlows = r.DeniedFlows[:wire.MaxDeniedPerReport]
	}
	if len(r.Endpoints) > wire.MaxEndpoints {
		r.Endpoints = r.Endpoints[:wire.MaxEndpoints]
	}
	if err := c.call(ctx, request{path: wire.PathReport, body: r}, nil); err != nil {
		return fmt.Errorf("send report: %w", err)
	}
	return nil
}

// RelayToken asks for a token admitting the node's current WireGuard key
// to the relays its map lists; Expires is on the coordinator's clock. A
// revoked or expired node is refused (ErrForbidden).
func (c *Client) RelayToken(ctx context.Context) (wire.RelayTokenResponse, error) {
	var resp wire.RelayTokenResponse
	if err := c.call(ctx, request{path: wire.PathRelayToken}, &resp); err != nil {
		return wire.RelayTokenResponse{}, fmt.Errorf("get relay token: %w", err)
	}
	return resp, nil
}

// RelayURL resolves a relay's URL from a map (a path is relative to the
// coordinator's URL) to the URL relay.Dial takes, with HTTPClient.
func (c *Client) RelayURL(r wire.Relay) (string, error) {
	u, err := url.Parse(r.URL)
	if err != nil {
		return "", fmt.Errorf("relay %s: url %q: %w", r.Name, r.URL, err)
	}
	if u.IsAbs() {
		return u.String(), nil
	}
	return c.endpoint(u.Path, nil), nil
}

// STUNAddr resolves relay r's STUN address: a bare ":port" is on the
// host of the relay's URL (the coordinator's for a relative one).
func (c *Client) STUNAddr(ctx context.Context, r wire.Relay) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(r.STUN)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("relay %s: stun %q: %w", r.Name, r.STUN, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("relay %s: stun %q: bad port", r.Name, r.STUN)
	}
	if host == "" {
		ru, err := c.RelayURL(r)
		if err != nil {
			return netip.AddrPort{}, err
		}
		u, err := url.Parse(ru)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("relay %s: url %q: %w", r.Name, ru, err)
		}
		host = u.Hostname()
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a.Unmap(), uint16(p)), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("relay %s: resolve stun host %s: %w", r.Name, host, cmp.Or(err, errors.New("no address")))
	}
	return netip.AddrPortFrom(addrs[0].Unmap(), uint16(p)), nil
}

// HTTPClient is the client the node reaches the coordinator with (its TLS
// configuration included), for relay.Dial. net/http speaks HTTP/1.1 for a
// WebSocket upgrade even where the server offers HTTP/2.
func (c *Client) HTTPClient() *http.Client { return c.http }

// Flows sends a batch of flow logs (protocol 13: only to a coordinator
// that wire.Supports FeatureFlowLogs).
func (c *Client) Flows(ctx context.Context, b wire.FlowBatch) error {
	if err := c.call(ctx, request{path: wire.PathFlows, body: b}, nil); err != nil {
		return fmt.Errorf("send flow logs: %w", err)
	}
	return nil
}

// Watch returns what the node watches on its disk (protocol 17: only from
// a coordinator that wire.Supports FeatureWatch).
func (c *Client) Watch(ctx context.Context) (wire.WatchConfig, error) {
	var out wire.WatchConfig
	if err := c.call(ctx, request{method: "GET", path: wire.PathWatch}, &out); err != nil {
		return wire.WatchConfig{}, fmt.Errorf("get watch config: %w", err)
	}
	return out, nil
}

// WatchEvents sends what the node saw on its disk (protocol 17).
func (c *Client) WatchEvents(ctx context.Context, b wire.WatchEvents) error {
	if err := c.call(ctx, request{path: wire.PathWatchEvents, body: b}, nil); err != nil {
		return fmt.Errorf("send watch events: %w", err)
	}
	return nil
}

// RequestAccess asks, on behalf of the person owning this node, for
// time-bound access (issue 17); the answer is the pending request.
func (c *Client) RequestAccess(ctx context.Context, r wire.AccessRequestCreate) (wire.AccessRequest, error) {
	var out wire.AccessRequest
	if err := c.call(ctx, request{path: wire.PathRequests, body: r}, &out); err != nil {
		return wire.AccessRequest{}, fmt.Errorf("request access: %w", err)
	}
	return out, nil
}

// AccessRequests lists the requests of the person owning this node,
// newest first, with their decisions.
func (c *Client) AccessRequests(ctx context.Context) ([]wire.AccessRequest, error) {
	var out []wire.AccessRequest
	if err := c.call(ctx, request{method: "GET", path: wire.PathRequests}, &out); err != nil {
		return nil, fmt.Errorf("list access requests: %w", err)
	}
	return out, nil
}
