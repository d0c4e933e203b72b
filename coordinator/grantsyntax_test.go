package coordinator

import (
	"bytes"
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/wire"
)

// TestPolicyAPIAcceptsTheWholeGrantsSyntax: through the admin API, as a
// script would call it, a policy using via, app capabilities,
// autogroup:danger-all and user:*@domain is accepted; an app-only grant
// opens no port; a grant Tailscale refuses is refused with its index and
// field named, and the running policy stays.
func TestPolicyAPIAcceptsTheWholeGrantsSyntax(t *testing.T) {
	c := startCoord(t, testPolicy)
	c.mustRegister([]string{"tag:operator"}, "op1")
	c.mustRegister([]string{"tag:camera"}, "cam1")
	var before wire.PolicyVersion
	c.admin("GET", wire.PathAdminPolicy, nil, &before)

	for _, bad := range []struct{ text, want string }{
		{`{"grants": [{"src": ["*"], "dst": ["autogroup:self"], "ip": ["22"]}]}`, `grants[0].src[0] \"*\": a grant to autogroup:self`},
		{`{"tagOwners": {"tag:camera": []}, "grants": [{"src": ["*"], "dst": ["tag:camera"], "ip": ["tcp:0"]}]}`, `grants[0].ip[0] \"tcp:0\": ports start at 1`},
		{`{"grants": [{"src": ["*"], "dst": ["0.0.0.0/0"], "ip": ["tcp:443"]}]}`, `use \"*\" or \"autogroup:internet\"`},
		{`{"grants": [{"src": ["*"], "dst": ["10.0.0.0/8"], "ip": ["*"], "via": ["tag:nobody"]}]}`, `grants[0].via[0] \"tag:nobody\"`},
	} {
		code, body := c.call("PUT", wire.PathAdminPolicy, c.apiKey, wire.SetPolicyRequest{Text: bad.text, ParentID: -1})
		if code != 400 || !bytes.Contains(body, []byte(bad.want)) {
			t.Errorf("policy %s: %d %s, want 400 naming %s", bad.text, code, body, bad.want)
		}
	}
	var after wire.PolicyVersion
	c.admin("GET", wire.PathAdminPolicy, nil, &after)
	if after.ID != before.ID {
		t.Fatalf("refused policies changed the running version: %d -> %d", before.ID, after.ID)
	}

	good := `{
  "tagOwners": {"tag:operator": [], "tag:camera": [], "tag:router": []},
  "grants": [
    {"src": ["tag:operator"], "dst": ["tag:camera"], "app": {"example.com/cap/view": [{"stream": "hd"}]}},
    {"src": ["user:*@example.com"], "dst": ["192.168.10.5"], "ip": ["tcp:502"], "via": ["tag:router"]},
    {"src": ["autogroup:danger-all"], "dst": ["tag:camera"], "ip": ["tcp:554"]},
  ],
}`
	if code, body := c.call("PUT", wire.PathAdminPolicy, c.apiKey, wire.SetPolicyRequest{Text: good, ParentID: -1}); code != 200 {
		t.Fatalf("policy with the whole grants syntax: %d %s", code, body)
	}
	access, err := c.srv.Backend().NodeAccess(context.Background(), "cam1")
	if err != nil {
		t.Fatal(err)
	}
	// Only the danger-all grant opens a port; the app grant opens none.
	want := []acl.Access{{Src: "0.0.0.0/0", Dst: "cam1", Proto: "tcp", Ports: "554"}, {Src: "::/0", Dst: "cam1", Proto: "tcp", Ports: "554"}}
	if diff := cmp.Diff(want, access); diff != "" {
		t.Errorf("access to cam1 (-want +got):\n%s", diff)
	}
}
