package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/nodetest"
	"github.com/wardnet/ward/wire"
)

// TestDevicePageShowsDirectPath: two real nodes on loopback go direct
// and report their paths to the coordinator on their own; the admin API's
// answer for the operator and its device page show "direct
// 127.0.0.1:PORT" for the camera, the address the operator's own status
// shows, with its round trip and last handshake.
func TestDevicePageShowsDirectPath(t *testing.T) {
	open := echoServer(t)
	f := newFleet(t, fleetPolicy(open), func(c *assembly.Config) {
		c.AdminRoles = map[string]admin.Role{"idp:admins": admin.RoleOwner}
	})
	f.startAgent("cam", f.authKey("tag:camera"), "", agentOpts{expose: []uint16{open}})
	op := f.startAgent("op", f.authKey("tag:operator"), "", agentOpts{})
	waitFor(t, "the operator reaches the camera", func() bool { return op.roundTrip("cam", open) == nil })
	var direct string
	// directWait, not waitFor's 20 s: discovery rounds back off (1, 2, 4,
	// 8, 16 s: discoverMin to discoverMax), so on a loaded machine (CI)
	// whose first rounds failed the path comes past 20 s (seen once).
	nodetest.Eventually(t, directWait, "the operator's status shows a direct path to the camera", func() bool {
		for _, p := range op.Engine().Status().Peers {
			if p.Name == "cam" && p.Path == wire.PathKindDirect && p.Endpoint.Addr().IsLoopback() && p.PathRTT > 0 {
				direct = "direct " + p.Endpoint.String()
			}
		}
		return direct != ""
	})

	// The path is reported when it changes: found, confirmed by a pong,
	// at the first handshake (not necessarily in that order).
	var got wire.AdminPeerPath
	nodetest.Eventually(t, directWait, "the coordinator shows the operator's confirmed direct path", func() bool {
		var n wire.AdminNode
		f.Admin("GET", wire.PathAdminNodes+"/op", nil, &n)
		if n.Paths == nil || len(n.Paths.Peers) != 1 {
			return false
		}
		got = n.Paths.Peers[0]
		return got.Name == "cam" && "direct "+got.Addr.String() == direct && !got.LastHandshake.IsZero() && got.RTTMicros > 0
	})

	b := devidptest.NewBrowser()
	if p, err := b.Login(t.Context(), f.url()+"/ui/login", devidptest.Credentials{Username: "carol", Password: "carol"}); err != nil || p.Status != http.StatusOK {
		t.Fatalf("ui login: %v", err)
	}
	resp, err := b.Client.Get(f.url() + "/ui/devices/op")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), direct) {
		t.Errorf("device page: %d, lacks %q", resp.StatusCode, direct)
	}
}
