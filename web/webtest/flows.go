package webtest

import (
	"context"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/wire"
)

// AddFlows adds flow-log records, newest first, ahead of those held.
func (b *Backend) AddFlows(fs ...wire.AdminFlow) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flows = append(append([]wire.AdminFlow(nil), fs...), b.flows...)
}

// Flows implements web.Backend.
func (b *Backend) Flows(_ context.Context, q admin.FlowQuery) ([]wire.AdminFlow, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []wire.AdminFlow
	for _, f := range b.flows {
		if flowMatches(f, q) && (q.Limit == 0 || len(out) < q.Limit) {
			out = append(out, f)
		}
	}
	return out, nil
}

func flowMatches(f wire.AdminFlow, q admin.FlowQuery) bool {
	return (q.Node == "" || f.Reporter == q.Node || f.SrcNode == q.Node || f.DstNode == q.Node) &&
		(!q.DeniedOnly || f.Verdict == "denied") &&
		(q.Since.IsZero() || !f.End.Before(q.Since)) && (q.Until.IsZero() || f.End.Before(q.Until))
}
