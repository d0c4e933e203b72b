package coordinator

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

const jitTestPolicy = `{
  "groups": {"group:eng": ["alice@example.com"], "group:oncall": ["carol@example.com"]},
  "tagOwners": {"tag:camera": []},
  "grants": [
    {"src": ["group:eng"], "dst": ["tag:camera"], "ip": ["tcp:22"], "approval": "group:oncall", "maxDuration": "1h"},
  ],
}`

// TestApprovedRequestOpensExactlyThePortUntilItEnds pins issue 17's
// just-in-time access at the coordinator, through its HTTP APIs as any
// client would call them: a person's node asks for a port the policy's
// approval grant covers (nothing else, no longer than its maxDuration,
// and never from a device); neither the requester nor the system's key
// may approve; an approver's approval puts exactly that port, from the
// person's nodes, with its end, into the camera's map at once, and the
// coordinator takes it out when it ends; a denied request opens nothing;
// the requester sees each decision.
func TestApprovedRequestOpensExactlyThePortUntilItEnds(t *testing.T) {
	pf := filepath.Join(t.TempDir(), "policy.hujson")
	if err := os.WriteFile(pf, []byte(jitTestPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCoordListening(t, func(cfg *Config) { cfg.PolicyFile = pf })
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	alice, _ := c.personMachine(alice, "alice-laptop")
	ms := c.openMapQuery(cam, fmt.Sprintf("%s=%d", wire.MapVersionParam, wire.ProtocolVersion))
	if f := ms.next().Filter; len(f) != 0 {
		t.Fatalf("the camera's filter before any request: %+v", f)
	}

	ask := func(m *machine, port uint16, dur string) (int, wire.AccessRequest) {
		t.Helper()
		code, b := c.call("POST", wire.PathRequests, m.token, wire.AccessRequestCreate{Device: "cam1", Port: port, Duration: dur, Reason: "INC-1234"})
		var r wire.AccessRequest
		if code < 300 {
			jsonUnmarshal(t, b, &r)
		}
		return code, r
	}
	for _, bad := range []struct {
		m    *machine
		port uint16
		dur  string
		want int
	}{{alice, 22, "2h", http.StatusBadRequest}, {alice, 23, "1m", http.StatusForbidden}, {cam, 22, "1m", http.StatusForbidden}} {
		if code, _ := ask(bad.m, bad.port, bad.dur); code != bad.want {
			t.Errorf("request of port %d for %s: %d, want %d", bad.port, bad.dur, code, bad.want)
		}
	}
	code, req := ask(alice, 22, "4s")
	if code != http.StatusCreated || req.Status != "pending" || len(req.Approvers) != 1 || req.Approvers[0] != "group:oncall" {
		t.Fatalf("request: %d %+v", code, req)
	}
	approve := fmt.Sprintf("%s/%d/approve", wire.PathAdminRequests, req.ID)
	if code := c.admin("POST", approve, nil, nil); code != http.StatusForbidden {
		t.Errorf("the system's key approves: %d, want 403 (it is no member of group:oncall)", code)
	}
	b, page := c.uiLogin(carol)
	var decided wire.AccessRequest
	if code := c.uiAPI(b, page, "POST", approve, nil, &decided); code != http.StatusOK || decided.Status != "approved" {
		t.Fatalf("carol approves: %d %+v", code, decided)
	}
	m := nextFilter(ms)
	if len(m.Filter) != 1 || m.Filter[0].Expires.IsZero() || !m.Filter[0].Expires.Equal(decided.Expires) ||
		len(m.Filter[0].Dst) != 2 || m.Filter[0].Dst[0].Ports[0] != (filter.PortRange{First: 22, Last: 22}) || m.Filter[0].Protos[0] != filter.ProtoTCP {
		t.Errorf("the camera's filter after the approval = %+v; want tcp 22 alone, ending %v", m.Filter, decided.Expires)
	}
	if code := c.uiAPI(b, page, "POST", approve, nil, nil); code != http.StatusConflict {
		t.Errorf("approving twice: %d, want 409", code)
	}
	if m := nextFilter(ms); len(m.Filter) != 0 || time.Now().Before(decided.Expires) {
		t.Errorf("the camera's filter at %v (end %v) = %+v; want it empty once the access ended", time.Now(), decided.Expires, m.Filter)
	}

	_, req2 := ask(alice, 22, "1m")
	if code := c.uiAPI(b, page, "POST", fmt.Sprintf("%s/%d/deny", wire.PathAdminRequests, req2.ID), nil, &decided); code != http.StatusOK || decided.Status != "denied" {
		t.Fatalf("carol denies: %d %+v", code, decided)
	}
	if ms.quiet(time.Second) == false {
		t.Error("a denied request changed the camera's map")
	}
	// An approved access revoked early leaves the maps at once.
	_, req3 := ask(alice, 22, "30m")
	if code := c.uiAPI(b, page, "POST", fmt.Sprintf("%s/%d/approve", wire.PathAdminRequests, req3.ID), nil, nil); code != http.StatusOK {
		t.Fatalf("approve the third: %d", code)
	}
	if m := nextFilter(ms); len(m.Filter) != 1 {
		t.Fatalf("the camera's filter after the third approval = %+v", m.Filter)
	}
	if code := c.admin("POST", fmt.Sprintf("%s/%d/revoke", wire.PathAdminRequests, req3.ID), nil, &decided); code != http.StatusOK || decided.Status != "revoked" {
		t.Fatalf("revoke: %d %+v", code, decided)
	}
	if m := nextFilter(ms); len(m.Filter) != 0 {
		t.Errorf("the camera's filter after the revocation = %+v; want it empty at once", m.Filter)
	}
	var evs []wire.AuditEvent
	c.admin("GET", wire.PathAdminAudit+"?action=request.", nil, &evs)
	if len(evs) != 7 { // three made, two approved, one denied, one revoked
		t.Errorf("request audit events: %d %+v", len(evs), evs)
	}

	// The admin UI's requests page lists them with their decisions.
	rp, err := b.Open(t.Context(), c.http.URL+"/ui/requests")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf(`id="request-%d"`, req.ID), "revoked", "denied", "alice@example.com", "cam1:22/tcp", "INC-1234"} {
		if !strings.Contains(rp.Body, want) {
			t.Errorf("the requests page (%d) lacks %q", rp.Status, want)
		}
	}

	var mine []wire.AccessRequest
	code, body := c.call("GET", wire.PathRequests, alice.token, nil)
	jsonUnmarshal(t, body, &mine)
	if code != 200 || len(mine) != 3 || mine[0].Status != "revoked" || mine[1].Status != "denied" || mine[2].Status != "approved" {
		t.Errorf("alice's requests: %d %+v", code, mine)
	}
}

// nextFilter returns the next map message that changes the filter.
func nextFilter(ms *mapStream) wire.MapResponse {
	for {
		if m := ms.next(); m.FilterChanged || m.Full {
			return m
		}
	}
}

// TestApprovalRechecksMaxDuration pins the review's finding "approval
// does not re-check the request's duration": a request filed for 50
// minutes under a grant whose maxDuration was then lowered to 10 minutes
// cannot be approved for the old length; approving it is refused with a
// clear error and opens nothing.
func TestApprovalRechecksMaxDuration(t *testing.T) {
	pf := filepath.Join(t.TempDir(), "policy.hujson")
	if err := os.WriteFile(pf, []byte(jitTestPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCoordListening(t, func(cfg *Config) { cfg.PolicyFile = pf })
	c.mustRegister([]string{"tag:camera"}, "cam1")
	alice, _ := c.personMachine(alice, "alice-laptop")
	code, b := c.call("POST", wire.PathRequests, alice.token, wire.AccessRequestCreate{Device: "cam1", Port: 22, Duration: "50m", Reason: "INC-1"})
	if code != http.StatusCreated {
		t.Fatalf("request: %d %s", code, b)
	}
	var req wire.AccessRequest
	jsonUnmarshal(t, b, &req)
	shorter := strings.Replace(jitTestPolicy, `"maxDuration": "1h"`, `"maxDuration": "10m"`, 1)
	if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: shorter, ParentID: -1}, nil); code != http.StatusOK {
		t.Fatalf("lowering maxDuration: %d", code)
	}
	ub, page := c.uiLogin(carol)
	var decided wire.AccessRequest
	if code := c.uiAPI(ub, page, "POST", fmt.Sprintf("%s/%d/approve", wire.PathAdminRequests, req.ID), nil, &decided); code != http.StatusBadRequest {
		t.Fatalf("approving 50m under a 10m maxDuration: %d %+v, want 400", code, decided)
	}
	var list []wire.AccessRequest
	if code := c.admin("GET", wire.PathAdminRequests, nil, &list); code != http.StatusOK || len(list) != 1 || list[0].Status != "pending" {
		t.Errorf("requests after the refused approval: %d %+v, want the one request still pending", code, list)
	}
}
