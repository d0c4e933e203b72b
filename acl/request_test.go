package acl

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/filter"
)

const jitPolicy = `{
  "groups": {"group:eng": ["alice@example.com", "olga@example.com"], "group:oncall": ["olga@example.com", "oscar@example.com"], "group:plant": ["oscar@example.com"]},
  "tagOwners": {"tag:camera": []},
  "riskClasses": [{"name": "critical", "approval": "group:plant", "maxDuration": "1h"}, "standard"],
  "grants": [
    {"src": ["group:eng"], "dst": ["tag:camera"], "ip": ["tcp:22"], "approval": "group:oncall", "maxDuration": "4h"},
  ],
}`

// TestApprovalGrantsAndTimedAccess pins issue 17's just-in-time grants in
// the policy: an approval grant grants nothing by itself; it says who may
// request what, who approves (its group, and the device's class's) and
// for how long at most; an approved request compiles into exactly the
// requested port, from the person's nodes, carrying its end.
func TestApprovalGrantsAndTimedAccess(t *testing.T) {
	rs := mustCheck(t, jitPolicy, Options{})
	cam := testNode("cam", "100.64.0.1", "fd7a::1", "", "tag:camera")
	plc := testNode("plc", "100.64.0.2", "fd7a::2", "", "tag:camera")
	plc.Risk = "critical"
	laptop := testNode("laptop", "100.64.0.3", "fd7a::3", "alice@example.com")
	inv := Inventory{Nodes: []Node{cam, plc, laptop}}

	c := mustCompile(t, jitPolicy, inv)
	if f := filters(c); len(f) != 0 {
		t.Errorf("an approval grant granted by itself: %v", f)
	}

	q, err := rs.Requestable("alice@example.com", cam, filter.ProtoTCP, 22)
	if err != nil || q.Approval != "group:oncall" || q.ClassApproval != "" || q.MaxDuration != 4*time.Hour {
		t.Errorf("Requestable(cam:22) = %+v, %v", q, err)
	}
	if rs.MayApprove(q, "alice@example.com") || !rs.MayApprove(q, "olga@example.com") {
		t.Errorf("approvers of cam:22: alice %v, olga %v; want olga only", rs.MayApprove(q, "alice@example.com"), rs.MayApprove(q, "olga@example.com"))
	}
	q, err = rs.Requestable("alice@example.com", plc, filter.ProtoTCP, 22)
	if err != nil || q.ClassApproval != "group:plant" || q.MaxDuration != time.Hour {
		t.Errorf("Requestable(plc:22) = %+v, %v; want the class's approval and its shorter cap", q, err)
	}
	if rs.MayApprove(q, "olga@example.com") || !rs.MayApprove(q, "oscar@example.com") {
		t.Error("a critical device's request: olga (oncall, not plant) may approve, or oscar (both) may not")
	}
	for _, bad := range []struct {
		who  string
		port uint16
		p    filter.Proto
	}{{"alice@example.com", 23, filter.ProtoTCP}, {"alice@example.com", 22, filter.ProtoUDP}, {"mallory@example.com", 22, filter.ProtoTCP}} {
		if _, err := rs.Requestable(bad.who, cam, bad.p, bad.port); !errors.Is(err, ErrNotRequestable) {
			t.Errorf("Requestable(%s, %d/%d) = %v, want ErrNotRequestable", bad.who, bad.p, bad.port, err)
		}
	}

	end := time.Date(2026, 12, 6, 14, 0, 0, 0, time.UTC)
	timed := rs.WithTimedAccess([]TimedAccess{{User: "alice@example.com", Addrs: []netip.Addr{cam.IPv4, cam.IPv6}, Proto: filter.ProtoTCP, Port: 22, Expires: end}})
	tc, err := Compile(timed, inv)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := tc.Result("cam")
	want := []filter.Rule{{
		Src:     []netip.Prefix{netip.MustParsePrefix("100.64.0.3/32"), netip.MustParsePrefix("fd7a::3/128")},
		Dst:     []filter.DstNet{{Net: netip.MustParsePrefix("100.64.0.1/32"), Ports: []filter.PortRange{{First: 22, Last: 22}}}, {Net: netip.MustParsePrefix("fd7a::1/128"), Ports: []filter.PortRange{{First: 22, Last: 22}}}},
		Protos:  []filter.Proto{filter.ProtoTCP},
		Expires: end,
	}}
	if diff := cmp.Diff(want, res.Filter, equateNetip); diff != "" {
		t.Errorf("the camera's filter with the approved request (-want +got):\n%s", diff)
	}
	if !slices.Contains(res.Peers, "laptop") || len(filters(tc)) != 1 {
		t.Errorf("the camera's peers %v, filters %v; want the laptop, and no other node's filter changed", res.Peers, filters(tc))
	}
	if len(rs.rules) != 0 {
		t.Error("WithTimedAccess changed the ruleset it was called on")
	}
}

// TestApprovalGrantErrors: a malformed approval grant is refused at its
// position.
func TestApprovalGrantErrors(t *testing.T) {
	const bad = `{
  "grants": [
    {"src": ["*"], "dst": ["*"], "ip": ["22"], "approval": "oncall", "maxDuration": "forever"},
    {"action": "deny", "src": ["*"], "dst": ["*"], "ip": ["23"], "approval": "group:x"},
    {"src": ["*"], "dst": ["*"], "ip": ["24"], "maxDuration": "1h"},
  ],
}`
	_, _, err := Check("p.hujson", []byte(bad), Options{ExternalGroups: map[string][]string{"group:x": {"x@example.com"}}})
	var got []string
	for _, p := range Problems(err) {
		got = append(got, p.String())
	}
	want := []string{
		`p.hujson:3:60: approval "oncall" must be a group defined in "groups" (or by the identity provider)`,
		`p.hujson:3:85: maxDuration "forever" is not a positive duration like "2h"`,
		`p.hujson:4:78: a deny grant cannot need approval`,
		`p.hujson:5:63: maxDuration applies to a grant with "approval"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
