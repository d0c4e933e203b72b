//go:build !ward_omit_admin

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/wardnet/ward/wire"
)

// listNodes reads the node list page by page (wire.AdminNodePage, each
// of at most wire.NodePageMax nodes) with the filter q, until its end or
// until it has max nodes (0: no bound). A coordinator older than paging
// (protocol 25) ignores the page's parameters and answers the whole list
// as a bare array, which is taken as it is (cut to max).
func listNodes(ctx context.Context, c *adminClient, q url.Values, max int) ([]wire.AdminNode, error) {
	out := []wire.AdminNode{}
	after := ""
	for {
		size := wire.NodePageMax
		if max > 0 {
			size = min(size, max-len(out))
		}
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set(wire.NodePageLimitParam, strconv.Itoa(size))
		if after != "" {
			v.Set(wire.NodePageAfterParam, after)
		}
		var raw json.RawMessage
		if err := c.do(ctx, http.MethodGet, wire.PathAdminNodes+"?"+v.Encode(), nil, &raw); err != nil {
			return nil, err
		}
		if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' { // an older coordinator: every node
			var all []wire.AdminNode
			if err := json.Unmarshal(t, &all); err != nil {
				return nil, fmt.Errorf("read node list: %w", err)
			}
			if max > 0 && len(all) > max {
				all = all[:max]
			}
			return all, nil
		}
		var p wire.AdminNodePage
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("read node list page after %q: %w", after, err)
		}
		out = append(out, p.Nodes...)
		if p.Next == "" || (max > 0 && len(out) >= max) {
			return out, nil
		}
		if p.Next == after {
			return nil, fmt.Errorf("read node list: the coordinator's cursor %q does not advance", p.Next)
		}
		after = p.Next
	}
}
