package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/relay"
	"github.com/wardnet/ward/wire"
)

// TestRelayOverCoordinatorTLS: two nodes' control clients get relay
// tokens and reach each other through the coordinator's relay on its TLS
// port (which offers HTTP/2; net/http upgrades over HTTP/1.1), at the
// URL their map lists.
func TestRelayOverCoordinatorTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	f := newFleet(t, fleetPolicy(22), func(c *assembly.Config) { c.Dev, c.TLSCert, c.TLSKey = false, cert, key })
	f.apiClientTLS(cert)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	type peer struct {
		ctl *control.Client
		wg  wire.WGPublic
		rc  *relay.Client
	}
	join := func(tag string) peer {
		mk, _ := wire.NewMachinePrivate()
		wk, _ := wire.NewWGPrivate()
		ctl, err := control.New(control.Config{URL: "https://" + f.Addr, MachineKey: mk, CAFile: cert})
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
		u, err := ctl.RelayURL(wire.Relay{Name: "coordinator", URL: wire.PathRelay})
		if err != nil {
			t.Fatal(err)
		}
		rc, err := relay.Dial(ctx, u, tok.Token, ctl.HTTPClient())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rc.Close() })
		return peer{ctl: ctl, wg: wk.Public(), rc: rc}
	}
	op, cam := join("tag:operator"), join("tag:camera")
	pkt := make([]byte, relay.MaxPayload)
	pkt[0], pkt[len(pkt)-1] = 1, 2
	// The camera's connection may register just after its dial returns.
	waitFor(t, "a packet through the relay", func() bool {
		if err := op.rc.Send(ctx, cam.wg, pkt); err != nil {
			t.Fatal(err)
		}
		rctx, rcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer rcancel()
		fr, err := cam.rc.Recv(rctx)
		return err == nil && fr.Type == relay.TypeRecv && fr.Key == op.wg && string(fr.Payload) == string(pkt)
	})
}
