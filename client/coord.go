package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/wire"
)

// loginPollTimeout bounds one long poll of wire.PathLoginWait; the
// coordinator answers within about 25 s.
const loginPollTimeout = 60 * time.Second

// coord is the client's side of the coordinator: the machine-key session
// and map stream of node/control, plus the interactive login calls, which
// it sends with the same session token over the same HTTP client.
type coord struct {
	ctrl    *control.Client
	http    *http.Client
	base    string
	backoff control.Backoff
}

// newCoord prepares a coordinator client for url; it does not connect.
func newCoord(cfg *Config, url string, mk wire.MachinePrivate) (*coord, error) {
	roots, err := loadRoots(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots}
	hc := &http.Client{Transport: t}
	ctrl, err := control.New(control.Config{URL: url, AllowInsecureHTTP: cfg.AllowInsecureHTTP, MachineKey: mk,
		HTTPClient: hc, Logger: cfg.Logger, Backoff: cfg.Backoff})
	if err != nil {
		return nil, err
	}
	return &coord{ctrl: ctrl, http: hc, base: ctrl.URL(), backoff: cfg.Backoff}, nil
}

// loadRoots reads a PEM CA bundle; "" gives nil (the system's roots).
func loadRoots(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ca file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("read ca file %s: no PEM certificate", path)
	}
	return pool, nil
}

// login starts an interactive login for key.
func (c *coord) login(ctx context.Context, req wire.LoginRequest) (wire.LoginResponse, error) {
	var resp wire.LoginResponse
	if err := c.do(ctx, http.MethodPost, wire.PathLogin, nil, req, &resp); err != nil {
		return resp, fmt.Errorf("start login: %w", err)
	}
	if resp.ID == "" || resp.URL == "" {
		return resp, fmt.Errorf("start login: %w: no id or url", control.ErrProtocol)
	}
	return resp, nil
}

// wait long-polls the login's outcome once; Done is false when the
// coordinator had nothing yet.
func (c *coord) wait(ctx context.Context, id string) (wire.LoginResult, error) {
	ctx, cancel := context.WithTimeout(ctx, loginPollTimeout)
	defer cancel()
	var res wire.LoginResult
	if err := c.do(ctx, http.MethodGet, wire.PathLoginWait, url.Values{"id": {id}}, nil, &res); err != nil {
		return res, fmt.Errorf("wait for login: %w", err)
	}
	return res, nil
}

// logout expires the node's key at the coordinator.
func (c *coord) logout(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, control.DefaultCallTimeout)
	defer cancel()
	if err := c.do(ctx, http.MethodPost, wire.PathLogout, nil, struct{}{}, nil); err != nil {
		return fmt.Errorf("log out: %w", err)
	}
	return nil
}

// do sends one call with the session token, retrying once with a new
// session after a 401 (the coordinator forgot the token: it restarted),
// and decodes the answer into out (may be nil).
func (c *coord) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	for attempt := 0; ; attempt++ {
		s, err := c.ctrl.Session(ctx)
		if err != nil {
			return err
		}
		err = c.once(ctx, method, path, q, s.Token, in, out)
		if attempt == 0 && errors.Is(err, control.ErrUnauthorized) {
			c.ctrl.DropSession(s.Token)
			continue
		}
		return err
	}
}

func (c *coord) once(ctx context.Context, method, path string, q url.Values, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e wire.Error
		if json.Unmarshal(b, &e) != nil {
			e.Error = strings.TrimSpace(string(b[:min(len(b), 200)]))
		}
		return &control.APIError{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode answer: %w: %w", control.ErrProtocol, err)
	}
	return nil
}
