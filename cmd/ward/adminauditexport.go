//go:build !ward_omit_admin

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/auditchain"
	"github.com/wardnet/ward/wire"
)

// auditExportPage is how many events one request of `ward admin audit
// export` asks for.
const auditExportPage = 500

// newAdminAuditExportCmd is `ward admin audit export`: the audit log as
// JSON lines (the shape `ward admin audit verify --file` reads), from the
// event after --after on, in append order; with --follow it keeps
// polling for new events until interrupted, for pull-based collectors.
func newAdminAuditExportCmd(f *adminFlags) *cobra.Command {
	var after int64
	var follow bool
	var every time.Duration
	cmd := &cobra.Command{Use: "export", Short: "Write the audit log as JSON lines; --follow keeps writing new events", Args: cobra.NoArgs,
		RunE: run(f, func(cmd *cobra.Command, c *adminClient, _ []string) error {
			return exportAudit(cmd.Context(), c, cmd.OutOrStdout(), after, follow, every)
		})}
	cmd.Flags().Int64Var(&after, "after", 0, "start after the event with this ID (the last one a collector has)")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep polling for new events until interrupted")
	cmd.Flags().DurationVar(&every, "every", time.Second, "with --follow, how often to poll")
	return cmd
}

// exportAudit writes the events after after to w, page by page; with
// follow it polls every every until ctx ends.
func exportAudit(ctx context.Context, c *adminClient, w io.Writer, after int64, follow bool, every time.Duration) error {
	enc := json.NewEncoder(w)
	for {
		q := url.Values{"after": {strconv.FormatInt(after, 10)}, "limit": {strconv.Itoa(auditExportPage)}}
		var evs []auditchain.Entry
		if err := c.do(ctx, http.MethodGet, wire.PathAdminAudit+"?"+q.Encode(), nil, &evs); err != nil {
			if follow && ctx.Err() != nil {
				return nil
			}
			return err
		}
		for _, e := range evs {
			if err := enc.Encode(e); err != nil {
				return fmt.Errorf("write audit event %d: %w", e.ID, err)
			}
			after = e.ID
		}
		if len(evs) == auditExportPage {
			continue
		}
		if !follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}
