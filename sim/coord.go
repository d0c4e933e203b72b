package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// child is a `ward coordinator --dev` the sim started: its own process,
// so the figures read from /proc are the coordinator's alone.
type child struct {
	cmd    *exec.Cmd
	dir    string
	binary string
	// api and met are the listeners' addresses, kept across a restart;
	// adm the admin listener's, when asked for ("" otherwise).
	api, met, adm string
	url           string
	// adminURL is where the admin API is served: url, or the admin
	// listener's.
	adminURL string
	metrics  string
	apiKey   string
	logPath  string
	done     chan error
	// extra are more flags for every start of the coordinator.
	extra []string
}

// startChild starts the coordinator from binary with policy, in a fresh
// temporary directory, and waits until it answers; with adminListener, it
// serves the admin API on a listener of its own.
func startChild(ctx context.Context, binary, policy string, adminListener bool, extra ...string) (*child, error) {
	dir, err := os.MkdirTemp("", "ward-sim-")
	if err != nil {
		return nil, fmt.Errorf("make data dir: %w", err)
	}
	c := &child{dir: dir, binary: binary, logPath: filepath.Join(dir, "coordinator.log"), extra: extra}
	if c.api, err = freePort(); err == nil {
		c.met, err = freePort()
	}
	if err == nil && adminListener {
		c.adm, err = freePort()
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "policy.hujson"), []byte(policy), 0o600)
	}
	if err == nil {
		err = c.start(ctx)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// start starts the coordinator on the child's data directory and
// addresses (a restart keeps both) and waits until it answers.
func (c *child) start(ctx context.Context) error {
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open coordinator log: %w", err)
	}
	defer logf.Close()
	c.url, c.metrics, c.done = "http://"+c.api, "http://"+c.met, make(chan error, 1)
	args := []string{"coordinator", "--dev", "--listen", c.api, "--metrics-listen", c.met,
		"--stun-listen", "", "--pprof", "--data-dir", filepath.Join(c.dir, "data"), "--policy", filepath.Join(c.dir, "policy.hujson")}
	c.adminURL = c.url
	if c.adm != "" {
		args = append(args, "--admin-listen", c.adm)
		c.adminURL = "http://" + c.adm
	}
	args = append(args, c.extra...)
	c.cmd = exec.Command(c.binary, args...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("start coordinator: %w", err)
	}
	cmd, done := c.cmd, c.done
	go func() { done <- cmd.Wait() }()
	return c.waitReady(ctx)
}

// waitReady polls /healthz and reads the admin API key the coordinator
// writes on its first start.
func (c *child) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-c.done:
			return fmt.Errorf("coordinator exited: %v; log:\n%s", err, c.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(c.url + "/healthz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		key, err := os.ReadFile(filepath.Join(c.dir, "data", "admin-api-key"))
		if err == nil && resp.StatusCode == http.StatusOK {
			c.apiKey = strings.TrimSpace(string(key))
			return nil
		}
	}
	return fmt.Errorf("coordinator not ready after 60 s; log:\n%s", c.logTail())
}

// logTail is the end of the coordinator's log, for an error.
func (c *child) logTail() string {
	b, _ := os.ReadFile(c.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stop ends the coordinator (SIGTERM, then SIGKILL after 10 s) and
// removes its directory.
func (c *child) stop() {
	c.end(syscall.SIGTERM, 10*time.Second)
	os.RemoveAll(c.dir)
}

// end sends the coordinator sig and waits for it to exit, killing it
// after grace; it returns how long it took to exit.
func (c *child) end(sig syscall.Signal, grace time.Duration) time.Duration {
	t0 := time.Now()
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(grace):
		c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
	return time.Since(t0)
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// procStat is what /proc says of a process at one moment.
type procStat struct {
	// cpu is user + system time.
	cpu time.Duration
	// rss and hwm (peak) are resident memory in bytes.
	rss, hwm int64
}

// clockTick is the kernel's USER_HZ, 100 on every Linux Ward runs on.
const clockTick = 100

// readProc reads process pid's CPU time and memory from /proc.
func readProc(pid int) (procStat, error) {
	var ps procStat
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, fmt.Errorf("read /proc stat of %d: %w", pid, err)
	}
	// The command name may hold spaces: the fields start after its ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return ps, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return ps, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14, utime
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15, stime
	ps.cpu = time.Duration(ut+st) * time.Second / clockTick
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, fmt.Errorf("read /proc status of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			ps.rss = kb << 10
		case "VmHWM":
			ps.hwm = kb << 10
		}
	}
	return ps, nil
}
