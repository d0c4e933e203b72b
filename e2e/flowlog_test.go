package e2e

import (
	"fmt"

	"github.com/wardnet/ward/client"
	"github.com/wardnet/ward/devidp/devidptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/nodetest"
	"github.com/wardnet/ward/wire"
)

// flowWindow is the flow logs' window in these tests (read every 250ms).
const flowWindow = 5 * time.Second

// flows lists the coordinator's flow records for q.
func (f *fleet) flows(t *testing.T, q url.Values) []wire.AdminFlow {
	t.Helper()
	var fs []wire.AdminFlow
	if code, _ := f.Admin("GET", wire.PathAdminFlows+"?"+q.Encode(), nil, &fs); code != 200 {
		t.Fatalf("list flows: %d", code)
	}
	return fs
}

// TestFlowLog100SYNRetransmitsAreOneRecord: real nodes record the flows
// they carry. An accepted connection is one record at each end, with
// bytes each way, both identities and the rule; a stolen key's 100
// retransmits of one SYN to a port the policy does not grant are one
// denied record counting 100 at the camera, named after the identity the
// coordinator knows for the source address.
func TestFlowLog100SYNRetransmitsAreOneRecord(t *testing.T) {
	ssh := echoServer(t)
	f := newFleet(t, fmt.Sprintf(`{
  "tagOwners": {"tag:operator": [], "tag:camera": []},
  "acls": [{"action": "accept", "src": ["tag:operator"], "dst": ["tag:camera:%d"], "proto": "tcp"}],
}`, ssh), nil)
	f.startAgent("cam1", f.authKey("tag:camera"), "", agentOpts{expose: []uint16{ssh}, flowWindow: flowWindow})
	op := f.startAgent("op1", f.authKey("tag:operator"), "", agentOpts{flowWindow: flowWindow})
	waitFor(t, "the operator reaches the camera", func() bool { return op.roundTrip("cam1", ssh) == nil })

	var in, out wire.AdminFlow
	nodetest.Eventually(t, 30*time.Second, "both ends' records of the accepted connection", func() bool {
		for _, r := range f.flows(t, url.Values{"node": {"cam1"}}) {
			switch {
			case r.Reporter == "cam1" && r.Direction == "in" && r.Port == ssh && r.BytesRecv > 0:
				in = r
			case r.Reporter == "op1" && r.Direction == "out" && r.Port == ssh && r.BytesRecv > 0:
				out = r
			}
		}
		return in.ID != 0 && out.ID != 0
	})
	for _, r := range []wire.AdminFlow{in, out} {
		if r.Verdict != "accepted" || r.SrcNode != "op1" || r.SrcWho != "tag:operator" || r.DstNode != "cam1" ||
			r.DstWho != "tag:camera" || r.BytesSent == 0 || r.Count < 1 || r.End.Before(r.Start) {
			t.Errorf("accepted record %+v", r)
		}
	}
	if !strings.HasPrefix(in.Rule, "rule ") || out.Rule != "outbound" {
		t.Errorf("rules: camera %q, operator %q", in.Rule, out.Rule)
	}

	const denied = 2222
	attacker := f.attackAs(t, op, "cam1")
	// Start just after a window opens, so the burst cannot straddle two.
	time.Sleep(time.Until(time.Now().Truncate(flowWindow).Add(flowWindow + 600*time.Millisecond)))
	for range 100 {
		attacker.SYN(denied)
	}
	q := url.Values{"node": {"cam1"}, "denied": {"true"}, "since": {"1h"}}
	var got []wire.AdminFlow
	nodetest.Eventually(t, 30*time.Second, "the denied record", func() bool {
		got = f.flows(t, q)
		return len(got) > 0
	})
	time.Sleep(2 * flowWindow) // a second record, if any, would be in by now
	got = f.flows(t, q)
	if len(got) != 1 {
		t.Fatalf("%d denied records, want 1: %+v", len(got), got)
	}
	r := got[0]
	if r.Count != 100 || r.Port != denied || r.Reporter != "cam1" || r.SrcNode != "op1" || r.Direction != "in" ||
		r.Rule != "no rule matched" || r.BytesSent != 0 {
		t.Errorf("denied record %+v", r)
	}
}

// TestFlowLogPeoplesMachinesReport: a person's desktop client records the
// flows it opens and reports them as itself, with the person as the
// source's identity; the camera reports the same connection inbound.
func TestFlowLogPeoplesMachinesReport(t *testing.T) {
	ssh := echoServer(t)
	f := newFleet(t, peoplePolicy(ssh), nil)
	f.startAgent("cam1", f.authKey("tag:camera"), "", agentOpts{expose: []uint16{ssh}, flowWindow: flowWindow})
	l := nodetest.StartLaptop(t, client.Config{Coordinator: f.url(), AllowInsecureHTTP: true, SOCKS5: "127.0.0.1:0",
		Hostname: "alice-laptop", FlowWindow: flowWindow, FlowPoll: flowWindow / 20, Logger: f.logs.logger("alice-laptop")})
	alice := &laptop{Laptop: l, dir: l.Dir, api: l.API, socks: l.SOCKS5}
	if res, _ := alice.login(t, devidptest.Credentials{Username: "alice", Password: "alice", OTP: "123456"}); res.Error != "" {
		t.Fatalf("alice's login: %+v", res)
	}
	waitFor(t, "alice reaches the camera", func() bool { return alice.socksEcho("cam1", ssh) == nil })
	var out, in wire.AdminFlow
	nodetest.Eventually(t, 30*time.Second, "the laptop's and the camera's records", func() bool {
		for _, r := range f.flows(t, url.Values{"node": {"alice-laptop"}}) {
			if r.Port != ssh || r.BytesRecv == 0 {
				continue
			}
			if r.Reporter == "alice-laptop" && r.Direction == "out" {
				out = r
			}
			if r.Reporter == "cam1" && r.Direction == "in" {
				in = r
			}
		}
		return out.ID != 0 && in.ID != 0
	})
	for _, r := range []wire.AdminFlow{out, in} {
		if r.SrcNode != "alice-laptop" || r.SrcWho != "user:alice@example.com" || r.DstNode != "cam1" || r.Verdict != "accepted" {
			t.Errorf("record %+v", r)
		}
	}
}
