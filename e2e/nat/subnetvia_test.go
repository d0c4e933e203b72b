//go:build linux

package nat

import (
	"slices"
	"testing"
	"time"

	"github.com/wardnet/ward/nattest"
)

// subnetViaPolicy: two kinds of gateways of one LAN (tag:gw, tag:gwv);
// op reaches the web device's port 80 only through a via grant naming
// tag:gwv, plain (tag:c) without via; mixed (tag:a) the web device
// without via and the PLC through tag:gwv.
const subnetViaPolicy = `{
  "tagOwners": {"tag:a": [], "tag:c": [], "tag:gw": [], "tag:gwv": [], "tag:op": []},
  "hosts": {"webui": "192.168.10.5/32"},
  "autoApprovers": {"routes": {"192.168.10.0/24": ["tag:gw", "tag:gwv"]}},
  "grants": [
    {"src": ["tag:op"], "dst": ["webui"], "ip": ["tcp:80"], "via": ["tag:gwv"]},
    {"src": ["tag:c"], "dst": ["webui"], "ip": ["tcp:80"]},
    {"src": ["tag:a"], "dst": ["webui"], "ip": ["tcp:80"]},
    {"src": ["tag:a"], "dst": ["192.168.10.6/32"], "ip": ["tcp:502"], "via": ["tag:gwv"]},
  ],
}`

// TestSubnetViaGrantGoesThroughTaggedGateway: two gateways with
// different tags front copies of one LAN (each copy says which gateway
// carried the request); the untagged one is the LAN's primary. The
// operator, granted the web device through a via grant naming the other
// gateway's tag, reaches it through that gateway only; a person granted
// it without via reaches it through the primary; one granted the web
// device without via and the PLC through via reaches each accordingly.
func TestSubnetViaGrantGoesThroughTaggedGateway(t *testing.T) {
	w := newWorldOn(t, nattest.NewNamed(t, "w14v"))
	w.setPolicy(subnetViaPolicy)
	gw := w.addNode("gw", nattest.EIM, "tag:gw", "--advertise-routes", lanPrefix.String())
	lanGWSvc := serveLAN(t, gw.site.AddLAN(lanPrefix, lanGW, lanWeb, lanPLC), "via gw\n")
	waitFor(t, 30*time.Second, "gw is the primary router", func() bool {
		return slices.Contains(w.node("gw").PrimaryRoutes, lanPrefix)
	})
	gwv := w.addNode("gwv", nattest.EIM, "tag:gwv", "--advertise-routes", lanPrefix.String())
	lanGWVSvc := serveLAN(t, gwv.site.AddLAN(lanPrefix, lanGW, lanWeb, lanPLC), "via gwv\n")
	waitFor(t, 30*time.Second, "gwv serves the route too", func() bool {
		n := w.node("gwv")
		return slices.Contains(n.Routes, lanPrefix) && n.Online
	})
	op := w.addNode("op", nattest.EIM, "tag:op")
	plain := w.addNode("plain", nattest.EIM, "tag:c")
	mixed := w.addNode("mixed", nattest.EIM, "tag:a")
	for _, tc := range []struct {
		who  *device
		want string
	}{{op, "via gwv\n"}, {plain, "via gw\n"}, {mixed, "via gw\n"}} {
		var body string
		waitFor(t, 30*time.Second, tc.who.name+" reaches the LAN", func() bool {
			body, _ = tc.who.httpGet(lanWeb)
			return body != ""
		})
		if body != tc.want {
			t.Errorf("%s's request carried %q, want %q", tc.who.name, body, tc.want)
		}
	}
	// mixed's PLC flow, granted through via only, goes through gwv.
	waitFor(t, 30*time.Second, "mixed reaches the PLC", func() bool {
		c, err := mixed.dial(lanPLC.String(), 502)
		if err == nil {
			c.Close()
		}
		return err == nil && lanGWVSvc.plc.Load() > 0
	})
	if n := lanGWSvc.plc.Load(); n != 0 {
		t.Errorf("the PLC behind gw, which has no via tag, accepted %d connections", n)
	}
	// Several more requests: never through the gateway without the tag.
	for range 5 {
		if body, err := op.httpGet(lanWeb); err != nil || body != "via gwv\n" {
			t.Errorf("op's request: %q, %v; want via gwv", body, err)
		}
	}
}
