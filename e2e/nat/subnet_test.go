//go:build linux

package nat

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardnet/ward/nattest"
	"github.com/wardnet/ward/wire"
)

// The subnet router scenario's LAN (issue 14): a gateway node in front of
// a PLC-like device (.6, Modbus/TCP on 502) and a device with a web UI
// (.5, HTTP on 80, SSH-like on 22).
var (
	lanPrefix = netip.MustParsePrefix("192.168.10.0/24")
	lanGW     = netip.MustParseAddr("192.168.10.1")
	lanWeb    = netip.MustParseAddr("192.168.10.5")
	lanPLC    = netip.MustParseAddr("192.168.10.6")
)

// subnetPolicy grants tag:op the web device's port 80 only, through the
// hosts name "webui"; auto adds autoApprovers for tag:gw.
func subnetPolicy(grant, auto bool) string {
	grants := `[]`
	if grant {
		grants = `[{"src": ["tag:op"], "dst": ["webui"], "ip": ["tcp:80"]}]`
	}
	approvers := ""
	if auto {
		approvers = `"autoApprovers": {"routes": {"192.168.10.0/24": ["tag:gw"]}},`
	}
	return fmt.Sprintf(`{
  "tagOwners": {"tag:a": [], "tag:b": [], "tag:c": [], "tag:gw": [], "tag:op": []},
  "hosts": {"webui": "192.168.10.5/32"},
  "grants": %s,
  %s
}`, grants, approvers)
}

// lanServices serves, inside the LAN, HTTP on the web device's port 80, a
// TCP listener on its port 22 and on the PLC's port 502; each counts the
// connections it accepted.
type lanServices struct {
	web, ssh, plc atomic.Int64
}

func serveLAN(t *testing.T, lan *nattest.NS, page string) *lanServices {
	t.Helper()
	return serveLANAt(t, lan, page, lanWeb, lanPLC)
}

// serveLANAt is serveLAN with the web device at web and the PLC at plc.
func serveLANAt(t *testing.T, lan *nattest.NS, page string, lanWeb, lanPLC netip.Addr) *lanServices {
	t.Helper()
	s := &lanServices{}
	listen := func(addr netip.Addr, port uint16) net.Listener {
		var ln net.Listener
		if err := lan.Do(func() error {
			var err error
			ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, port).String())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln
	}
	web := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, page)
	}), ConnState: func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.web.Add(1)
		}
	}}
	go web.Serve(listen(lanWeb, 80))
	t.Cleanup(func() { web.Close() })
	for _, l := range []struct {
		ln net.Listener
		n  *atomic.Int64
	}{{listen(lanWeb, 22), &s.ssh}, {listen(lanPLC, 502), &s.plc}} {
		go func() {
			for {
				c, err := l.ln.Accept()
				if err != nil {
					return
				}
				l.n.Add(1)
				c.Close()
			}
		}()
	}
	return s
}

// addGateway adds a tag:gw node advertising the LAN, and the LAN behind
// its host (each gateway's LAN is a namespace of its own, with the same
// addresses).
func (w *world) addGateway(name string) (*device, *nattest.NS) {
	w.t.Helper()
	gw := w.addNode(name, nattest.EIM, "tag:gw", "--advertise-routes", lanPrefix.String())
	return gw, gw.site.AddLAN(lanPrefix, lanGW, lanWeb, lanPLC)
}

// setPolicy replaces the running policy through the admin API.
func (w *world) setPolicy(text string) {
	w.t.Helper()
	req := wire.SetPolicyRequest{Text: text, Comment: "subnet test", ParentID: -1}
	if code, body := w.admin(http.MethodPut, wire.PathAdminPolicy, req, nil); code != http.StatusOK {
		w.t.Fatalf("set policy: %d %s", code, body)
	}
}

// node returns the admin API's view of node name; a zero AdminNode
// while the coordinator does not know it.
func (w *world) node(name string) wire.AdminNode {
	w.t.Helper()
	var n wire.AdminNode
	if code, body := w.admin(http.MethodGet, wire.PathAdminNodes+"/"+name, nil, &n); code != http.StatusOK && code != http.StatusNotFound {
		w.t.Fatalf("node %s: %d %s", name, code, body)
	}
	return n
}

// httpGet fetches / from addr:80 through the node's SOCKS5 proxy.
func (d *device) httpGet(addr netip.Addr) (string, error) { return d.httpGetName(addr.String()) }

// subnetWorld is the scenario's network: the coordinator, a gateway node
// (tag:gw, advertising the LAN) whose host is linked to the LAN, and an
// operator node (tag:op) on another site.
type subnetWorld struct {
	*world
	gw, op *device
	lan    *nattest.NS
	svc    *lanServices
}

func newSubnetWorld(t *testing.T, grant, auto bool) *subnetWorld {
	t.Helper()
	w := newWorldOn(t, nattest.NewNamed(t, "w14r"))
	w.setPolicy(subnetPolicy(grant, auto))
	sw := &subnetWorld{world: w}
	sw.gw, sw.lan = w.addGateway("gw")
	sw.svc = serveLAN(t, sw.lan, "plant web ui\n")
	sw.op = w.addNode("op", nattest.EIM, "tag:op")
	// The LAN is alive from the gateway's host, and nothing but Ward
	// reaches it from the operator's: else the test would prove nothing.
	if c, err := dialIn(t.Context(), sw.gw.site.Host, "tcp", netip.AddrPortFrom(lanWeb, 80).String()); err != nil {
		t.Fatalf("the gateway's host cannot reach the LAN: %v", err)
	} else {
		c.Close()
	}
	if c, err := dialIn(t.Context(), sw.op.site.Host, "tcp", netip.AddrPortFrom(lanWeb, 80).String()); err == nil {
		c.Close()
		t.Fatal("the operator's host reaches the LAN without Ward")
	}
	sw.svc.web.Store(0) // the gateway host's check above
	waitFor(t, 30*time.Second, "the gateway reports its route", func() bool {
		return slices.Contains(w.node("gw").AdvertisedRoutes, lanPrefix)
	})
	return sw
}

// TestSubnetRouterCarriesOnlyGrantedDevicePort: a route carries nothing
// until an admin approves it; then the operator granted 192.168.10.5:80
// (by a hosts name) fetches the device's web UI by address through SOCKS5,
// while 192.168.10.5:22 and 192.168.10.6:502 stay unreachable (their
// listeners accept nothing), and revoking the grant cuts a live flow.
func TestSubnetRouterCarriesOnlyGrantedDevicePort(t *testing.T) {
	sw := newSubnetWorld(t, true, false)
	if body, err := sw.op.httpGet(lanWeb); err == nil {
		t.Fatalf("an unapproved route carried a flow: %q", body)
	}
	if got := sw.svc.web.Load(); got != 0 {
		t.Fatalf("the web device accepted %d connections through an unapproved route", got)
	}
	req := wire.RoutesRequest{Approve: []netip.Prefix{lanPrefix}}
	if code, body := sw.admin(http.MethodPost, wire.PathAdminNodes+"/gw/routes", req, nil); code != http.StatusOK {
		t.Fatalf("approve route: %d %s", code, body)
	}
	if n := sw.node("gw"); !slices.Contains(n.Routes, lanPrefix) || !slices.Contains(n.PrimaryRoutes, lanPrefix) {
		t.Fatalf("approved route not in use: routes %v, primary %v", n.Routes, n.PrimaryRoutes)
	}
	var body string
	took := waitFor(t, 30*time.Second, "the operator fetches the web UI through the router", func() bool {
		var err error
		body, err = sw.op.httpGet(lanWeb)
		return err == nil
	})
	t.Logf("web UI reached %v after the approval: %q", took, strings.TrimSpace(body))
	for _, dst := range []netip.AddrPort{netip.AddrPortFrom(lanWeb, 22), netip.AddrPortFrom(lanPLC, 502)} {
		if c, err := sw.op.dial(dst.Addr().String(), dst.Port()); err == nil {
			c.Close()
			t.Errorf("%v reached without a grant", dst)
		}
	}
	if ssh, plc := sw.svc.ssh.Load(), sw.svc.plc.Load(); ssh != 0 || plc != 0 {
		t.Errorf("ungranted LAN ports accepted connections: .5:22 %d, .6:502 %d", ssh, plc)
	}

	// A live flow, then the grant goes: the router cuts it.
	live, err := sw.op.dial(lanWeb.String(), 80)
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
	sw.setPolicy(subnetPolicy(false, false))
	select {
	case err := <-cut:
		t.Logf("live flow ended %v after the grant was revoked: %v", time.Since(start), err)
	case <-time.After(30 * time.Second):
		t.Fatal("revoking the grant did not cut the live flow within 30 s")
	}
	if _, err := sw.op.httpGet(lanWeb); err == nil {
		t.Error("the web UI is still reachable after the grant was revoked")
	}
}

// TestSubnetRouteAutoApproved: with the policy's autoApprovers naming
// tag:gw for the LAN, the gateway's route is in use without an admin, and
// carries the granted flow.
func TestSubnetRouteAutoApproved(t *testing.T) {
	sw := newSubnetWorld(t, true, true)
	n := sw.node("gw")
	if len(n.ApprovedRoutes) != 0 || !slices.Contains(n.Routes, lanPrefix) {
		t.Fatalf("route not auto-approved: approved %v, in use %v", n.ApprovedRoutes, n.Routes)
	}
	waitFor(t, 30*time.Second, "the operator fetches the web UI through the auto-approved route", func() bool {
		_, err := sw.op.httpGet(lanWeb)
		return err == nil
	})
	var ne net.Error
	if c, err := sw.op.dial(lanPLC.String(), 502); err == nil {
		c.Close()
		t.Error("the PLC reached without a grant")
	} else if errors.As(err, &ne) {
		t.Logf("PLC dial: %v", err)
	}
}

// TestSubnetRouterFailover: two gateways advertise the same LAN (each in
// front of its own copy, which says which gateway carried the request);
// the map routes it through one, and when that one's process dies the
// other carries the next request.
func TestSubnetRouterFailover(t *testing.T) {
	w := newWorldOn(t, nattest.NewNamed(t, "w14r"))
	w.setPolicy(subnetPolicy(true, true))
	gw1, lan1 := w.addGateway("gw1")
	serveLAN(t, lan1, "via gw1\n")
	waitFor(t, 30*time.Second, "gw1 is the primary router", func() bool {
		return slices.Contains(w.node("gw1").PrimaryRoutes, lanPrefix)
	})
	_, lan2 := w.addGateway("gw2")
	serveLAN(t, lan2, "via gw2\n")
	waitFor(t, 30*time.Second, "gw2 serves the route too", func() bool {
		return slices.Contains(w.node("gw2").Routes, lanPrefix) && w.node("gw2").Online
	})
	if n := w.node("gw2"); slices.Contains(n.PrimaryRoutes, lanPrefix) {
		t.Fatal("both gateways are primary")
	}
	op := w.addNode("op", nattest.EIM, "tag:op")
	var body string
	waitFor(t, 30*time.Second, "the operator reaches the LAN", func() bool {
		body, _ = op.httpGet(lanWeb)
		return body != ""
	})
	if body != "via gw1\n" {
		t.Fatalf("request carried %q, want via the primary gw1", body)
	}
	start := time.Now()
	gw1.proc.kill()
	took := waitFor(t, 30*time.Second, "the request goes through gw2", func() bool {
		body, _ = op.httpGet(lanWeb)
		return body == "via gw2\n"
	})
	t.Logf("gw2 carried the first request %v after gw1 died (%v since the kill)", took, time.Since(start))
	if n := w.node("gw2"); !slices.Contains(n.PrimaryRoutes, lanPrefix) {
		t.Errorf("gw2 is not primary after gw1 died: %v", n.PrimaryRoutes)
	}
}
