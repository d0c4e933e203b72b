package store

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// snapshot is everything a store holds, as its API lists it.
type snapshot struct {
	Nodes      []Node
	AuthKeys   []AuthKey
	APIKeys    []APIKey
	Users      []User
	Policies   []Policy
	Audit      []AuditEvent
	MapVersion uint64
}

// takeSnapshot lists everything in s.
func takeSnapshot(t *testing.T, s *SQLStore) snapshot {
	t.Helper()
	ctx := context.Background()
	var sn snapshot
	var errs [7]error
	sn.Nodes, errs[0] = s.ListNodes(ctx)
	sn.AuthKeys, errs[1] = s.ListAuthKeys(ctx)
	sn.APIKeys, errs[2] = s.ListAPIKeys(ctx)
	sn.Users, errs[3] = s.ListUsers(ctx)
	sn.Policies, errs[4] = s.ListPolicies(ctx)
	sn.Audit, errs[5] = s.ListAudit(ctx, AuditFilter{})
	sn.MapVersion, errs[6] = s.MapVersion(ctx)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return sn
}

func TestDurableAcrossReopen(t *testing.T) {
	s, dir := openTest(t)
	ctx := context.Background()
	u := mustUser(t, s, "a@x")
	mustRegister(t, s, 1, t0)
	if _, err := s.RegisterWithUser(ctx, u.ID, t0, newNode(2)); err != nil {
		t.Fatal(err)
	}
	steps := []error{
		s.SetPresence(ctx, 1, t0, true),
		s.RotateWGKey(ctx, 2, KeyRotation{Key: wgkey(3), OverlapUntil: t0}),
		s.RevokeAuthKey(ctx, 1, t0),
		s.SetUserDisabled(ctx, u.ID, true),
	}
	_, err := s.CreateAPIKey(ctx, apiKey("api", t0.Add(time.Hour)))
	steps = append(steps, err)
	_, err = s.SavePolicy(ctx, NewPolicy{Text: "{}", CreatedAt: t0})
	steps = append(steps, err)
	_, err = s.AppendAudit(ctx, AuditEvent{Time: t0, Actor: "user:a@x", Action: "policy.save",
		Detail: json.RawMessage(`[1]`)})
	steps = append(steps, err)
	_, err = s.NextMapVersion(ctx)
	steps = append(steps, err)
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	before := takeSnapshot(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	after := takeSnapshot(t, openDir(t, dir))
	if d := diff(before, after); d != "" {
		t.Errorf("after reopen (-before +after):\n%s", d)
	}
}

// helperDirEnv names the data directory of the writer that
// TestDurableAfterKill runs in a child process and kills.
const helperDirEnv = "WARD_STORE_KILL_HELPER_DIR"

func TestDurableAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := readAcks(t, bufio.NewScanner(out), 30)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred code runs
		t.Fatal(err)
	}
	_ = cmd.Wait() // "signal: killed" is the expected outcome
	s := openDir(t, dir)
	ctx := context.Background()
	for _, id := range acked {
		n, err := s.Node(ctx, id)
		if err != nil {
			t.Errorf("acknowledged node %d lost: %v", id, err)
			continue
		}
		events, _ := s.ListAudit(ctx, AuditFilter{Target: fmt.Sprintf("node:%d", n.ID)})
		if len(events) != 1 {
			t.Errorf("acknowledged audit event for node %d: found %d", id, len(events))
		}
	}
}

// readAcks reads "ack N" lines until it has n node IDs.
func readAcks(t *testing.T, sc *bufio.Scanner, n int) []NodeID {
	t.Helper()
	var ids []NodeID
	for len(ids) < n && sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue
		}
		id, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			t.Fatalf("helper said %q", sc.Text())
		}
		ids = append(ids, NodeID(id))
	}
	if len(ids) < n {
		t.Fatalf("helper acknowledged %d writes, want %d (scan error %v)", len(ids), n, sc.Err())
	}
	return ids
}

// TestKillHelper is the child process of TestDurableAfterKill: it registers
// nodes and appends audit events, printing "ack ID" after each pair returns,
// until it is killed or has run for a minute.
func TestKillHelper(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("child process of TestDurableAfterKill")
	}
	s := openDir(t, dir)
	ctx := context.Background()
	k := tagKey("kill")
	k.Reusable = true
	mustAuthKey(t, s, k)
	deadline := time.Now().Add(time.Minute)
	for i := 0; time.Now().Before(deadline); i++ {
		n, _, err := s.RegisterWithAuthKey(ctx, secret("kill"), t0, newNode(i))
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.AppendAudit(ctx, AuditEvent{Actor: "test", Action: "node.register",
			Target: fmt.Sprintf("node:%d", n.ID)})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("ack %d\n", n.ID)
	}
}
