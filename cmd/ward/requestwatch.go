package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// watchEvery is how often a watch reads the local client's status. The
// coordinator pushes decisions into the client's map; this reads only the
// local socket.
const watchEvery = 200 * time.Millisecond

// watchRequests reads the person's requests from the running client's
// status (wire.Node.Requests of its map) and calls show with each whose
// state is new: every request at first, then each change, until show
// returns true or ctx ends.
func watchRequests(ctx context.Context, api *localapi.Client, show func(wire.AccessRequest) bool) error {
	seen := map[int64]string{}
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		st, err := api.Status(ctx)
		if err != nil {
			return fmt.Errorf("read the running client's requests (is `ward up` running?): %w", err)
		}
		if st.Person == nil {
			return fmt.Errorf("the daemon is no person's client: run `ward up`")
		}
		rs := st.Person.Requests
		for i := len(rs) - 1; i >= 0; i-- { // oldest first
			r := rs[i]
			if key := decisionLine(r); seen[r.ID] != key {
				seen[r.ID] = key
				if show(r) {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// waitDecision waits until request id is decided, prints the decision and
// returns an error unless it was approved.
func waitDecision(ctx context.Context, w io.Writer, api *localapi.Client, id int64) error {
	var got wire.AccessRequest
	err := watchRequests(ctx, api, func(r wire.AccessRequest) bool {
		got = r
		return r.ID == id && r.Status != "pending"
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, decisionLine(got))
	if got.Status != "approved" {
		return fmt.Errorf("request %d was %s", id, got.Status)
	}
	return nil
}

// decisionLine says what request r asks for and its state: "request 5:
// cam1:22/tcp approved until 15:04 by carol@example.com".
func decisionLine(r wire.AccessRequest) string {
	by := strings.TrimPrefix(r.DecidedBy, "user:")
	line := fmt.Sprintf("request %d: %s:%d/%s ", r.ID, r.Device, r.Port, r.Proto)
	switch {
	case r.Status == "pending":
		line += "pending"
		if len(r.Approvers) > 0 {
			line += "; approvers: " + strings.Join(r.Approvers, " and ")
		}
	case r.Status == "approved" && !r.Expires.IsZero():
		line += fmt.Sprintf("approved until %s by %s", r.Expires.Local().Format("15:04"), by)
	default:
		line += r.Status + " by " + by
	}
	return line
}
