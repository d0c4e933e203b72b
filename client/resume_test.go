package client_test

import (
	"context"
	"net"
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
