//go:build linux

package nat

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/nattest"
)

// namesPolicy grants tag:op the web device's port 80 through the hosts
// name "webui"; the PLC has a name too ("plc-1"), which tag:op may not
// reach, and the LAN one ("lan", a set of devices, no name).
const namesPolicy = `{
  "tagOwners": {"tag:gw": [], "tag:op": []},
  "hosts": {"webui": "192.168.10.5/32", "plc-1": "192.168.10.6", "lan": "192.168.10.0/24"},
  "grants": [{"src": ["tag:op"], "dst": ["webui"], "ip": ["tcp:80"]}],
  "autoApprovers": {"routes": {"192.168.10.0/24": ["tag:gw"]}},
}`

// TestSubnetDevicesReachedByHostsName: the operator granted the web
// device by its hosts name reaches it by that name, alone and under the
// fleet domain, on every path of a node: SOCKS5 with a hostname, the
// real `ward nc` and the real `ward forward`. The PLC's name, which the
// operator may not use, resolves nowhere (SOCKS5 reply 4, host
// unreachable), and the PLC and the web device's port 22 accept nothing.
func TestSubnetDevicesReachedByHostsName(t *testing.T) {
	w := newWorldOn(t, nattest.NewNamed(t, "w14n"))
	w.setPolicy(namesPolicy)
	_, lan := w.addGateway("gw")
	svc := serveLAN(t, lan, "plant web ui\n")
	op := w.addNode("op", nattest.EIM, "tag:op")
	waitFor(t, 30*time.Second, "the operator reaches the web UI by name", func() bool {
		body, err := op.httpGetName("webui")
		return err == nil && body == "plant web ui\n"
	})
	for _, host := range []string{"webui", "webui.ward.internal", "WebUI.Ward.Internal."} {
		if body, err := op.httpGetName(host); err != nil || body != "plant web ui\n" {
			t.Errorf("SOCKS5 to %s:80: %q, %v", host, body, err)
		}
	}
	for _, host := range []string{"webui", "webui.ward.internal"} {
		if out, err := op.wardNC(host, 80, "GET / HTTP/1.0\r\n\r\n"); err != nil || !strings.Contains(out, "plant web ui") {
			t.Errorf("ward nc %s 80: %v: %q", host, err, out)
		}
	}
	if body, err := op.viaForward("webui.ward.internal:80", 18080); err != nil || body != "plant web ui\n" {
		t.Errorf("ward forward to webui.ward.internal:80: %q, %v", body, err)
	}
	for _, host := range []string{"plc-1", "plc-1.ward.internal", "lan"} {
		if rep, err := op.socksReply(host, 502); err != nil || rep != 4 {
			t.Errorf("SOCKS5 to %s:502: reply %d (%v), want 4 (host unreachable)", host, rep, err)
		}
	}
	if c, err := op.dial("webui", 22); err == nil {
		c.Close()
		t.Error("webui:22 reached without a grant")
	}
	if ssh, plc := svc.ssh.Load(), svc.plc.Load(); ssh != 0 || plc != 0 {
		t.Errorf("ungranted LAN ports accepted connections: .5:22 %d, .6:502 %d", ssh, plc)
	}
}

// stateDir is the node's state directory (its local API's socket's).
func (d *device) stateDir() string { return filepath.Dir(d.api.Socket) }

// httpGetName fetches / from host:80 through the node's SOCKS5 proxy,
// host sent as a name for the proxy to resolve.
func (d *device) httpGetName(host string) (string, error) {
	c, err := d.dial(host, 80)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return httpOver(c)
}

// httpOver sends GET / on c and returns the body.
func httpOver(c net.Conn) (string, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\nHost: plant\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// socksReply asks the node's SOCKS5 proxy for host:port and returns the
// proxy's reply code (0 succeeded, 4 host unreachable, ...).
func (d *device) socksReply(host string, port uint16) (byte, error) {
	var rep byte
	err := d.site.Host.Do(func() error {
		c, err := net.DialTimeout("tcp", socksAddr, 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		req := append([]byte{5, 1, 0, 5, 1, 0, 3, byte(len(host))}, host...)
		req = append(req, byte(port>>8), byte(port))
		if _, err := c.Write(req); err != nil {
			return err
		}
		var b [2 + 2]byte // method answer, then VER REP
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return err
		}
		rep = b[3]
		return nil
	})
	return rep, err
}

// wardNC runs the real `ward nc host port` in the node's namespace with
// in as its standard input and returns its output.
func (d *device) wardNC(host string, port uint16, in string) (string, error) {
	cmd := d.site.Host.Command(wardBinary(d.w.t), "nc", "--state-dir", d.stateDir(), host, fmt.Sprint(port))
	cmd.Stdin = strings.NewReader(in)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// viaForward runs the real `ward forward local target` in the node's
// namespace and fetches / through it.
func (d *device) viaForward(target string, local uint16) (string, error) {
	cmd := d.site.Host.Command(wardBinary(d.w.t), "forward", "--state-dir", d.stateDir(), fmt.Sprint(local), target)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", err
	}
	var body string
	var err error
	deadline := time.Now().Add(20 * time.Second)
	for {
		if body, err = d.getLocal(local); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(poll)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if err != nil {
		err = fmt.Errorf("%w (forward said: %s)", err, stderr.String())
	}
	return body, err
}

// getLocal fetches / from 127.0.0.1:port inside the node's namespace.
func (d *device) getLocal(port uint16) (string, error) {
	var body string
	err := d.site.Host.Do(func() error {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		body, err = httpOver(c)
		return err
	})
	return body, err
}
