//go:build linux

package client_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/client"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/nattest"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/nodetest"
	"github.com/wardnet/ward/splitdns"
	"github.com/wardnet/ward/wire"
)

// TestTUNReachesRoutedDevice's processes: the test itself builds the
// network (nattest: an internet namespace; a NAT'd site whose host is the
// gateway, with a LAN namespace behind it serving HTTP on 192.168.10.5:80
// and TCP on .5:22 and .6:502), then re-executes this binary as the
// laptop inside the internet namespace (a coordinator on ServerA with
// TLS, the person's client daemon in TUN mode), which re-executes it
// once more as the gateway node inside the site's host.
const (
	// routeRoleEnv says which part a re-executed binary plays.
	routeRoleEnv = "WARD_TUN_ROUTE_ROLE"
	// routeGWNSEnv names the gateway's namespace, for the laptop.
	routeGWNSEnv = "WARD_TUN_ROUTE_GWNS"
	// routeURLEnv, routeCAEnv and routeKeyEnv are the coordinator's URL,
	// its CA file and the gateway's pre-auth key, for the gateway.
	routeURLEnv = "WARD_TUN_ROUTE_URL"
	routeCAEnv  = "WARD_TUN_ROUTE_CA"
	routeKeyEnv = "WARD_TUN_ROUTE_KEY"
	// routePage is what the web device serves.
	routePage = "plant web ui\n"
)

var (
	routeLAN = netip.MustParsePrefix("192.168.10.0/24")
	routeWeb = netip.MustParseAddr("192.168.10.5")
	routePLC = netip.MustParseAddr("192.168.10.6")
)

// routePolicy grants group:ops the web device's port 80 through its hosts
// name; the PLC has a name of its own, which group:ops may not reach; the
// gateway's route is approved by autoApprovers.
const routePolicy = `{
  "groups": {"group:ops": []},
  "tagOwners": {"tag:gw": []},
  "hosts": {"webui": "192.168.10.5/32", "plc-1": "192.168.10.6/32"},
  "grants": [{"src": ["group:ops"], "dst": ["webui"], "ip": ["tcp:80"]}],
  "autoApprovers": {"routes": {"192.168.10.0/24": ["tag:gw"]}},
}`

// TestTUNReachesRoutedDevice pins issue 14's subnet routes in TUN mode,
// end to end: a person's client daemon with --tun reaches the web device
// behind a gateway node (192.168.10.5:80) with a plain HTTP client, by
// address through the kernel routes TUN mode installs, and by the policy's
// hosts name as the overlay resolver answers it to Go's resolver; the
// name of the PLC, which the person may not reach, is NXDOMAIN; the same
// name works through the daemon's SOCKS5 and HTTP CONNECT proxies; and
// 192.168.10.5:22 and 192.168.10.6:502 stay unreachable (their listeners
// count no connection). Nothing outside Ward routes to the LAN.
func TestTUNReachesRoutedDevice(t *testing.T) {
	switch os.Getenv(routeRoleEnv) {
	case "laptop":
		routeLaptop(t)
		return
	case "gateway":
		routeGateway(t)
		return
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("TUN mode test needs /dev/net/tun: %v", err)
	}
	n := nattest.NewNamed(t, "w14t")
	site := n.AddSite(nattest.EIM)
	lan := site.AddLAN(routeLAN, netip.MustParseAddr("192.168.10.1"), routeWeb, routePLC)
	web, ssh, plc := serveRouteLAN(t, lan)
	var d net.Dialer
	var c net.Conn
	if err := n.Internet.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		var err error
		c, err = d.DialContext(ctx, "tcp", netip.AddrPortFrom(routeWeb, 80).String())
		return err
	}); err == nil {
		c.Close()
		t.Fatal("the internet namespace reaches the LAN without Ward: the test would prove nothing")
	}
	cmd := n.Internet.Command(os.Args[0], "-test.run=^TestTUNReachesRoutedDevice$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), routeRoleEnv+"=laptop", routeGWNSEnv+"="+site.Host.Name)
	out, err := cmd.CombinedOutput()
	t.Logf("the laptop, inside %s:\n%s", n.Internet.Name, out)
	if err != nil {
		t.Fatalf("the TUN route scenario failed: %v", err)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Fatal("the TUN route scenario skipped inside the namespace")
	}
	if web.Load() == 0 {
		t.Error("the web device counted no connection")
	}
	if s, p := ssh.Load(), plc.Load(); s != 0 || p != 0 {
		t.Errorf("ungranted LAN ports accepted connections: .5:22 %d, .6:502 %d", s, p)
	}
}

// serveRouteLAN serves, inside lan, HTTP on the web device's port 80 and
// TCP listeners on its port 22 and the PLC's 502, and returns their
// connection counts.
func serveRouteLAN(t *testing.T, lan *nattest.NS) (web, ssh, plc *atomic.Int64) {
	t.Helper()
	web, ssh, plc = &atomic.Int64{}, &atomic.Int64{}, &atomic.Int64{}
	for _, s := range []struct {
		at netip.AddrPort
		n  *atomic.Int64
	}{{netip.AddrPortFrom(routeWeb, 80), web}, {netip.AddrPortFrom(routeWeb, 22), ssh}, {netip.AddrPortFrom(routePLC, 502), plc}} {
		var ln net.Listener
		if err := lan.Do(func() error {
			var err error
			ln, err = net.Listen("tcp", s.at.String())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, routePage) }),
			ConnState: func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					s.n.Add(1)
				}
			}}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	return web, ssh, plc
}

// routeLaptop is the laptop's part, inside the internet namespace.
func routeLaptop(t *testing.T) {
	dir := t.TempDir()
	cert, key := nodetest.WriteCert(t, dir, nattest.ServerA)
	idp := &fakeIdP{}
	coord := nodetest.StartCoordinator(t, routePolicy, func(c *assembly.Config) {
		c.Listen = netip.AddrPortFrom(nattest.ServerA, freePort(t, nattest.ServerA)).String()
		c.TLSCert, c.TLSKey = cert, key
		idp.coordURL = "https://" + c.Listen
		c.Auth = idp
	})
	hc := trusting(t, cert)
	coord.HTTP = hc
	startRouteGateway(t, coord.URL(), cert, coord.AuthKey("tag:gw"))
	conf := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := nodetest.StartLaptop(t, client.Config{Coordinator: coord.URL(), CAFile: cert, SOCKS5: "127.0.0.1:0", HTTPProxy: "127.0.0.1:0",
		Hostname: "alice-laptop", DialTimeout: refusedDial, TUN: true, TUNName: "wardrt0", DNS: splitdns.ModeResolvConf, ResolvConf: conf})
	t.Cleanup(func() {
		if err := l.Stop(); err != nil {
			t.Errorf("client daemon: %v", err)
		}
	})
	routeLogin(t, l.API, idp, hc)
	st, err := l.API.Status(context.Background())
	if err != nil || person(st).Interface != "wardrt0" {
		t.Fatalf("status: %+v, %v", st, err)
	}
	self := st.Self.IPv4

	// By address, through the kernel's route into the TUN.
	plain := &http.Client{Timeout: refusedDial, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	start := time.Now()
	eventually(t, "a plain HTTP GET of 192.168.10.5 through the TUN", func() bool {
		body, err := get(plain, "http://192.168.10.5/")
		return err == nil && body == routePage
	})
	t.Logf("figure: the web device answered through the TUN %v after the login", time.Since(start).Round(time.Millisecond))

	// By name, as the overlay resolver answers Go's resolver.
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, netip.AddrPortFrom(self, 53).String())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	eventually(t, "the overlay resolver installed", func() bool {
		b, _ := os.ReadFile(conf)
		return strings.Contains(string(b), "nameserver "+self.String()+"\n")
	})
	if got, err := r.LookupNetIP(ctx, "ip4", "webui.ward.internal"); err != nil || len(got) != 1 || got[0].Unmap() != routeWeb {
		t.Errorf("A webui.ward.internal = %v, %v; want %v", got, err, routeWeb)
	}
	var de *net.DNSError
	if _, err := r.LookupNetIP(ctx, "ip4", "plc-1.ward.internal"); !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("A plc-1.ward.internal (a device the person may not reach): %v, want NXDOMAIN", err)
	}
	byName := &http.Client{Timeout: deadline, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true,
		DialContext: (&net.Dialer{Resolver: r}).DialContext}}
	if body, err := get(byName, "http://webui.ward.internal/"); err != nil || body != routePage {
		t.Errorf("GET http://webui.ward.internal/ through the TUN: %q, %v", body, err)
	}

	// The same name through the daemon's proxies.
	viaSOCKS := &http.Client{Timeout: deadline, Transport: &http.Transport{DisableKeepAlives: true,
		Proxy: http.ProxyURL(&url.URL{Scheme: "socks5", Host: l.SOCKS5})}}
	if body, err := get(viaSOCKS, "http://webui/"); err != nil || body != routePage {
		t.Errorf("GET http://webui/ through SOCKS5: %q, %v", body, err)
	}
	if c, _, err := connectProxy(l.HTTPProxy, "webui.ward.internal", 80); err != nil {
		t.Errorf("HTTP CONNECT to webui.ward.internal:80: %v", err)
	} else {
		if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err == nil {
			b, _ := io.ReadAll(c)
			if !strings.HasSuffix(string(b), routePage) {
				t.Errorf("HTTP CONNECT to webui.ward.internal:80 answered %q", b)
			}
		}
		c.Close()
	}

	// Nothing else on the LAN.
	for _, dst := range []netip.AddrPort{netip.AddrPortFrom(routeWeb, 22), netip.AddrPortFrom(routePLC, 502)} {
		if c, err := net.DialTimeout("tcp", dst.String(), refusedDial); err == nil {
			c.Close()
			t.Errorf("%v reached through the TUN without a grant", dst)
		}
	}
	if _, err := l.API.Logout(ctx); err != nil {
		t.Fatal(err)
	}
}

// startRouteGateway runs the gateway node inside the namespace
// routeGWNSEnv names, until the test ends.
func startRouteGateway(t *testing.T, coordURL, ca, authKey string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", os.Getenv(routeGWNSEnv), os.Args[0], "-test.run=^TestTUNReachesRoutedDevice$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), routeRoleEnv+"=gateway", routeURLEnv+"="+coordURL, routeCAEnv+"="+ca, routeKeyEnv+"="+authKey)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the gateway's cue to stop
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil || t.Failed() {
				t.Logf("the gateway (%v):\n%s", err, out.String())
			}
		case <-time.After(deadline):
			cmd.Process.Kill()
			<-done
			t.Errorf("the gateway did not stop:\n%s", out.String())
		}
	})
}

// routeGateway is the gateway's part: a node agent advertising the LAN,
// until its standard input closes.
func routeGateway(t *testing.T) {
	a := nodetest.StartAgent(t, node.AgentConfig{Coordinator: os.Getenv(routeURLEnv), CAFile: os.Getenv(routeCAEnv),
		AuthKey: os.Getenv(routeKeyEnv), Hostname: "gw", AdvertiseRoutes: []netip.Prefix{routeLAN}})
	io.Copy(io.Discard, os.Stdin)
	if err := a.Stop(); err != nil {
		t.Errorf("gateway agent: %v", err)
	}
}

// routeLogin logs the person in as alice of group:ops, the browser
// trusting the coordinator's certificate through hc.
func routeLogin(t *testing.T, api *localapi.Client, idp *fakeIdP, hc *http.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start, err := api.Login(ctx, localapi.LoginRequest{Force: true})
	if err != nil || start.URL == "" {
		t.Fatalf("start login: %+v, %v", start, err)
	}
	idp.as("alice", "ops", "")
	b := devidptest.NewBrowser()
	b.Client.Transport = hc.Transport
	p, err := b.Open(ctx, start.URL)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	if _, err := b.SubmitForm(ctx, p, wire.PathLoginConfirm, url.Values{"decision": {"connect"}}); err != nil {
		t.Fatalf("browser: confirm: %v", err)
	}
	if res, err := api.WaitLogin(ctx, start.ID); err != nil || res.Error != "" || !res.Ready {
		t.Fatalf("login: %+v, %v", res, err)
	}
}

// trusting returns an HTTP client that trusts the certificate in file
// cert.
func trusting(t *testing.T, cert string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: deadline, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}}
}

// freePort returns a TCP port free on a for the moment.
func freePort(t *testing.T, a netip.Addr) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// get fetches u with hc and returns the body of a 200 answer.
func get(hc *http.Client, u string) (string, error) {
	resp, err := hc.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	return string(b), err
}
