package e2e

import (
	"context"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/relay"
	"github.com/wardnet/ward/wire"
)

// relayPeer is a hand-made node for relay tests: its control client,
// WireGuard key and relay connection.
type relayPeer struct {
	ctl *control.Client
	wg  wire.WGPublic
	rc  *relay.Client
}

// joinRelay registers a machine tagged tag through a control client made
// from cfg (its machine key set here), fetches a relay token and dials
// relayURL with it ("": the coordinator's relay, as the control client
// resolves it). It returns the peer and the token.
func (f *fleet) joinRelay(ctx context.Context, cfg control.Config, tag, relayURL string) (relayPeer, string) {
	t := f.t
	t.Helper()
	mk, _ := wire.NewMachinePrivate()
	wk, _ := wire.NewWGPrivate()
	cfg.MachineKey = mk
	ctl, err := control.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Register(ctx, wire.RegisterRequest{AuthKey: f.authKey(tag), WGKey: wk.Public(), Hostname: tag[4:], OS: "linux", Version: "test"}); err != nil {
		t.Fatal(err)
	}
	tok, err := ctl.RelayToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if relayURL == "" {
		if relayURL, err = ctl.RelayURL(wire.Relay{Name: "coordinator", URL: wire.PathRelay}); err != nil {
			t.Fatal(err)
		}
	}
	rc, err := relay.Dial(ctx, relayURL, tok.Token, ctl.HTTPClient())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	return relayPeer{ctl: ctl, wg: wk.Public(), rc: rc}, tok.Token
}
