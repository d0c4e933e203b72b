package e2e

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/devidp/devidptest"
)

// TestPeopleReachPeersByDNSName pins issue 14's names on every client
// path: a person reaches a device by its short name and by its FQDN under
// the fleet domain (any case, a trailing dot) through SOCKS5 with a
// hostname, the HTTP proxy's CONNECT, the real `ward nc` and the real
// `ward ssh` (the system ssh against an SSH server on the device). A name
// under the fleet domain that no peer has is refused as an unknown peer.
func TestPeopleReachPeersByDNSName(t *testing.T) {
	echoPort, sshPort := echoServer(t), sshServer(t)
	f := newFleet(t, fmt.Sprintf(`{
  "groups": {"group:ops": []},
  "tagOwners": {"tag:camera": []},
  "acls": [{"action": "accept", "src": ["group:ops"], "dst": ["tag:camera:%d,%d"]}],
}`, echoPort, sshPort), nil)
	f.startAgent("Camera-3", f.authKey("tag:camera"), "", agentOpts{expose: []uint16{echoPort, sshPort}})
	alice := f.startLaptop(t, "alice-laptop")
	if res, _ := alice.login(t, devidptest.Credentials{Username: "alice", Password: "alice", OTP: "123456"}); res.Error != "" {
		t.Fatalf("alice's login: %+v", res)
	}
	waitFor(t, "alice reaches camera-3 by its FQDN through SOCKS5", func() bool {
		return alice.socksEcho("camera-3.ward.internal", echoPort) == nil
	})
	for _, host := range []string{"camera-3", "Camera-3.Ward.Internal.", "camera-3.ward.internal"} {
		if err := alice.socksEcho(host, echoPort); err != nil {
			t.Errorf("SOCKS5 to %s: %v", host, err)
		}
		if err := alice.connectEcho(host, echoPort); err != nil {
			t.Errorf("HTTP CONNECT to %s: %v", host, err)
		}
		if err := alice.nc(t, host, echoPort); err != nil {
			t.Errorf("ward nc %s: %v", host, err)
		}
	}
	for _, host := range []string{"camera-3", "camera-3.ward.internal"} {
		if out, err := alice.ssh(t, host, sshPort); err != nil || out != "hello from the camera: uptime\n" {
			t.Errorf("ward ssh %s: %v: %q", host, err, out)
		}
	}
	if rep, err := alice.socksReply("nope.ward.internal", echoPort); err != nil || rep != 4 {
		t.Errorf("SOCKS5 to an unknown fleet name: reply %d (%v), want 4 (host unreachable)", rep, err)
	}
	cmd := exec.Command(binary(t), "nc", "--state-dir", alice.dir, "nope.ward.internal", strconv.Itoa(int(echoPort)))
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "no such peer") {
		t.Errorf("ward nc to an unknown fleet name: %v: %s", err, out)
	}
}

// connectEcho opens a tunnel to host:port through the laptop's HTTP
// proxy (CONNECT) and echoes through it.
func (l *laptop) connectEcho(host string, port uint16) error {
	c, err := net.DialTimeout("tcp", l.http, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	hp := net.JoinHostPort(host, strconv.Itoa(int(port)))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", hp, hp)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("CONNECT: %s: %s", resp.Status, b)
	}
	if _, err := fmt.Fprint(c, "via connect\n"); err != nil {
		return err
	}
	line, err := br.ReadString('\n')
	if err != nil || line != "via connect\n" {
		return fmt.Errorf("echoed %q: %v", line, err)
	}
	return nil
}

// ssh runs the real `ward ssh` (the system ssh, ward nc as its
// ProxyCommand) to run "uptime" on host's SSH server at port.
func (l *laptop) ssh(t *testing.T, host string, port uint16) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Fatalf("ward ssh needs the system ssh: %v", err)
	}
	cmd := exec.Command(binary(t), "ssh", "--state-dir", l.dir, "-F", "/dev/null",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
		"-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20", "-p", strconv.Itoa(int(port)), "test@"+host, "uptime")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return string(out), nil
}

// sshServer serves SSH on 127.0.0.1 without authentication: each exec
// request is answered "hello from the camera: COMMAND" and exit status 0.
// It returns the port.
func sshServer(t *testing.T) uint16 {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveSSH(c, cfg)
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// serveSSH answers one SSH connection's exec requests.
func serveSSH(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		go serveSession(ch, creqs)
	}
}

// serveSession answers a session's exec request and ends the session.
func serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for r := range reqs {
		if r.Type != "exec" {
			r.Reply(false, nil)
			continue
		}
		var exec struct{ Command string }
		ssh.Unmarshal(r.Payload, &exec)
		r.Reply(true, nil)
		fmt.Fprintf(ch, "hello from the camera: %s\n", exec.Command)
		ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
		return
	}
}

// TestAdminRenameReachesPeers pins issue 14's rename end to end, through
// the real `ward admin` and `ward status`: under a fleet domain of the
// coordinator's --dns-domain, the operator's status shows the camera's
// FQDN; the admin renames the camera; the operator reaches it by its new
// names and no longer by the old one; a rename to a name another node
// holds fails, saying so, and changes nothing.
func TestAdminRenameReachesPeers(t *testing.T) {
	svc := echoServer(t)
	f := newFleet(t, `{
  "tagOwners": {"tag:operator": [], "tag:camera": []},
  "acls": [{"action": "accept", "src": ["tag:operator"], "dst": ["tag:camera:*"], "proto": "tcp"}],
}`, func(c *assembly.Config) { c.DNSDomain = "plant.example" })
	f.startAgent("cam1", f.authKey("tag:camera"), "", agentOpts{expose: []uint16{svc}})
	op := f.startAgent("op1", f.authKey("tag:operator"), "", agentOpts{})
	waitFor(t, "the operator reaches the camera by its FQDN", func() bool { return op.roundTrip("cam1.plant.example", svc) == nil })
	if out, err := exec.Command(binary(t), "status", "--state-dir", op.Dir).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "op1.plant.example") || !strings.Contains(string(out), "cam1.plant.example") {
		t.Errorf("ward status: %v\n%s", err, out)
	}

	keyFile := filepath.Join(f.Config.DataDir, coordinator.BootstrapKeyFile)
	ward := func(args ...string) (string, error) {
		out, err := exec.Command(binary(t), append([]string{"admin", "--coordinator", f.url(), "--api-key-file", keyFile}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := ward("nodes", "rename", "cam1", "op1"); err == nil || !strings.Contains(out, "taken") {
		t.Errorf("rename to a taken name: %v\n%s", err, out)
	}
	if out, err := ward("nodes", "rename", "cam1", "door-cam"); err != nil || !strings.Contains(out, "dns name: door-cam.plant.example") {
		t.Fatalf("rename: %v\n%s", err, out)
	}
	waitFor(t, "the operator reaches the camera by its new FQDN", func() bool { return op.roundTrip("door-cam.plant.example", svc) == nil })
	if err := op.roundTrip("door-cam", svc); err != nil {
		t.Errorf("by the new short name: %v", err)
	}
	if err := op.roundTrip("cam1.plant.example", svc); err == nil {
		t.Error("the old name still reaches the camera")
	}
	if out, _ := ward("audit", "list", "--action", "node.rename"); !strings.Contains(out, "door-cam") || strings.Count(out, "node.rename") != 1 {
		t.Errorf("audit of the rename:\n%s", out)
	}
}
