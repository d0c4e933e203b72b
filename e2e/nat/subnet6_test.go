//go:build linux

package nat

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/nattest"
	"github.com/wardnet/ward/wire"
)

// The IPv6 LAN of TestSubnetRouterCarriesIPv6Route: a ULA /64 behind the
// gateway, the same devices as the IPv4 scenario.
var (
	lan6Prefix = netip.MustParsePrefix("fd00:10::/64")
	lan6GW     = netip.MustParseAddr("fd00:10::1")
	lan6Web    = netip.MustParseAddr("fd00:10::5")
	lan6PLC    = netip.MustParseAddr("fd00:10::6")
)

// TestSubnetRouterCarriesIPv6Route: a gateway advertising an IPv6 route
// (approved by the policy's autoApprovers) carries the operator's flow to
// the one granted IPv6 device port, named by a hosts entry of /128, and
// nothing else of the LAN: the web device's port 22 and the PLC's 502
// accept nothing; the operator's host cannot reach the LAN without Ward;
// revoking the grant cuts a live flow.
func TestSubnetRouterCarriesIPv6Route(t *testing.T) {
	w := newWorldOn(t, nattest.NewNamed(t, "w14s"))
	w.setPolicy(`{
  "tagOwners": {"tag:a": [], "tag:b": [], "tag:c": [], "tag:gw": [], "tag:op": []},
  "hosts": {"webui6": "fd00:10::5/128"},
  "grants": [{"src": ["tag:op"], "dst": ["webui6"], "ip": ["tcp:80"]}],
  "autoApprovers": {"routes": {"fd00:10::/64": ["tag:gw"]}},
}`)
	gw := w.addNode("gw", nattest.EIM, "tag:gw", "--advertise-routes", lan6Prefix.String())
	lan := gw.site.AddLAN(lan6Prefix, lan6GW, lan6Web, lan6PLC)
	svc := serveLANAt(t, lan, "plant web ui over ipv6\n", lan6Web, lan6PLC)
	op := w.addNode("op", nattest.EIM, "tag:op")
	if c, err := dialIn(t.Context(), gw.site.Host, "tcp", netip.AddrPortFrom(lan6Web, 80).String()); err != nil {
		t.Fatalf("the gateway's host cannot reach the IPv6 LAN: %v", err)
	} else {
		c.Close()
	}
	if c, err := dialIn(t.Context(), op.site.Host, "tcp", netip.AddrPortFrom(lan6Web, 80).String()); err == nil {
		c.Close()
		t.Fatal("the operator's host reaches the IPv6 LAN without Ward")
	}
	svc.web.Store(0)
	waitFor(t, 30*time.Second, "the gateway's IPv6 route in use", func() bool {
		n := w.node("gw")
		return slices.Contains(n.Routes, lan6Prefix) && slices.Contains(n.PrimaryRoutes, lan6Prefix)
	})
	var body string
	took := waitFor(t, 30*time.Second, "the operator fetches the IPv6 web UI through the router", func() bool {
		var err error
		body, err = op.httpGetName(lan6Web.String())
		return err == nil
	})
	if strings.TrimSpace(body) != "plant web ui over ipv6" {
		t.Fatalf("body %q", body)
	}
	t.Logf("IPv6 web UI reached %v after the route was in use", took)
	for _, dst := range []netip.AddrPort{netip.AddrPortFrom(lan6Web, 22), netip.AddrPortFrom(lan6PLC, 502)} {
		if c, err := op.dial(dst.Addr().String(), dst.Port()); err == nil {
			c.Close()
			t.Errorf("%v reached without a grant", dst)
		}
	}
	if ssh, plc := svc.ssh.Load(), svc.plc.Load(); ssh != 0 || plc != 0 {
		t.Errorf("ungranted IPv6 LAN ports accepted connections: ::5 port 22 %d, ::6 port 502 %d", ssh, plc)
	}
	// A live IPv6 flow, then the grant goes: the router cuts it.
	live, err := op.dial(lan6Web.String(), 80)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	cut := make(chan error, 1)
	go func() {
		_, err := live.Read(make([]byte, 1))
		cut <- err
	}()
	start := time.Now()
	w.setPolicy(`{"tagOwners": {"tag:a": [], "tag:b": [], "tag:c": [], "tag:gw": [], "tag:op": []},
  "autoApprovers": {"routes": {"fd00:10::/64": ["tag:gw"]}}}`)
	select {
	case err := <-cut:
		t.Logf("live IPv6 flow ended %v after the grant was revoked: %v", time.Since(start), err)
	case <-time.After(30 * time.Second):
		t.Fatal("revoking the grant did not cut the live IPv6 flow within 30 s")
	}
	var n wire.AdminNode
	if code, _ := w.admin(http.MethodGet, wire.PathAdminNodes+"/gw", nil, &n); code != http.StatusOK || !slices.Contains(n.AdvertisedRoutes, lan6Prefix) {
		t.Errorf("admin view of gw: %d %+v", code, n.AdvertisedRoutes)
	}
}
