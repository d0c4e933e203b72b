package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// Bounds of a rollout's request.
const (
	maxRolloutWaves   = 20
	maxRolloutTarget  = 512
	maxRolloutVersion = 64
	maxRolloutPeriod  = 30 * 24 * time.Hour
)

// gate is a rollout's success or failure gate: a count of devices, or a
// share (percent) of them.
type gate struct {
	count int
	pct   int
}

func (g gate) String() string {
	if g.pct > 0 {
		return strconv.Itoa(g.pct) + "%"
	}
	return strconv.Itoa(g.count)
}

// parseSize reads "5" (a count, at least 1) or "25%" (a share, 1 to 100).
func parseSize(s string) (gate, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 100 {
			return gate{}, fmt.Errorf("%w: %q is not a share from 1%% to 100%%", errBadRequest, s)
		}
		return gate{pct: n}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return gate{}, fmt.Errorf("%w: %q is not a count of at least 1 or a share like 25%%", errBadRequest, s)
	}
	return gate{count: n}, nil
}

// rolloutSpec is a validated rollout request with its gates parsed.
type rolloutSpec struct {
	wire.RolloutCreate
	success, failure gate
	soak, timeout    time.Duration
}

// checkRollout validates req, filling in the default gates (success
// "100%", failure "1"), and returns it parsed.
func checkRollout(req wire.RolloutCreate) (rolloutSpec, error) {
	if req.SuccessGate == "" {
		req.SuccessGate = "100%"
	}
	if req.FailureGate == "" {
		req.FailureGate = "1"
	}
	sp := rolloutSpec{RolloutCreate: req, soak: time.Duration(req.SoakMillis) * time.Millisecond,
		timeout: time.Duration(req.TimeoutMillis) * time.Millisecond}
	switch {
	case req.Target == "" || !printable(req.Target, maxRolloutTarget):
		return rolloutSpec{}, fmt.Errorf("%w: a rollout names a target (printable, at most %d bytes)", errBadRequest, maxRolloutTarget)
	case req.Kind != wire.UpdateKindWard && req.Kind != wire.UpdateKindArtifact:
		return rolloutSpec{}, fmt.Errorf("%w: kind %.20q: want %s or %s", errBadRequest, req.Kind, wire.UpdateKindWard, wire.UpdateKindArtifact)
	case req.Version == "" || !printable(req.Version, maxRolloutVersion):
		return rolloutSpec{}, fmt.Errorf("%w: a rollout names a version (printable, at most %d bytes)", errBadRequest, maxRolloutVersion)
	case len(req.Tags)+len(req.Groups)+len(req.Devices) == 0:
		return rolloutSpec{}, fmt.Errorf("%w: a rollout selects devices by tags, groups or devices", errBadRequest)
	case len(req.Waves) == 0 || len(req.Waves) > maxRolloutWaves:
		return rolloutSpec{}, fmt.Errorf("%w: a rollout has 1 to %d waves", errBadRequest, maxRolloutWaves)
	case sp.soak < 0 || sp.soak > maxRolloutPeriod:
		return rolloutSpec{}, fmt.Errorf("%w: soak_ms outside 0 to %s", errBadRequest, maxRolloutPeriod)
	case sp.timeout <= 0 || sp.timeout > maxRolloutPeriod:
		return rolloutSpec{}, fmt.Errorf("%w: timeout_ms is required, at most %s: a silent device must end as failed", errBadRequest, maxRolloutPeriod)
	case req.MinSample < 0:
		return rolloutSpec{}, fmt.Errorf("%w: negative min_sample", errBadRequest)
	}
	for _, w := range req.Waves {
		if _, err := parseSize(w); err != nil {
			return rolloutSpec{}, fmt.Errorf("wave: %w", err)
		}
	}
	var err error
	if sp.success, err = parseSize(req.SuccessGate); err != nil {
		return rolloutSpec{}, fmt.Errorf("success gate: %w", err)
	}
	if sp.failure, err = parseSize(req.FailureGate); err != nil {
		return rolloutSpec{}, fmt.Errorf("failure gate: %w", err)
	}
	return sp, nil
}

// decodeSpec reads a stored rollout's request back.
func decodeSpec(r store.Rollout) (rolloutSpec, error) {
	var req wire.RolloutCreate
	if err := json.Unmarshal([]byte(r.Spec), &req); err != nil {
		return rolloutSpec{}, fmt.Errorf("rollout %d: decode its request: %w", r.ID, err)
	}
	return checkRollout(req)
}

// splitWaves cuts ids into the waves sizes asks for, in order: a count,
// or a share of every selected device rounded up; the last wave takes
// what is left. Waves that come out empty are dropped.
func splitWaves(sizes []string, ids []store.NodeID) [][]store.NodeID {
	var out [][]store.NodeID
	off := 0
	for i, s := range sizes {
		left := len(ids) - off
		n := left
		if g, _ := parseSize(s); i < len(sizes)-1 {
			n = g.count
			if g.pct > 0 {
				n = (g.pct*len(ids) + 99) / 100
			}
		}
		if n = min(n, left); n > 0 {
			out = append(out, ids[off:off+n])
			off += n
		}
	}
	return out
}

// selectDevices returns the ids of the nodes req selects (the union of
// its tags, groups, which take their members' nodes, and devices, by name
// or id), in id order; an unknown device is a bad request.
func (s *core) selectDevices(ctx context.Context, req wire.RolloutCreate) ([]store.NodeID, error) {
	nodes, err := s.st.ListNodes(ctx)
	if err != nil {
		return nil, err
	}
	groups := make([]string, len(req.Groups))
	for i, g := range req.Groups {
		groups[i] = policyGroup(g)
	}
	picked := map[store.NodeID]bool{}
	for _, d := range req.Devices {
		i := slices.IndexFunc(nodes, func(n store.Node) bool { return n.Name == d || strconv.FormatInt(int64(n.ID), 10) == d })
		if i < 0 {
			return nil, fmt.Errorf("%w: no device %.64q", errBadRequest, d)
		}
		picked[nodes[i].ID] = true
	}
	for _, n := range nodes {
		if slices.ContainsFunc(n.Tags, func(t string) bool { return slices.Contains(req.Tags, t) }) ||
			(n.UserID != 0 && len(n.Tags) == 0 && slices.ContainsFunc(s.nm.groupsOf(n.UserID), func(g string) bool { return slices.Contains(groups, g) })) {
			picked[n.ID] = true
		}
	}
	ids := make([]store.NodeID, 0, len(picked))
	for id := range picked {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}
