package e2e

import (
	"testing"
	"time"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// TestIdPRefusingRefreshCutsUser: once the IdP refuses alice's refresh,
// the coordinator cuts every key of hers, audits it, and leaves her
// enabled.
func TestIdPRefusingRefreshCutsUser(t *testing.T) {
	ssh := echoServer(t)
	f := newFleet(t, peoplePolicy(ssh), func(c *assembly.Config) { c.RefreshEvery = 200 * time.Millisecond })
	f.startAgent("cam1", f.authKey("tag:camera"), "", agentOpts{expose: []uint16{ssh}})
	alice := f.startLaptop(t, "alice-laptop")
	if res, _ := alice.login(t, devidptest.Credentials{Username: "alice", Password: "alice", OTP: "123456"}); res.Error != "" {
		t.Fatalf("alice's login: %+v", res)
	}
	waitFor(t, "alice reaches the camera", func() bool { return alice.socksEcho("cam1", ssh) == nil })

	start := time.Now()
	if err := f.Server.DevIdP.RevokeUser("alice"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice is cut after the IdP refuses her refresh", func() bool { return alice.socksEcho("cam1", ssh) != nil })
	t.Logf("IdP revokes alice -> her connection to the camera refused: %v (refresh every 200ms; includes one refused dial)", time.Since(start))

	// Each key is audited once its cut reached the netmap, and the cut
	// reaches the camera at once: the audit row may come a moment after.
	for _, action := range []string{"user.refresh_refused", "node.key_revoked"} {
		f.wantAudit(t, action, "alice")
	}
	var users []wire.AdminUser
	f.Admin("GET", wire.PathAdminUsers, nil, &users)
	for _, u := range users {
		if u.Email == "alice@example.com" && u.Disabled {
			t.Error("a refused refresh disabled alice; she should be able to log in again")
		}
	}
}
