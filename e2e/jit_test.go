package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"reflect"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/nodetest"
	"github.com/wardnet/ward/wire"
)

// jitPolicy grants nothing by itself: alice (group:eng) may request tcp
// ssh on the cameras, which carol (group:oncall) approves.
func jitPolicy(ssh uint16) string {
	return fmt.Sprintf(`{
  "groups": {"group:eng": ["alice@example.com"], "group:oncall": ["carol@example.com"]},
  "tagOwners": {"tag:camera": []},
  "grants": [{"src": ["group:eng"], "dst": ["tag:camera"], "ip": ["tcp:%d"], "approval": "group:oncall", "maxDuration": "1h"}],
}`, ssh)
}

// TestJITRequestOpensExactlyThePortUntilItsEnd pins issue 17's
// just-in-time access through real nodes: alice's `ward request` that
// carol denies opens nothing; the one carol approves opens exactly the
// requested port (not the camera's other service) and, with the
// coordinator stopped, closes at its end on the camera's own clock.
func TestJITRequestOpensExactlyThePortUntilItsEnd(t *testing.T) {
	ssh, other := echoServer(t), echoServer(t)
	f := newFleet(t, jitPolicy(ssh), nil)
	cam := f.startAgent("cam1", f.authKey("tag:camera"), "", agentOpts{expose: []uint16{ssh, other}})
	l := f.startLaptop(t, "alice-laptop")
	if res, _ := l.login(t, devidptest.Credentials{Username: "alice", Password: "alice", OTP: "123456"}); res.Error != "" {
		t.Fatalf("alice's login: %+v", res)
	}
	if err := l.socksEcho("cam1", ssh); err == nil {
		t.Fatal("alice reaches the camera before any request")
	}
	carol := f.approver(t, devidptest.Credentials{Username: "carol", Password: "carol"})

	denied := f.request(t, l, ssh, "1m")
	if r := carol.decide(t, denied, "deny"); r.Status != "denied" {
		t.Fatalf("deny: %+v", r)
	}
	var access []acl.Access
	if code, _ := f.Admin("GET", wire.PathAdminNodes+"/cam1/access", nil, &access); code != 200 || len(access) != 0 {
		t.Errorf("who reaches the camera after a denied request: %d %+v; want no one", code, access)
	}
	if err := l.socksEcho("cam1", ssh); err == nil {
		t.Error("a denied request opened the port")
	}
	// Long enough that, on a loaded machine, the direct path is
	// confirmed before the access ends (with 10 s it once ended first).
	approved := f.request(t, l, ssh, "30s")
	r := carol.decide(t, approved, "approve")
	if r.Status != "approved" || r.Expires.IsZero() {
		t.Fatalf("approve: %+v", r)
	}
	waitFor(t, "the approved port opens", func() bool { return l.socksEcho("cam1", ssh) == nil })
	f.Admin("GET", wire.PathAdminNodes+"/cam1/access", nil, &access)
	if want := []acl.Access{{Src: "alice@example.com", Dst: "cam1", Proto: "tcp", Ports: strconv.Itoa(int(ssh))}}; !reflect.DeepEqual(access, want) {
		t.Errorf("who reaches the camera after the approval: %+v; want %+v", access, want)
	}
	if err := l.socksEcho("cam1", other); err == nil {
		t.Error("the approval opened the camera's other port too")
	}

	// The coordinator's own relay stops with it: both ends must be on
	// the direct path first, or the stop itself cuts a relayed flow.
	waitDirect(t, l, cam, "alice-laptop", "cam1")
	f.Stop()
	var cut error
	nodetest.Eventually(t, time.Until(r.Expires)+20*time.Second, "the access ends with the coordinator stopped",
		func() bool { cut = l.socksEcho("cam1", ssh); return cut != nil })
	if now := time.Now(); now.Before(r.Expires) {
		t.Errorf("the access ended at %v, before its end %v: %v", now, r.Expires, cut)
	}
}

// request runs `ward request cam1:PORT` as the laptop's person and
// returns the request's id.
func (f *fleet) request(t *testing.T, l *laptop, port uint16, dur string) int64 {
	t.Helper()
	out, err := exec.Command(binary(t), "request", fmt.Sprintf("cam1:%d", port), "--for", dur, "--reason", "INC-1234",
		"--state-dir", l.dir, "--dev-insecure-http").CombinedOutput()
	m := regexp.MustCompile(`^request (\d+): alice@example.com cam1:\d+/tcp for .*, pending; approvers: group:oncall \(INC-1234\)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("ward request: %v\n%s", err, out)
	}
	id, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return id
}

// approver is a person's admin UI session.
type approver struct {
	f    *fleet
	b    *devidptest.Browser
	csrf string
}

// approver logs creds in to the admin UI through the dev IdP.
func (f *fleet) approver(t *testing.T, creds devidptest.Credentials) *approver {
	t.Helper()
	b := devidptest.NewBrowser()
	p, err := b.Login(t.Context(), f.url()+"/ui/login", creds)
	if err != nil {
		t.Fatalf("%s's UI login: %v", creds.Username, err)
	}
	m := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no CSRF token after %s's login", creds.Username)
	}
	return &approver{f: f, b: b, csrf: m[1]}
}

// decide approves or denies request id through the admin API.
func (a *approver) decide(t *testing.T, id int64, verb string) wire.AccessRequest {
	t.Helper()
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s%s/%d/%s", a.f.url(), wire.PathAdminRequests, id, verb), bytes.NewReader(nil))
	req.Header.Set("X-CSRF-Token", a.csrf)
	resp, err := a.b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r wire.AccessRequest
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &r) != nil {
		t.Fatalf("%s request %d: %d %s", verb, id, resp.StatusCode, body)
	}
	return r
}
