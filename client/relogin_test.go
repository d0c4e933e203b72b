package client_test

import (
	"context"
	"testing"
	"time"
)

// TestSecondLoginReadyAtOnce pins a saved map of an earlier login reused
// by the next: the session resumed the map stream from the version the
// last login saved, the coordinator answered with a delta or nothing, and
// a first full map never came, so a second `ward up` (after `ward down`,
// or `ward login`) waited the whole first-map wait and reported the data
// plane not ready.
func TestSecondLoginReadyAtOnce(t *testing.T) {
	w := newWorld(t, 0)
	l := w.startLaptop(nil)
	if res, _ := l.login(w, "alice", "ops", ""); res.Error != "" || !res.Ready {
		t.Fatalf("first login: %+v", res)
	}
	if res, err := l.api.Logout(context.Background()); err != nil || !res.WasLoggedIn {
		t.Fatalf("logout: %+v, %v", res, err)
	}
	res, done := l.login(w, "alice", "ops", "")
	if res.Error != "" || !res.Ready {
		t.Fatalf("second login after logout: %+v (%v after the browser)", res, time.Since(done))
	}
	// `ward login` while a session runs.
	res, done = l.login(w, "alice", "ops", "")
	if res.Error != "" || !res.Ready {
		t.Fatalf("forced login while logged in: %+v (%v after the browser)", res, time.Since(done))
	}
}
