package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// procFleet is a coordinator process and node processes, for figures.
type procFleet struct {
	t      testing.TB
	dir    string
	addr   string
	apiKey string
	nodes  []*exec.Cmd
}

func newProcFleet(b testing.TB, policy string) *procFleet {
	return newProcFleetBin(b, policy, binary(b))
}

// newProcFleetBin is newProcFleet with the coordinator on bin (the
// overlay bench's baseline runs an older build's coordinator: the
// protocol differs across versions).
func newProcFleetBin(b testing.TB, policy, bin string) *procFleet {
	dir := b.TempDir()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	t := b
	pf := filepath.Join(dir, "policy.hujson")
	os.WriteFile(pf, []byte(policy), 0o600)
	cmd := exec.Command(bin, "coordinator", "--dev", "--data-dir", filepath.Join(dir, "coord"), "--listen", addr, "--policy", pf, "--metrics-listen", "")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	pollTB(b, "coordinator", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	key, _ := os.ReadFile(filepath.Join(dir, "coord", coordinator.BootstrapKeyFile))
	return &procFleet{t: b, dir: dir, addr: addr, apiKey: strings.TrimSpace(string(key))}
}

func pollTB(b testing.TB, what string, cond func() bool) {
	start := time.Now()
	for time.Since(start) < 30*time.Second {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("timed out waiting for %s", what)
}

func (p *procFleet) authKey(tags ...string) string {
	body, _ := json.Marshal(wire.CreateAuthKeyRequest{Tags: tags, Reusable: true})
	req, _ := http.NewRequest("POST", "http://"+p.addr+wire.PathAdminAuthKeys, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+p.apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var k wire.AuthKey
	json.NewDecoder(resp.Body).Decode(&k)
	return k.Key
}

// startNode starts a `ward node` process and returns its state dir.
func (p *procFleet) startNode(name, key string, expose ...uint16) (string, *exec.Cmd) {
	dir := filepath.Join(p.dir, name)
	args := []string{"node", "--coordinator", "http://" + p.addr, "--dev-insecure-http", "--state-dir", dir, "--hostname", name}
	if len(expose) > 0 {
		var ps []string
		for _, e := range expose {
			ps = append(ps, strconv.Itoa(int(e)))
		}
		args = append(args, "--expose", strings.Join(ps, ","))
	}
	cmd := exec.Command(binary(p.t), args...)
	cmd.Env = append(os.Environ(), "WARD_AUTH_KEY="+key)
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	p.nodes = append(p.nodes, cmd)
	return dir, cmd
}

func nodeStatus(dir string) (localapi.Status, error) {
	return nodeStatusBin(wardBin, dir)
}

// nodeStatusBin is nodeStatus through bin's `ward status`.
func nodeStatusBin(bin, dir string) (localapi.Status, error) {
	out, err := exec.Command(bin, "status", "--json", "--state-dir", dir).Output()
	if err != nil {
		return localapi.Status{}, err
	}
	var st localapi.Status
	return st, json.Unmarshal(out, &st)
}

func rssKB(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}

const meshPolicy = `{"tagOwners": {"tag:bench": []}, "acls": [{"action": "accept", "src": ["tag:bench"], "dst": ["tag:bench:*"]}]}`

// BenchmarkNodeIdleRSS reports the resident memory of one idle `ward node`
// process with 10 peers, and the size of the ward binary.
func BenchmarkNodeIdleRSS(b *testing.B) {
	for range b.N {
		p := newProcFleet(b, meshPolicy)
		key := p.authKey("tag:bench")
		var dirs []string
		for i := range 11 {
			d, _ := p.startNode(fmt.Sprintf("n%d", i), key)
			dirs = append(dirs, d)
		}
		pollTB(b, "10 peers on n0", func() bool {
			st, err := nodeStatus(dirs[0])
			return err == nil && len(st.Peers) == 10
		})
		time.Sleep(2 * time.Second) // let it settle: idle means idle
		kb, err := rssKB(p.nodes[0].Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(kb)/1024, "idle-RSS-MB")
		if fi, err := os.Stat(wardBin); err == nil {
			b.ReportMetric(float64(fi.Size())/(1<<20), "binary-MB")
		}
	}
}

// BenchmarkNodeStartToFirstByte reports the time from starting a `ward
// node` process (with a pre-auth key) to the first byte echoed through the
// overlay from a peer to a service it exposes.
func BenchmarkNodeStartToFirstByte(b *testing.B) {
	for range b.N {
		p := newProcFleet(b, meshPolicy)
		key := p.authKey("tag:bench")
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		port := uint16(ln.Addr().(*net.TCPAddr).Port)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() { defer c.Close(); buf := make([]byte, 64); n, _ := c.Read(buf); c.Write(buf[:n]) }()
			}
		}()
		clientDir, _ := p.startNode("client", key)
		pollTB(b, "client up", func() bool { st, err := nodeStatus(clientDir); return err == nil && st.Connected })
		start := time.Now()
		p.startNode("device", key, port)
		pollTB(b, "first byte through the overlay", func() bool {
			nc := exec.Command(wardBin, "nc", "--state-dir", clientDir, "device", strconv.Itoa(int(port)))
			nc.Stdin = strings.NewReader("x")
			out, err := nc.Output()
			return err == nil && bytes.Contains(out, []byte("x"))
		})
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms-to-first-byte")
		ln.Close()
	}
}
