//go:build !ward_omit_coordinator || !ward_omit_relay

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/wardnet/ward/nattest"
)

// TestNetcheckCommandBehindNAT runs the coordinator's STUN listeners (main
// and alt port) in nattest's internet and `ward netcheck` on a host behind
// each NAT class, in process: the command's socket opens inside the host's
// namespace.
func TestNetcheckCommandBehindNAT(t *testing.T) {
	n := nattest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	primary := netip.AddrPortFrom(nattest.ServerA, 8080).String()
	alt := netip.AddrPortFrom(nattest.ServerA, 8081).String()
	if err := n.Internet.Do(func() error {
		_, err := serveSTUN(ctx, []string{primary, alt}, nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for class, want := range map[nattest.Class]string{
		nattest.EIM: "endpoint-independent", nattest.Symmetric: "symmetric", nattest.UDPBlocked: "udp-blocked",
	} {
		site := n.AddSite(class)
		var out bytes.Buffer
		if err := site.Host.Do(func() error {
			root := newRootCmd()
			root.SetOut(&out)
			root.SetArgs([]string{"netcheck", "--json", "--wait", "2s", "--coordinator", "http://" + primary, "--stun", primary + "," + alt})
			return root.ExecuteContext(ctx)
		}); err != nil {
			t.Fatal(err)
		}
		var r netcheckJSON
		if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.NAT != want {
			t.Errorf("%s: %v %s", class, err, out.Bytes())
		}
	}
}
