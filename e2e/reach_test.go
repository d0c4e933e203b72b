package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/nodetest"
	"github.com/wardnet/ward/wire"
)

// reachWorld is a camera and who may reach it: the operator device op1 and
// the people of group:ops (alice) may open tcp to ssh (served), unexposed
// (not exposed) and dead (exposed, nothing listens); other is exposed and
// served but granted to nobody.
type reachWorld struct {
	f                           *fleet
	op, cam                     *agent
	ssh, other, unexposed, dead uint16
	granted                     string // "tcp A, B, C", the three granted ports in order
	dialCtx                     context.Context
}

func newReachWorld(t *testing.T) *reachWorld {
	w := &reachWorld{ssh: echoServer(t), other: echoServer(t)}
	w.unexposed, w.dead = freeTCPPort(t), freeTCPPort(t)
	ports := []uint16{w.ssh, w.unexposed, w.dead}
	slices.Sort(ports)
	w.granted = fmt.Sprintf("tcp %d, %d, %d", ports[0], ports[1], ports[2])
	w.f = newFleet(t, fmt.Sprintf(`{
  "groups": {"group:ops": []},
  "tagOwners": {"tag:operator": [], "tag:camera": []},
  "acls": [{"action": "accept", "src": ["tag:operator", "group:ops"], "dst": ["tag:camera:%d,%d,%d"], "proto": "tcp"}],
}`, w.ssh, w.unexposed, w.dead), nil)
	w.cam = w.f.startAgent("cam1", w.f.authKey("tag:camera"), "", agentOpts{expose: []uint16{w.ssh, w.other, w.dead}})
	w.op = w.f.startAgent("op1", w.f.authKey("tag:operator"), "", agentOpts{})
	waitFor(t, "the operator reaches the camera", func() bool { return w.op.roundTrip("cam1", w.ssh) == nil })
	// Generous: the answers under test are typed, not timed.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	w.dialCtx = ctx
	return w
}

// freeTCPPort returns a loopback port nothing listens on.
func freeTCPPort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// alice logs alice (group:ops) in on a laptop whose proxies wait long for
// a dial, and waits until she reaches the camera.
func (w *reachWorld) alice(t *testing.T) *laptop {
	l := w.f.startLaptopDialing(t, "alice-laptop", time.Minute)
	if res, _ := l.login(t, devidptest.Credentials{Username: "alice", Password: "alice", OTP: "123456"}); res.Error != "" {
		t.Fatalf("alice's login: %+v", res)
	}
	waitFor(t, "alice reaches the camera", func() bool { return l.socksEcho("cam1", w.ssh) == nil })
	return l
}

// personTries is how a person's attempt on a port ended, each way a
// person tries: the SOCKS5 reply code, the HTTP proxy's status and body
// for a plain GET (what `curl -x` sends), and what `ward nc` printed.
type personTries struct {
	socks    byte
	httpCode int
	httpBody string
	nc       string
}

func (l *laptop) try(t *testing.T, host string, port uint16) personTries {
	t.Helper()
	var r personTries
	var err error
	if r.socks, err = l.socksReply(host, port); err != nil {
		t.Fatalf("socks5: %v", err)
	}
	if r.httpCode, r.httpBody, err = l.proxyGet(fmt.Sprintf("http://%s:%d/", host, port)); err != nil {
		t.Fatalf("http proxy: %v", err)
	}
	cmd := exec.Command(binary(t), "nc", "--state-dir", l.dir, host, strconv.Itoa(int(port)))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("ward nc %s %d succeeded: %s", host, port, out)
	}
	r.nc = string(out)
	return r
}

// socksReply sends a SOCKS5 CONNECT to host:port and returns the reply
// code.
func (l *laptop) socksReply(host string, port uint16) (byte, error) {
	c, err := net.DialTimeout("tcp", l.socks, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	req := append([]byte{5, 1, 0, 5, 1, 0, 3, byte(len(host))}, host...)
	if _, err := c.Write(append(req, byte(port>>8), byte(port))); err != nil {
		return 0, err
	}
	var rep [4]byte // the greeting's answer and the reply's first bytes
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		return 0, err
	}
	return rep[3], nil
}

// proxyGet sends a plain GET for u through the laptop's HTTP proxy.
func (l *laptop) proxyGet(u string) (int, string, error) {
	c, err := net.DialTimeout("tcp", l.http, 5*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", u)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestDialDeniedPortAnswersAtOnce: a port the policy does not grant is
// refused by the dialing node itself, from the grants in its map, with
// what it may reach instead: a typed error for a device's dial (not a
// timeout, under a deadline of a minute), SOCKS5 reply 2 ("not allowed by
// ruleset"), HTTP 403 and `ward nc`'s message for a person. Nothing
// reaches the camera, which counts no denied flow.
func TestDialDeniedPortAnswersAtOnce(t *testing.T) {
	w := newReachWorld(t)
	want := fmt.Sprintf("not granted by the policy (you may reach cam1 on %s)", w.granted)
	before := w.cam.Engine().Status().Filter.Denied

	_, err := w.op.DialPeer(w.dialCtx, "cam1", w.other)
	var ng *node.NotGrantedError
	if !errors.As(err, &ng) || !errors.Is(err, node.ErrNotGranted) || err.Error() != want {
		t.Fatalf("operator's dial of an ungranted port: %v; want a NotGrantedError %q", err, want)
	}

	alice := w.alice(t)
	got := alice.try(t, "cam1", w.other)
	target := fmt.Sprintf("cam1:%d", w.other)
	if got.socks != 2 || got.httpCode != http.StatusForbidden || got.httpBody != target+": "+want+"\n" ||
		got.nc != "ward: dial "+target+": "+want+"\n" {
		t.Fatalf("alice's tries on an ungranted port: %+v; want reply 2, 403 and %q", got, want)
	}
	if after := w.cam.Engine().Status().Filter.Denied; after != before {
		t.Errorf("the camera counted %d denied flows: a refused dial went out", after-before)
	}
}

// TestGrantedUnexposedPortRefusedFast: a granted port the camera does not
// expose, and an exposed one nothing listens on, are refused by the
// camera's reset, and the dialer says so distinctly: a typed error for a
// device, SOCKS5 reply 5, HTTP 502 and `ward nc`'s message for a person.
func TestGrantedUnexposedPortRefusedFast(t *testing.T) {
	w := newReachWorld(t)
	alice := w.alice(t)
	for _, port := range []uint16{w.unexposed, w.dead} {
		want := fmt.Sprintf("cam1 refused the connection on port %d (granted, but nothing listens there)", port)
		_, err := w.op.DialPeer(w.dialCtx, "cam1", port)
		var rf *node.RefusedError
		if !errors.As(err, &rf) || !errors.Is(err, node.ErrRefused) || err.Error() != want {
			t.Fatalf("operator's dial of port %d: %v; want a RefusedError %q", port, err, want)
		}
		got := alice.try(t, "cam1", port)
		target := fmt.Sprintf("cam1:%d", port)
		if got.socks != 5 || got.httpCode != http.StatusBadGateway || got.httpBody != target+": "+want+"\n" ||
			got.nc != "ward: dial "+target+": "+want+"\n" {
			t.Fatalf("alice's tries on port %d: %+v; want reply 5, 502 and %q", port, got, want)
		}
	}
}

// TestDeniedPortGetsNoReset plays an attacker with the operator's stolen
// WireGuard key and hand-made SYNs, past every check of Ward's own
// client: the camera resets a SYN to a granted port it does not serve,
// and answers nothing at all to a SYN the policy denies, whether the port
// is exposed or not, while it reports each denial as the operator's.
func TestDeniedPortGetsNoReset(t *testing.T) {
	w := newReachWorld(t)
	a := w.f.attackAs(t, w.op, "cam1")

	// The control: a granted port the camera does not serve is reset (a
	// first SYN may wait for the handshake; the attacker resends).
	waitFor(t, "a reset for the granted, unexposed port", func() bool {
		a.SYN(w.unexposed)
		flags, ok := a.Answer(w.unexposed, time.Second)
		return ok && flags&nodetest.TCPRST != 0
	})
	for _, port := range []uint16{w.other, freeTCPPort(t)} {
		for range 3 {
			a.SYN(port)
		}
		if flags, ok := a.Answer(port, 2*time.Second); ok {
			t.Errorf("a SYN to denied port %d got an answer (flags %#x); want nothing", port, flags)
		}
	}
	waitFor(t, "the denials in the audit log, as the operator's", func() bool {
		var evs []wire.AuditEvent
		w.f.Admin("GET", wire.PathAdminAudit+"?action=flow.denied", nil, &evs)
		for _, e := range evs {
			who, _ := e.Detail.(map[string]any)["src_identity"].(string)
			if e.Actor == "node:cam1" && strings.HasPrefix(who, "node:op1") && strings.Contains(e.Target, fmt.Sprintf("port %d", w.other)) {
				return true
			}
		}
		return false
	})
}

// attackAs stops ag and returns an attacker with its key and address
// toward peer: a modified client that ignores the grants in its map.
func (f *fleet) attackAs(t *testing.T, ag *agent, peer string) *nodetest.Attacker {
	t.Helper()
	st, err := node.LoadState(ag.Dir)
	if err != nil {
		t.Fatal(err)
	}
	self := ag.Engine().Self()
	ag.Stop() // the peer must answer the attacker, not the real node
	return f.attacker(t, st.WGKey, self.IPv4, peer)
}

// rogue stops the laptop and returns an attacker with its person's key
// and address toward peer.
func (l *laptop) rogue(t *testing.T, f *fleet, peer string) *nodetest.Attacker {
	t.Helper()
	st, err := node.LoadPersonState(l.dir)
	if err != nil || st.Session == nil {
		t.Fatalf("the laptop's state: %+v, %v", st, err)
	}
	l.Stop()
	return f.attacker(t, st.Session.WGKey, st.Session.Node.IPv4, peer)
}

// attacker is a bare WireGuard peer with key, as the node at self, toward
// peer as the admin API shows it.
func (f *fleet) attacker(t *testing.T, key wire.WGPrivate, self netip.Addr, peer string) *nodetest.Attacker {
	t.Helper()
	var target wire.AdminNode
	waitFor(t, peer+"'s endpoints at the coordinator", func() bool {
		code, _ := f.Admin("GET", wire.PathAdminNodes+"/"+peer, nil, &target)
		return code == 200 && nodetest.HasLoopback(target.Endpoints)
	})
	return nodetest.NewAttacker(t, key, self, target.Node, target.Endpoints)
}
