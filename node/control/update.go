package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/wardnet/ward/apicall"
	"github.com/wardnet/ward/wire"
)

// Updates over the air (protocol 14: only to a coordinator that
// wire.Supports FeatureUpdates).

// maxAssignmentBytes bounds an UpdateAssignment answer.
const maxAssignmentBytes = 16 << 10

// UpdateAssignment asks which update the node should run now; nil when
// none (204).
func (c *Client) UpdateAssignment(ctx context.Context) (*wire.UpdateAssignment, error) {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	resp, err := c.get(ctx, wire.PathUpdate, 0)
	if err != nil {
		return nil, fmt.Errorf("get update assignment: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	var a wire.UpdateAssignment
	if err := apicall.Decode(resp.Body, maxAssignmentBytes, &a); err != nil {
		return nil, fmt.Errorf("get update assignment: %w", err)
	}
	return &a, nil
}

// UpdateReport posts the node's word on its update.
func (c *Client) UpdateReport(ctx context.Context, r wire.UpdateReport) error {
	if err := c.call(ctx, request{path: wire.PathUpdateReport, body: r}, nil); err != nil {
		return fmt.Errorf("report update %s: %w", r.State, err)
	}
	return nil
}

// GetTUF fetches PathTUF+rel ("metadata/timestamp.json",
// "targets/ward/…") with the node's session; offset > 0 asks for the
// bytes from offset on (Range), answered 206 by a coordinator that
// resumes. A non-2xx answer is an *APIError (503 with RetryAfter past the
// coordinator's cap on downloads). The caller closes the body; the
// request ends with ctx.
func (c *Client) GetTUF(ctx context.Context, rel string, offset int64) (*http.Response, error) {
	resp, err := c.get(ctx, wire.PathTUF+rel, offset)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", rel, err)
	}
	return resp, nil
}

// get sends a GET of path with the session token, from offset when > 0,
// and returns a 2xx answer; on 401 it opens a new session and retries
// once (see call).
func (c *Client) get(ctx context.Context, path string, offset int64) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		s, err := c.Session(ctx)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint(path, nil), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+s.Token)
		if offset > 0 {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, apicall.Unreachable(ctx, serverName, err)
		}
		if err = apicall.Check(resp, serverName); err == nil {
			return resp, nil
		}
		drain(resp.Body)
		if attempt == 0 && errors.Is(err, ErrUnauthorized) {
			c.DropSession(s.Token)
			continue
		}
		return nil, err
	}
}

// drain reads a little of body, so the connection may be reused, and
// closes it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 4<<10))
	body.Close()
}
