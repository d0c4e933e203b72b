package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/relay"
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
	cfg := control.Config{URL: "https://" + f.Addr, CAFile: cert}
	op, _ := f.joinRelay(ctx, cfg, "tag:operator", "")
	cam, _ := f.joinRelay(ctx, cfg, "tag:camera", "")
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
