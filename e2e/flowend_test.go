package e2e

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardnet/ward/nodetest"
	"github.com/wardnet/ward/wire"
)

// shutdownBound is how long a node agent may take to stop (issue 12).
const shutdownBound = 2 * time.Second

// silentServer runs a TCP server on 127.0.0.1 that accepts connections
// and holds them open, never sending nor closing, until the test ends.
func silentServer(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// proxyFleet starts an operator with a SOCKS5 proxy and a camera exposing
// ports, under fleetPolicy(granted); it returns the operator's proxy
// address once the operator sees the camera.
func proxyFleet(t *testing.T, granted uint16, expose ...uint16) (f *fleet, op *agent, socks string) {
	f = newFleet(t, fleetPolicy(granted), nil)
	f.startAgent("cam1", f.authKey("tag:camera"), "", agentOpts{expose: expose})
	socks = freeAddr(t)
	op = f.startAgent("op1", f.authKey("tag:operator"), "", agentOpts{socks5: socks})
	waitFor(t, "operator sees the camera", func() bool { return op.hasPeer("cam1") })
	return f, op, socks
}

// TestPolicyCutFlowResetsProxyClient: when a policy change cuts a flow
// established through a node's SOCKS5 proxy, the proxy's client learns at
// once: its connection is reset (the camera answers the cut flow with a
// RST, the proxy passes it on) instead of waiting on silence, and the
// proxy logs why.
func TestPolicyCutFlowResetsProxyClient(t *testing.T) {
	ssh := echoServer(t)
	f, _, socks := proxyFleet(t, ssh, ssh)
	var c net.Conn
	waitFor(t, "a flow through the proxy", func() bool {
		var err error
		if c, err = nodetest.SOCKSConnect(socks, "cam1", ssh, 3*time.Second); err != nil {
			return false
		}
		if echo(c, "before") != nil {
			c.Close()
			return false
		}
		return true
	})
	defer c.Close()
	if code, body := f.Admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: fleetPolicy(ssh + 1), ParentID: -1}, nil); code != 200 {
		t.Fatalf("set policy: %d %s", code, body)
	}
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.ReadAll(c)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the proxy client's read after the cut = %v after %v; want a reset", err, time.Since(start))
	}
	t.Logf("policy change to the proxy client's reset: %v", time.Since(start))
	waitFor(t, "the proxy's log of the cut", func() bool {
		logs := f.logs.String()
		return strings.Contains(logs, "socks5 relay cut") && strings.Contains(logs, "reset")
	})
}

// TestSocks5ShutdownWithBlockedRelay: a node agent whose SOCKS5 proxy
// relays a connection the client has finished sending on, to a service
// that never answers nor closes (the relay blocked reading the overlay
// connection), stops within 2 s of being told to (SIGTERM cancels the
// same context), and the client's connection is reset.
func TestSocks5ShutdownWithBlockedRelay(t *testing.T) {
	silent := silentServer(t)
	_, op, socks := proxyFleet(t, silent, silent)
	var c net.Conn
	waitFor(t, "a flow through the proxy", func() bool {
		var err error
		c, err = nodetest.SOCKSConnect(socks, "cam1", silent, 3*time.Second)
		return err == nil
	})
	defer c.Close()
	if _, err := io.WriteString(c, "request"); err != nil {
		t.Fatal(err)
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	// Let the request and its end cross the overlay, so the relay waits
	// on the overlay alone.
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- op.Stop() }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("agent stopped with %v", err)
		}
		t.Logf("agent stopped in %v", time.Since(start))
	case <-time.After(shutdownBound):
		t.Fatalf("agent still stopping after %v: a relay held it", shutdownBound)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the proxy client's read after the shutdown = %v; want a reset", err)
	}
}
