package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/internal/pgtest"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/nodetest"
	"github.com/wardnet/ward/wire"
)

// failoverWithin is how soon a killed coordinator's nodes must be on
// another one.
const failoverWithin = 10 * time.Second

// balancer is a tiny TCP load balancer on loopback: each connection goes
// to the first backend that accepts it, as a load balancer whose health
// check took a dead backend out would send it.
type balancer struct {
	ln       net.Listener
	backends []string
	wg       sync.WaitGroup
}

// startBalancer serves on a loopback port until the test ends.
func startBalancer(t *testing.T, backends ...string) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{ln: ln, backends: backends}
	b.wg.Add(1)
	go b.serve()
	t.Cleanup(func() {
		ln.Close()
		b.wg.Wait()
	})
	return b
}

// serve accepts until the listener closes.
func (b *balancer) serve() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		go b.forward(c)
	}
}

// forward pipes c to the first backend that accepts a connection.
func (b *balancer) forward(c net.Conn) {
	defer c.Close()
	for _, addr := range b.backends {
		up, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			continue
		}
		defer up.Close()
		done := make(chan struct{}, 2)
		go func() { io.Copy(up, c); done <- struct{}{} }()
		go func() { io.Copy(c, up); done <- struct{}{} }()
		<-done
		return
	}
}

// freeAddr returns a loopback address no one listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startReplicaProc runs `ward coordinator --db` on addr as its own process.
// keyFile is the refresh tokens' key, which coordinators on one database
// share.
func startReplicaProc(t *testing.T, db, dataDir, keyFile, addr string) *coordProc {
	t.Helper()
	return startCoordProcArgs(t, addr, "--db", db, "--data-dir", dataDir, "--token-key-file", keyFile)
}

// api calls the admin API at base with key and decodes a 2xx answer into
// out; it returns the status (0: no answer).
func api(base, key, method, path string, in, out any) int {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, body)
	req.Header.Set("Authorization", "Bearer "+key)
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if json.NewDecoder(resp.Body).Decode(out) != nil {
			return 0
		}
	}
	return resp.StatusCode
}

// TestFailoverToAnotherReplica: two `ward coordinator` processes on one
// PostgreSQL behind a load balancer; nodes reach the first. Killing it
// (SIGKILL) while an admin writes: its nodes are on the other within 10 s,
// still reach each other and see a node that joins there, and every write
// the API acknowledged is there.
func TestFailoverToAnotherReplica(t *testing.T) {
	db := pgtest.NewDB(t)
	dir := t.TempDir()
	addrs := []string{freeAddr(t), freeAddr(t)}
	keyFile := filepath.Join(dir, "token.key")
	first := startReplicaProc(t, db, filepath.Join(dir, "c0"), keyFile, addrs[0])
	startReplicaProc(t, db, filepath.Join(dir, "c1"), keyFile, addrs[1])
	keyB, err := os.ReadFile(filepath.Join(dir, "c0", coordinator.BootstrapKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	apiKey := strings.TrimSpace(string(keyB))
	lb := "http://" + startBalancer(t, addrs...).ln.Addr().String()
	second := "http://" + addrs[1]
	policy := `{"tagOwners": {"tag:camera": [], "tag:sensor": []},
		"acls": [{"action": "accept", "src": ["tag:sensor"], "dst": ["tag:camera:*"]}]}`
	if code := api(lb, apiKey, "PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: policy, ParentID: -1}, nil); code != 200 {
		t.Fatalf("set policy: %d", code)
	}
	newKey := func(tag string) (wire.AuthKey, bool) {
		var k wire.AuthKey
		ok := api(lb, apiKey, "POST", wire.PathAdminAuthKeys, wire.CreateAuthKeyRequest{Tags: []string{tag}}, &k) == 201
		return k, ok
	}
	echoPort := echoServer(t)
	start := func(name, tag string, expose ...uint16) *agent {
		k, ok := newKey(tag)
		if !ok {
			t.Fatalf("auth key for %s", name)
		}
		return &agent{name: name, Agent: nodetest.StartAgent(t, node.AgentConfig{StateDir: filepath.Join(dir, name),
			Coordinator: lb, AuthKey: k.Key, AllowInsecureHTTP: true, Hostname: name, Version: "e2e",
			Expose: expose, Logger: nodetest.Logger(t, name)})}
	}
	cam := start("cam", "tag:camera", echoPort)
	sensor := start("sensor", "tag:sensor")
	waitFor(t, "sensor reaches the camera", func() bool { return sensor.roundTrip("cam", echoPort) == nil })

	// An admin writes through the balancer while the first replica dies.
	var mu sync.Mutex
	var acked []int64
	stop := make(chan struct{})
	writer := make(chan struct{})
	go func() {
		defer close(writer)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if k, ok := newKey("tag:camera"); ok {
				mu.Lock()
				acked = append(acked, k.ID)
				mu.Unlock()
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	killed := time.Now()
	first.kill()

	waitFor(t, "both nodes online on the second replica", func() bool {
		var nodes []wire.AdminNode
		if api(second, apiKey, "GET", wire.PathAdminNodes, nil, &nodes) != 200 || len(nodes) != 2 {
			return false
		}
		return nodes[0].Online && nodes[1].Online
	})
	took := time.Since(killed)
	t.Logf("nodes on the second replica %v after the kill", took)
	if took > failoverWithin {
		t.Errorf("failover took %v, want at most %v", took, failoverWithin)
	}
	close(stop)
	<-writer

	// The survivors still reach each other, and follow the second replica.
	waitFor(t, "sensor reaches the camera after failover", func() bool { return sensor.roundTrip("cam", echoPort) == nil })
	late := start("late", "tag:sensor")
	waitFor(t, "a node joining after the failover reaches the camera", func() bool { return late.roundTrip("cam", echoPort) == nil })
	waitFor(t, "the camera's map lists the late node", func() bool { return cam.hasPeer("late") })

	var keys []wire.AuthKey
	if code := api(second, apiKey, "GET", wire.PathAdminAuthKeys, nil, &keys); code != 200 {
		t.Fatalf("list keys: %d", code)
	}
	have := map[int64]bool{}
	for _, k := range keys {
		have[k.ID] = true
	}
	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal(errors.New("no write was acknowledged around the kill"))
	}
	for _, id := range acked {
		if !have[id] {
			t.Errorf("acknowledged auth key %d lost with the replica", id)
		}
	}
	t.Logf("%d auth keys acknowledged around the kill, all present", len(acked))
}
