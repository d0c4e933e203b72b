package coordinator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/sso"
	"github.com/wardnet/ward/coordinator/store"
)

// hungIdP hangs on one subject's refresh and refuses every other.
type hungIdP struct{ hang string }

func (h hungIdP) Refresh(ctx context.Context, id store.Identity) (store.Identity, error) {
	if id.Subject == h.hang {
		<-ctx.Done()
		return store.Identity{}, ctx.Err()
	}
	return store.Identity{}, fmt.Errorf("%w: revoked", sso.ErrRefreshRefused)
}

// TestHungIdPDoesNotStallRefreshRound: the IdP hangs on one user's refresh;
// another user it refuses is still cut in the same round, not after the
// hung call's timeout.
func TestHungIdPDoesNotStallRefreshRound(t *testing.T) {
	c := startCoordWith(t, userPolicy, func(cfg *Config) { cfg.Auth = fakeAuth{} })
	for _, sub := range []string{"alice", "bob"} {
		if res, _ := c.login(newMachine(t), sub, "ops"); res.Node == nil {
			t.Fatalf("%s's login failed: %+v", sub, res)
		}
	}
	users := c.srv.logins.usersWithLiveKeys(t.Context(), time.Now())
	if len(users) != 2 {
		t.Fatalf("users with live keys: %+v", users)
	}
	hang := users[0].Subject
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { c.srv.logins.refreshRound(ctx, hungIdP{hang: hang}, users); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(c.srv.logins.usersWithLiveKeys(t.Context(), time.Now())) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the refused user was not cut while another user's refresh hung")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if left := c.srv.logins.usersWithLiveKeys(t.Context(), time.Now()); left[0].Subject != hang {
		t.Fatalf("the wrong user was cut: %+v left", left)
	}
	cancel()
	<-done
}
