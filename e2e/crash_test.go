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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/wire"
)

var (
	buildOnce sync.Once
	wardBin   string
	buildErr  error
)

// binary builds cmd/ward once per test process.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ward-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		wardBin = filepath.Join(dir, "ward")
		out, err := exec.Command("go", "build", "-o", wardBin, "../cmd/ward").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return wardBin
}

// coordProc is a coordinator running as its own process.
type coordProc struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
}

func startCoordProc(t *testing.T, dataDir, addr string) *coordProc {
	t.Helper()
	return startCoordProcArgs(t, addr, "--data-dir", dataDir)
}

// startCoordProcArgs starts `ward coordinator --dev` on addr with extra
// flags, and waits until it answers.
func startCoordProcArgs(t *testing.T, addr string, flags ...string) *coordProc {
	t.Helper()
	args := append([]string{"coordinator", "--dev", "--listen", addr, "--metrics-listen", ""}, flags...)
	cmd := exec.Command(binary(t), args...)
	logs := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &coordProc{cmd: cmd, logs: logs}
	t.Cleanup(func() { p.kill() })
	waitFor(t, "coordinator process answers", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

func (p *coordProc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

// Every pre-auth key the API acknowledged before a kill -9 is still there
// afterwards, and so is the policy.
func TestCoordinatorDataSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	p := startCoordProc(t, dir, addr)
	keyB, _ := os.ReadFile(filepath.Join(dir, coordinator.BootstrapKeyFile))
	apiKey := strings.TrimSpace(string(keyB))
	// The default policy has no tags, so use a policy with one.
	policy := `{"tagOwners": {"tag:camera": []}}`
	b, _ := json.Marshal(wire.SetPolicyRequest{Text: policy, ParentID: -1})
	req, _ := http.NewRequest("PUT", "http://"+addr+wire.PathAdminPolicy, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("set policy: %v %v", err, resp)
	}
	post := func() (int64, bool) {
		b, _ := json.Marshal(wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}, Reusable: true})
		req, _ := http.NewRequest("POST", "http://"+addr+wire.PathAdminAuthKeys, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		var k wire.AuthKey
		if resp.StatusCode != 201 || json.NewDecoder(resp.Body).Decode(&k) != nil {
			return 0, false
		}
		return k.ID, true
	}

	// Create keys from a writer goroutine; kill -9 the coordinator mid-run.
	var acked []int64
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if id, ok := post(); ok {
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}
	}()
	time.Sleep(400 * time.Millisecond)
	p.kill()
	close(stop)
	<-done
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n == 0 {
		t.Fatal("no key was acknowledged before the kill")
	}
	startCoordProc(t, dir, addr)
	req, _ = http.NewRequest("GET", "http://"+addr+wire.PathAdminAuthKeys, nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var keys []wire.AuthKey
	json.NewDecoder(resp.Body).Decode(&keys)
	have := map[int64]bool{}
	for _, k := range keys {
		have[k.ID] = true
	}
	for _, id := range acked {
		if !have[id] {
			t.Errorf("acknowledged key %d lost in the crash", id)
		}
	}
	t.Logf("%d keys acknowledged before kill -9, all %d present after restart", n, len(keys))
}
