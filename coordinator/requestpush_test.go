package coordinator

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// jitPush is a coordinator running jitTestPolicy with a camera, a second
// camera no request names, alice's laptop, and their map streams open.
type jitPush struct {
	c                *testCoord
	alice            *machine
	cam, other, mine *mapStream
	otherID          store.NodeID
}

func startJITPush(t *testing.T) *jitPush {
	t.Helper()
	pf := filepath.Join(t.TempDir(), "policy.hujson")
	if err := os.WriteFile(pf, []byte(jitTestPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCoordListening(t, func(cfg *Config) { cfg.PolicyFile = pf })
	j := &jitPush{c: c}
	q := fmt.Sprintf("%s=%d", wire.MapVersionParam, wire.ProtocolVersion)
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	other := c.mustRegister([]string{"tag:camera"}, "cam2")
	j.alice, _ = c.personMachine(alice, "alice-laptop")
	j.cam, j.other, j.mine = c.openMapQuery(cam, q), c.openMapQuery(other, q), c.openMapQuery(j.alice, q)
	j.cam.next()
	j.otherID = store.NodeID(j.other.next().Self.ID)
	if first := j.mine.next(); first.Self == nil || len(first.Self.Requests) != 0 {
		t.Fatalf("alice's first map: %+v", first.Self)
	}
	return j
}

// ask files alice's request for cam1:22 as her node does.
func (j *jitPush) ask(t *testing.T, dur string) wire.AccessRequest {
	t.Helper()
	code, b := j.c.call("POST", wire.PathRequests, j.alice.token, wire.AccessRequestCreate{Device: "cam1", Port: 22, Duration: dur, Reason: "INC-1234"})
	if code != http.StatusCreated {
		t.Fatalf("request: %d %s", code, b)
	}
	var r wire.AccessRequest
	jsonUnmarshal(t, b, &r)
	return r
}

// nextRequests returns the requests of the next message of ms that
// carries its Self.
func nextRequests(ms *mapStream) []wire.AccessRequest {
	for {
		if m := ms.next(); m.Self != nil {
			return m.Self.Requests
		}
	}
}

// TestRequesterSeesDecisionInMap pins issue 17's "the requester sees the
// decision at once": the person's own map carries their requests, so the
// stream their node holds brings the request when made and the approval
// (with its approver and end) the moment an approver decides, with no
// request of the node's.
func TestRequesterSeesDecisionInMap(t *testing.T) {
	j := startJITPush(t)
	req := j.ask(t, "30m")
	if rs := nextRequests(j.mine); len(rs) != 1 || rs[0].ID != req.ID || rs[0].Status != "pending" || rs[0].Device != "cam1" {
		t.Fatalf("alice's requests in her map after asking: %+v", rs)
	}
	b, page := j.c.uiLogin(carol)
	var decided wire.AccessRequest
	if code := j.c.uiAPI(b, page, "POST", fmt.Sprintf("%s/%d/approve", wire.PathAdminRequests, req.ID), nil, &decided); code != http.StatusOK {
		t.Fatalf("carol approves: %d", code)
	}
	rs := nextRequests(j.mine)
	if len(rs) != 1 || rs[0].Status != "approved" || rs[0].DecidedBy != decided.DecidedBy || rs[0].DecidedBy == "" || !rs[0].Expires.Equal(decided.Expires) {
		t.Fatalf("alice's requests in her map after the approval: %+v; want approved by %q until %v", rs, decided.DecidedBy, decided.Expires)
	}
	if code := j.c.admin("POST", fmt.Sprintf("%s/%d/revoke", wire.PathAdminRequests, req.ID), nil, nil); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	if rs := nextRequests(j.mine); len(rs) != 1 || rs[0].Status != "revoked" {
		t.Fatalf("alice's requests in her map after the revocation: %+v", rs)
	}
}

// TestJITDecisionNotifiesOnlyAffectedNodes pins issue 11's "notifyAll
// only when a change really touches everyone" for just-in-time access: a
// request, its approval, its revocation and an access's end wake the
// streams of the requester's nodes and of the device, never another
// node's. The other
// camera's stream is watched at the hub (an extra subscription whose
// wake-ups nothing consumes) as well as on the wire.
func TestJITDecisionNotifiesOnlyAffectedNodes(t *testing.T) {
	j := startJITPush(t)
	sub, ok := j.c.srv.hub.subscribe(j.otherID)
	if !ok {
		t.Fatal("subscribe")
	}
	defer j.c.srv.hub.unsubscribe(j.otherID, sub)
	req := j.ask(t, "30m")
	nextRequests(j.mine)
	b, page := j.c.uiLogin(carol)
	if code := j.c.uiAPI(b, page, "POST", fmt.Sprintf("%s/%d/approve", wire.PathAdminRequests, req.ID), nil, nil); code != http.StatusOK {
		t.Fatalf("carol approves: %d", code)
	}
	if m := nextFilter(j.cam); len(m.Filter) != 1 {
		t.Fatalf("the camera's filter after the approval: %+v", m.Filter)
	}
	nextRequests(j.mine)
	if code := j.c.admin("POST", fmt.Sprintf("%s/%d/revoke", wire.PathAdminRequests, req.ID), nil, nil); code != http.StatusOK {
		t.Fatalf("revoke: %d", code)
	}
	if m := nextFilter(j.cam); len(m.Filter) != 0 {
		t.Fatalf("the camera's filter after the revocation: %+v", m.Filter)
	}
	// An access that ends on its own wakes no other stream either.
	short := j.ask(t, "2s")
	if code := j.c.uiAPI(b, page, "POST", fmt.Sprintf("%s/%d/approve", wire.PathAdminRequests, short.ID), nil, nil); code != http.StatusOK {
		t.Fatalf("carol approves the short one: %d", code)
	}
	if m := nextFilter(j.cam); len(m.Filter) != 1 {
		t.Fatalf("the camera's filter after the short approval: %+v", m.Filter)
	}
	if m := nextFilter(j.cam); len(m.Filter) != 0 {
		t.Fatalf("the camera's filter once the short access ended: %+v", m.Filter)
	}
	select {
	case <-sub.wake:
		t.Errorf("the request and its decisions woke cam2's stream (pending %+v); only alice's nodes and cam1 are touched", sub.take())
	default:
	}
	if !j.other.quiet(500 * time.Millisecond) {
		t.Error("cam2's stream received a message")
	}
}
