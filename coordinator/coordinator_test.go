package coordinator

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

func peerNames(ns []wire.Node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Name)
	}
	return out
}

func TestMapStreamFullThenDeltas(t *testing.T) {
	c := startCoord(t, testPolicy)
	op := c.mustRegister([]string{"tag:operator"}, "op1")
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	sensor := c.mustRegister([]string{"tag:sensor"}, "sensor1")

	opMap, camMap, sensorMap := c.openMap(op, 0), c.openMap(cam, 0), c.openMap(sensor, 0)
	full := opMap.next()
	if !full.Full || full.Self.Name != "op1" || len(full.Peers) != 1 || full.Peers[0].Name != "cam1" {
		t.Fatalf("operator full map: %+v", full)
	}
	if len(full.Filter) != 0 {
		t.Errorf("operator has inbound rules: %+v", full.Filter)
	}
	camFull := camMap.next()
	if len(camFull.Filter) != 1 || camFull.Filter[0].Dst[0].Ports[0].First != 22 || peerNames(camFull.Peers)[0] != "op1" {
		t.Fatalf("camera full map: %+v", camFull)
	}
	if sf := sensorMap.next(); len(sf.Peers) != 0 || len(sf.Filter) != 0 {
		t.Fatalf("sensor sees something: %+v", sf)
	}

	// Removing the grant reaches both sides; the sensor gets nothing.
	start := time.Now()
	if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: strings.Replace(testPolicy, `"tag:camera:22"`, `"tag:camera:80"`, 1), ParentID: -1}, nil); code != 200 {
		t.Fatalf("set policy: %d", code)
	}
	d := camMap.next()
	t.Logf("policy change reached the camera in %v", time.Since(start))
	if !d.FilterChanged || d.Full || d.Filter[0].Dst[0].Ports[0].First != 80 || d.Version <= camFull.Version {
		t.Fatalf("camera delta: %+v", d)
	}
	if !sensorMap.quiet(300 * time.Millisecond) {
		t.Error("unaffected sensor received a message")
	}

	// Removing the camera: the operator drops it, the camera's stream ends.
	if code := c.admin("DELETE", wire.PathAdminNodes+"/cam1", nil, nil); code != 204 {
		t.Fatalf("remove: %d", code)
	}
	for {
		m := opMap.next()
		if len(m.PeersRemoved) == 1 {
			break
		}
	}
	if !camMap.ended() {
		t.Error("removed node's stream did not end")
	}
}

func TestMapResumeSendsDelta(t *testing.T) {
	c := startCoord(t, testPolicy)
	op := c.mustRegister([]string{"tag:operator"}, "op1")
	c.mustRegister([]string{"tag:camera"}, "cam1")
	s := c.openMap(op, 0)
	full := s.next()
	s.resp.Body.Close()
	time.Sleep(50 * time.Millisecond)
	s2 := c.openMap(op, full.Version)
	c.mustRegister([]string{"tag:camera"}, "cam2")
	m := s2.next()
	if m.Full || len(m.PeersChanged) == 0 {
		t.Fatalf("resume: want a delta adding cam2, got %+v", m)
	}
}

func TestAuthKeys(t *testing.T) {
	c := startCoord(t, testPolicy)
	single := c.authKey([]string{"tag:camera"}, false, "")
	if code, n := c.register(newMachine(t), single, "a"); code != 200 || n.IPv4.IsValid() == false {
		t.Fatalf("first use: %d %+v", code, n)
	}
	code, _ := c.register(newMachine(t), single, "b")
	if code != 403 {
		t.Errorf("second use of single-use key: %d, want 403", code)
	}
	short := c.authKey([]string{"tag:camera"}, true, "1ms")
	time.Sleep(5 * time.Millisecond)
	if code, _ := c.register(newMachine(t), short, "c"); code != 403 {
		t.Errorf("expired key: %d, want 403", code)
	}
	var ks []wire.AuthKey
	c.admin("GET", wire.PathAdminAuthKeys, nil, &ks)
	reusable := c.authKey([]string{"tag:camera"}, true, "")
	c.admin("GET", wire.PathAdminAuthKeys, nil, &ks)
	id := ks[len(ks)-1].ID
	if code := c.admin("DELETE", wire.PathAdminAuthKeys+"/"+itoa(id), nil, nil); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	if code, _ := c.register(newMachine(t), reusable, "d"); code != 403 {
		t.Errorf("revoked key: %d, want 403", code)
	}
	if code, _ := c.register(newMachine(t), "wpk_made_up", "e"); code != 403 {
		t.Errorf("unknown key: %d, want 403", code)
	}
	if code := c.admin("POST", wire.PathAdminAuthKeys, wire.CreateAuthKeyRequest{Tags: []string{"tag:unowned"}}, nil); code != 400 {
		t.Errorf("key with a tag lacking tagOwners: %d, want 400", code)
	}
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func TestConcurrentSingleUseKey(t *testing.T) {
	c := startCoord(t, testPolicy)
	key := c.authKey([]string{"tag:camera"}, false, "")
	ms := make([]*machine, 10)
	for i := range ms {
		ms[i] = newMachine(t)
		c.session(ms[i])
	}
	var wg sync.WaitGroup
	codes := make([]int, len(ms))
	for i, m := range ms {
		wg.Go(func() { codes[i], _ = c.register(m, key, "race") })
	}
	wg.Wait()
	ok := 0
	for _, code := range codes {
		if code == 200 {
			ok++
		}
	}
	var nodes []wire.AdminNode
	c.admin("GET", wire.PathAdminNodes, nil, &nodes)
	if ok != 1 || len(nodes) != 1 {
		t.Fatalf("%d registrations succeeded and %d nodes exist; want exactly 1 (codes %v)", ok, len(nodes), codes)
	}
}

func TestRoutesRefuseWithoutCredentials(t *testing.T) {
	c := startCoord(t, testPolicy)
	owner := c.mustRegister([]string{"tag:camera"}, "cam1")
	other := newMachine(t) // has a session but is not a node
	c.session(other)
	expired := newMachine(t) // a genuine token of this coordinator, past its end
	expired.token = c.srv.sess.token(expired.priv.Public(), time.Now().Add(-time.Hour), time.Now().Add(-time.Second))
	routes := []struct{ method, path string }{
		{"POST", wire.PathRegister}, {"GET", wire.PathMap}, {"POST", wire.PathRotate}, {"POST", wire.PathReport},
		{"GET", wire.PathAdminNodes}, {"POST", wire.PathAdminAuthKeys}, {"GET", wire.PathAdminAudit},
		{"PUT", wire.PathAdminPolicy}, {"DELETE", wire.PathAdminNodes + "/1"},
	}
	for _, r := range routes {
		for name, tok := range map[string]string{"none": "", "garbage": "wst_nope", "expired": expired.token} {
			code, body := c.call(r.method, r.path, tok, []byte(`{}`))
			if code != 401 {
				t.Errorf("%s %s with %s token: %d, want 401 (%s)", r.method, r.path, name, code, body)
			}
			if bytes.Contains(body, []byte("cam1")) {
				t.Errorf("%s %s with %s token leaked data: %s", r.method, r.path, name, body)
			}
		}
	}
	// A session that is not a registered node cannot read maps or report.
	for _, p := range []string{wire.PathMap} {
		if code, _ := c.call("GET", p, other.token, nil); code != 403 {
			t.Errorf("non-node session on %s: %d, want 403", p, code)
		}
	}
	// A node token is not an admin credential.
	if code, _ := c.call("GET", wire.PathAdminNodes, owner.token, nil); code != 401 {
		t.Errorf("node token on admin API: %d, want 401", code)
	}
}

func TestSessionNeedsMachinePrivateKey(t *testing.T) {
	c := startCoord(t, testPolicy)
	victim := c.mustRegister([]string{"tag:camera"}, "cam1")
	attacker := newMachine(t)
	var ch wire.ChallengeResponse
	_, b := c.call("POST", wire.PathChallenge, "", wire.ChallengeRequest{MachineKey: victim.priv.Public()})
	jsonUnmarshal(t, b, &ch)
	// Signing with another key, for the victim's public key, fails.
	sig := attacker.priv.Sign(wire.SessionMessage(ch.Challenge, victim.priv.Public()))
	code, _ := c.call("POST", wire.PathSession, "", wire.SessionRequest{MachineKey: victim.priv.Public(), Challenge: ch.Challenge, Signature: sig})
	if code != 401 {
		t.Fatalf("forged signature: %d, want 401", code)
	}
	// The challenge was consumed: even a valid signature cannot reuse it.
	sig = victim.priv.Sign(wire.SessionMessage(ch.Challenge, victim.priv.Public()))
	code, _ = c.call("POST", wire.PathSession, "", wire.SessionRequest{MachineKey: victim.priv.Public(), Challenge: ch.Challenge, Signature: sig})
	if code != 401 {
		t.Fatalf("replayed challenge: %d, want 401", code)
	}
}

func TestMalformedControlMessages(t *testing.T) {
	c := startCoord(t, testPolicy)
	m := c.mustRegister([]string{"tag:camera"}, "cam1")
	cases := []struct {
		name, path string
		body       []byte
		want       int
	}{
		{"truncated", wire.PathReport, []byte(`{"endpoints": [`), 400},
		{"unknown field", wire.PathReport, []byte(`{"hello": 1}`), 400},
		{"wrong type", wire.PathReport, []byte(`{"endpoints": 5}`), 400},
		{"trailing", wire.PathReport, []byte(`{} {}`), 400},
		{"oversized", wire.PathReport, bytes.Repeat([]byte(" "), wire.MaxRequestBytes+10), 413},
		{"bad endpoint", wire.PathReport, []byte(`{"endpoints": ["127.0.0.1:0"]}`), 400},
		{"zero key", wire.PathRotate, []byte(`{"wg_key": "wgkey:0000000000000000000000000000000000000000000000000000000000000000"}`), 400},
		{"bad key", wire.PathRotate, []byte(`{"wg_key": "nope"}`), 400},
		{"challenge garbage", wire.PathChallenge, []byte(`[1,2]`), 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := c.call("POST", tc.path, m.token, tc.body)
			if code != tc.want {
				t.Errorf("%d, want %d: %s", code, tc.want, body)
			}
		})
	}
	var n wire.AdminNode
	c.admin("GET", wire.PathAdminNodes+"/cam1", nil, &n)
	if len(n.Endpoints) != 0 {
		t.Errorf("a refused message changed the node: %+v", n.Endpoints)
	}
}

func TestPolicyRefusedKeepsRunning(t *testing.T) {
	c := startCoord(t, testPolicy)
	var before wire.PolicyVersion
	c.admin("GET", wire.PathAdminPolicy, nil, &before)
	bad := `{"acls": [{"action": "accept", "src": ["tag:ghost"], "dst": ["*:22"]}]}`
	code, body := c.call("PUT", wire.PathAdminPolicy, c.apiKey, wire.SetPolicyRequest{Text: bad, ParentID: -1})
	if code != 400 || !bytes.Contains(body, []byte(`1:40`)) {
		t.Fatalf("bad policy: %d %s", code, body)
	}
	failing := strings.Replace(testPolicy, "acls", `tests": [{"src": "tag:operator", "deny": ["tag:camera:22"]}], "acls`, 1)
	if code, body := c.call("PUT", wire.PathAdminPolicy, c.apiKey, wire.SetPolicyRequest{Text: failing, ParentID: -1}); code != 400 || !bytes.Contains(body, []byte("test failed")) {
		t.Fatalf("policy with failing test: %d %s", code, body)
	}
	if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: testPolicy, ParentID: before.ID + 7}, nil); code != 409 {
		t.Fatalf("stale parent: %d, want 409", code)
	}
	var after wire.PolicyVersion
	c.admin("GET", wire.PathAdminPolicy, nil, &after)
	if after.ID != before.ID {
		t.Fatalf("refused policies changed the running version: %d -> %d", before.ID, after.ID)
	}
}

func TestReportUpdatesExposedPorts(t *testing.T) {
	c := startCoord(t, testPolicy)
	m := c.mustRegister([]string{"tag:camera"}, "cam1")
	if code, body := c.call("POST", wire.PathReport, m.token, wire.Report{ExposedPorts: []uint16{22, 8080}}); code != 204 {
		t.Fatalf("report: %d %s", code, body)
	}
	var n wire.AdminNode
	c.admin("GET", wire.PathAdminNodes+"/cam1", nil, &n)
	if len(n.ExposedPorts) != 2 || n.ExposedPorts[1] != 8080 {
		t.Fatalf("exposed ports: %v", n.ExposedPorts)
	}
	if code, _ := c.call("POST", wire.PathReport, m.token, wire.Report{ExposedPorts: []uint16{0}}); code != 400 {
		t.Errorf("port 0 accepted: %d", code)
	}
}

func TestMapStreamsPerNodeAreBounded(t *testing.T) {
	c := startCoord(t, testPolicy)
	m := c.mustRegister([]string{"tag:camera"}, "cam1")
	for range maxStreamsPerNode {
		c.openMap(m, 0).next()
	}
	if code, _ := c.call("GET", wire.PathMap, m.token, nil); code != 429 {
		t.Fatalf("stream beyond the bound: %d, want 429", code)
	}
}
