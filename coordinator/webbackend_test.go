package coordinator

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/acl"
)

func TestPolicyImpactAndAccess(t *testing.T) {
	c := startCoord(t, testPolicy)
	c.mustRegister([]string{"tag:operator"}, "op1")
	c.mustRegister([]string{"tag:camera"}, "cam1")
	b := c.srv.Backend()
	ctx := context.Background()

	access, err := b.NodeAccess(ctx, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	want := []acl.Access{
		{Src: "tag:operator", Dst: "cam1", Proto: "icmp", Ports: "*"},
		{Src: "tag:operator", Dst: "cam1", Proto: "tcp", Ports: "22"},
		{Src: "tag:operator", Dst: "cam1", Proto: "udp", Ports: "22"},
	}
	if diff := cmp.Diff(want, access); diff != "" {
		t.Errorf("access to cam1 (-want +got):\n%s", diff)
	}

	next := strings.Replace(strings.Replace(testPolicy, `"tag:camera:22"`, `"tag:camera:80"`, 1), `"src": ["tag:operator"]`, `"src": ["tag:operator"], "proto": "tcp"`, 1)
	imp, err := b.PolicyImpact(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	wantImp := acl.Impact{
		Added: []acl.Access{{Src: "tag:operator", Dst: "cam1", Proto: "tcp", Ports: "80"}},
		Removed: []acl.Access{
			{Src: "tag:operator", Dst: "cam1", Proto: "icmp", Ports: "*"},
			{Src: "tag:operator", Dst: "cam1", Proto: "tcp", Ports: "22"},
			{Src: "tag:operator", Dst: "cam1", Proto: "udp", Ports: "22"},
		},
	}
	if diff := cmp.Diff(wantImp, imp); diff != "" {
		t.Errorf("impact (-want +got):\n%s", diff)
	}
	if _, err := b.PolicyImpact(ctx, `{"acls": [`); err == nil {
		t.Error("impact of a broken policy did not fail")
	}
	chk, err := b.CheckPolicy(ctx, `{"acls": [{"action": "accept", "src": ["tag:x"], "dst": ["*:*"]}]}`)
	if err != nil || chk.OK || len(chk.Problems) != 1 || chk.Problems[0].Pos.Line != 1 {
		t.Errorf("check of a bad policy: %+v %v", chk, err)
	}
}
