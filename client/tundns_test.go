package client_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/wardnet/ward/client"
	"github.com/wardnet/ward/splitdns"
)

// tunDNSChildEnv marks the re-executed test binary running inside
// TestTUNResolvesFleetNames's network namespace.
const tunDNSChildEnv = "WARD_TUN_DNS_CHILD"

// TestTUNResolvesFleetNames pins issue 14's overlay resolver in TUN mode,
// inside a network namespace the test creates: the laptop serves DNS on
// its overlay address; Go's resolver asking it gets the camera's overlay
// address for its FQDN, NXDOMAIN for a fleet name no node has, and for
// any other name the answer of the system's resolver (the namespace's
// loopback, as the resolv.conf read at start says). The resolver is
// installed in a resolv.conf of the test's own (never /etc/resolv.conf),
// which comes back byte for byte at logout.
func TestTUNResolvesFleetNames(t *testing.T) {
	if os.Getenv(tunDNSChildEnv) == "1" {
		tunDNSScenario(t)
		return
	}
	ns := tunNetns(t)
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestTUNResolvesFleetNames$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), tunDNSChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("inside netns %s:\n%s", ns, out)
	if err != nil {
		t.Fatalf("the TUN DNS scenario failed inside the namespace: %v", err)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Skip("the TUN DNS scenario skipped inside the namespace")
	}
}

// systemResolver serves DNS on the namespace's 127.0.0.1:53 as its
// "system" resolver: every A question is answered 192.0.2.1 (a
// documentation address, never dialled).
func systemResolver(t *testing.T) {
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if q := r.Question[0]; q.Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: net.IPv4(192, 0, 2, 1)})
		}
		w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:53")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: h}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
}

func tunDNSScenario(t *testing.T) {
	systemResolver(t)
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	orig := "nameserver 127.0.0.1\nsearch corp.example\n"
	if err := os.WriteFile(conf, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, 0)
	l := w.startLaptop(func(c *client.Config) {
		c.TUN, c.TUNName, c.SOCKS5, c.HTTPProxy = true, "wardtest1", "", ""
		c.DNS, c.ResolvConf = splitdns.ModeResolvConf, conf
	})
	if res, _ := l.login(w, "alice", "ops", ""); res.Error != "" || !res.Ready {
		t.Fatalf("login: %+v", res)
	}
	st, err := l.api.Status(context.Background())
	if err != nil || len(person(st).Devices) != 1 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	cam, self := person(st).Devices[0], st.Self.IPv4
	eventually(t, "the overlay resolver installed in resolv.conf", func() bool {
		b, _ := os.ReadFile(conf)
		return strings.Contains(string(b), "nameserver "+self.String()+"\n") && strings.Contains(string(b), "search ward.internal corp.example")
	})
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, netip.AddrPortFrom(self, 53).String())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if got, err := r.LookupNetIP(ctx, "ip4", "cam1.ward.internal"); err != nil || len(got) != 1 || got[0].Unmap() != cam.IPv4 {
		t.Errorf("A cam1.ward.internal = %v, %v; want %v", got, err, cam.IPv4)
	}
	if got, err := r.LookupNetIP(ctx, "ip6", "cam1.ward.internal"); err != nil || len(got) != 1 || got[0] != cam.IPv6 {
		t.Errorf("AAAA cam1.ward.internal = %v, %v; want %v", got, err, cam.IPv6)
	}
	var de *net.DNSError
	if _, err := r.LookupNetIP(ctx, "ip4", "nope.ward.internal"); !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("an unknown fleet name: %v, want NXDOMAIN", err)
	}
	if got, err := r.LookupNetIP(ctx, "ip4", "www.example.com"); err != nil || len(got) != 1 || got[0].Unmap() != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("a name outside the fleet = %v, %v; want the system resolver's 192.0.2.1", got, err)
	}
	if _, err := l.api.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(conf); string(b) != orig {
		t.Errorf("resolv.conf after logout = %q, want the original back", b)
	}
}

// TestDaemonStartPutsBackResolvConfACrashLeft: a daemon that died in TUN
// mode with its resolver installed in resolv.conf left the original in
// its state directory; the next start, even without --tun, puts it back
// (so the machine does not keep asking a resolver that is gone) and drops
// the backup.
func TestDaemonStartPutsBackResolvConfACrashLeft(t *testing.T) {
	dir, err := os.MkdirTemp("", "wardc") // unix socket paths are short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	orig := "nameserver 10.0.0.53\nsearch corp.example\n"
	if err := os.WriteFile(conf, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	crashed := splitdns.ResolvConf{Path: conf, Backup: filepath.Join(dir, client.ResolvConfBackup)}
	if err := crashed.Install(netip.MustParseAddr("100.64.0.9"), "ward.internal"); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, 0)
	w.startLaptop(func(c *client.Config) { c.StateDir, c.ResolvConf = dir, conf })
	if b, _ := os.ReadFile(conf); string(b) != orig {
		t.Errorf("resolv.conf after the restart = %q, want the original back", b)
	}
	if _, err := os.Stat(crashed.Backup); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the backup is still there: %v", err)
	}
}
