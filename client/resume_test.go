package client_test

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/wardnet/ward/client"
	"github.com/wardnet/ward/node/localapi"
)

// TestRestartResumesSessionWithoutCoordinator checks the resume after a
// restart: a daemon restarted on the same state directory takes up the
// saved login (same key) and, from the map that login saved, reaches the
// device while the coordinator is down.
func TestRestartResumesSessionWithoutCoordinator(t *testing.T) {
	w := newWorld(t, 0)
	dir := t.TempDir()
	l := w.startLaptop(func(c *client.Config) { c.StateDir = dir })
	if res, _ := l.login(w, "alice", "ops", ""); res.Error != "" || !res.Ready {
		t.Fatalf("login: %+v", res)
	}
	reach(t, "socks5", func() (net.Conn, error) { return socksConnect(l.socks, "cam1", w.granted) })
	key := l.wgKey()
	if err := l.stop(); err != nil {
		t.Fatalf("stop the daemon: %v", err)
	}
	w.stopCoord()

	l2 := w.startLaptop(func(c *client.Config) { c.StateDir = dir })
	st, err := l2.api.Status(context.Background())
	if err != nil || person(st).State != localapi.StateLoggedIn || l2.wgKey() != key {
		t.Fatalf("after the restart: %+v, %v; key %v, want %v", st.Person, err, l2.wgKey(), key)
	}
	reach(t, "socks5 after the restart, coordinator down", func() (net.Conn, error) {
		return socksConnect(l2.socks, "cam1", w.granted)
	})
}

// TestRestartWithOtherCoordinatorResumesAgainstLogins pins a saved login
// resumed against the wrong coordinator: a daemon restarted with
// --coordinator naming another coordinator ran the saved login (its key,
// its node) against that one, which knows neither, so the person was
// shown logged in, reached nothing, and `ward up` against the new
// coordinator answered "already logged in". The login stays with the
// coordinator it was made with; logging in elsewhere takes `ward down`.
func TestRestartWithOtherCoordinatorResumesAgainstLogins(t *testing.T) {
	w := newWorld(t, 0)
	dir := t.TempDir()
	l := w.startLaptop(func(c *client.Config) { c.StateDir = dir })
	if res, _ := l.login(w, "alice", "ops", ""); res.Error != "" {
		t.Fatalf("login: %+v", res)
	}
	if err := l.stop(); err != nil {
		t.Fatal(err)
	}

	const other = "http://127.0.0.1:9"
	l2 := w.startLaptop(func(c *client.Config) { c.StateDir, c.Coordinator = dir, other })
	st, err := l2.api.Status(context.Background())
	if err != nil || person(st).State != localapi.StateLoggedIn || st.Coordinator != w.url() {
		t.Fatalf("after a restart naming another coordinator: coordinator %q, %+v, %v; want the login's, %s",
			st.Coordinator, st.Person, err, w.url())
	}
	reach(t, "socks5 after the restart", func() (net.Conn, error) { return socksConnect(l2.socks, "cam1", w.granted) })
	if _, err := l2.api.Login(context.Background(), localapi.LoginRequest{Coordinator: other}); err == nil ||
		!strings.Contains(err.Error(), "another coordinator") {
		t.Errorf("login to another coordinator while logged in: %v, want a refusal", err)
	}
}
