package e2e

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/relay"
	"github.com/wardnet/ward/relay/relayd"
	"github.com/wardnet/ward/wire"
)

// standaloneRelay registers a relay named name and runs it on a loopback
// port against f's coordinator; its credential joins the secrets the logs
// must not show.
func (f *fleet) standaloneRelay(name string) (*relayd.Relay, string) {
	f.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	url := "ws://" + ln.Addr().String() + wire.PathRelay
	var reg wire.AdminRelay
	if code, body := f.Admin(http.MethodPost, wire.PathAdminRelays, wire.CreateRelayRequest{Name: name, URL: url}, &reg); code != http.StatusCreated {
		f.t.Fatalf("register relay: %d %s", code, body)
	}
	f.secrets = append(f.secrets, reg.Secret)
	r, err := relayd.New(relayd.Config{Coordinator: f.url(), Credential: reg.Secret, Name: name, Logger: f.logs.logger("relay-" + name)})
	if err != nil {
		f.t.Fatal(err)
	}
	hs := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	f.t.Cleanup(func() {
		cancel()
		<-done
		hs.Close()
	})
	return r, url
}

// TestStandaloneRelaySurvivesCoordinatorRestart: two nodes' control
// clients reach each other through a standalone relay listed in their
// map. While the coordinator is down the relay refuses; after it comes
// back (with a new token-signing key, kept in memory only) the relay
// takes the new key, admits again the connections it held, and refuses
// the tokens signed before the restart.
func TestStandaloneRelaySurvivesCoordinatorRestart(t *testing.T) {
	f := newFleet(t, fleetPolicy(22), nil)
	r, url := f.standaloneRelay("edge1")
	waitFor(t, "the relay holds its feed", r.Ready)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	join := func(tag string) relayPeer {
		p, tok := f.joinRelay(ctx, control.Config{URL: f.url(), AllowInsecureHTTP: true, Logger: f.logs.logger(tag)}, tag, url)
		f.secrets = append(f.secrets, tok)
		waitFor(t, "the relay registers "+tag, func() bool { return r.Connected(p.wg) })
		return p
	}
	op, cam := join("tag:operator"), join("tag:camera")
	delivered := func() bool {
		if err := op.rc.Send(ctx, cam.wg, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		rctx, rcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer rcancel()
		for {
			fr, err := cam.rc.Recv(rctx)
			if err != nil {
				return false
			}
			if fr.Type == relay.TypeRecv && fr.Key == op.wg {
				return true
			}
		}
	}
	waitFor(t, "a packet through the standalone relay", delivered)
	oldTok, err := op.ctl.RelayToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.secrets = append(f.secrets, oldTok.Token)

	f.Stop()
	waitFor(t, "the relay notices the coordinator is gone", func() bool { return !r.Ready() })
	if code := upgrade(t, url, oldTok.Token); code != http.StatusUnauthorized {
		t.Errorf("a valid token while the coordinator is down: %d, want 401", code)
	}
	f.Start()
	waitFor(t, "the relay holds a feed again", r.Ready)
	waitFor(t, "the held connections relay again", delivered)
	if code := upgrade(t, url, oldTok.Token); code != http.StatusUnauthorized {
		t.Errorf("a token signed before the restart: %d, want 401", code)
	}
	newTok, err := op.ctl.RelayToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.secrets = append(f.secrets, newTok.Token)
	if code := upgrade(t, url, newTok.Token); code != http.StatusSwitchingProtocols {
		t.Errorf("a token signed after the restart: %d, want 101", code)
	}
}

// upgrade returns the status of a WebSocket upgrade to url bearing token
// (101 when it succeeded).
func upgrade(t *testing.T, url, token string) int {
	t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	ws, resp, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{HTTPHeader: h})
	if err == nil {
		ws.CloseNow()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("upgrade %s: %v", url, err)
	}
	return resp.StatusCode
}
