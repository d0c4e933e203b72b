package nodetest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/client"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/node/localapi"
)

// daemonWait bounds the wait for a started daemon's socket.
const daemonWait = 30 * time.Second

// running is a daemon's Run on its own goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	// err is Run's result, set before done is closed.
	err error
}

func run(fn func(context.Context) error) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = fn(ctx)
	}()
	return r
}

// Done is closed when the daemon's Run has returned (by itself, or after
// Stop); Stop then returns what it returned.
func (r *running) Done() <-chan struct{} { return r.done }

// Stop stops the daemon, waits for its Run and returns what Run returned;
// it may be called again, and returns the same.
func (r *running) Stop() error {
	r.once.Do(r.cancel)
	<-r.done
	return r.err
}

// Agent is a device's node agent running in this process.
type Agent struct {
	*node.Agent
	// Dir is its state directory.
	Dir string
	*running
}

// StartAgent runs a node agent with cfg (a StateDir in a temporary
// directory when it has none) until the test ends or Stop. It does not
// wait for the registration.
func StartAgent(t testing.TB, cfg node.AgentConfig) *Agent {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = Logger(t, cfg.Hostname)
	}
	a, err := node.NewAgent(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ag := &Agent{Agent: a, Dir: cfg.StateDir, running: run(a.Run)}
	t.Cleanup(func() { ag.Stop() })
	return ag
}

// Laptop is a person's desktop client daemon running in this process,
// with the local API client the CLI uses.
type Laptop struct {
	Daemon *client.Daemon
	// Dir is its state directory.
	Dir string
	// API talks to it as `ward up` and `ward status` do.
	API *localapi.Client
	// SOCKS5 and HTTPProxy are the proxies' bound addresses; empty when
	// off.
	SOCKS5, HTTPProxy string
	*running
}

// StartLaptop runs a desktop client daemon with cfg (a StateDir of its
// own, short enough for a unix socket, when it has none) until the test
// ends or Stop, and waits until its local API answers.
func StartLaptop(t testing.TB, cfg client.Config) *Laptop {
	t.Helper()
	if cfg.StateDir == "" {
		dir, err := os.MkdirTemp("", "wardc") // unix socket paths are short
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		cfg.StateDir = dir
	}
	if cfg.Logger == nil {
		cfg.Logger = Logger(t, cfg.Hostname)
	}
	d, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := &Laptop{Daemon: d, Dir: cfg.StateDir, API: &localapi.Client{Socket: filepath.Join(cfg.StateDir, localapi.SocketName)},
		running: run(d.Run)}
	t.Cleanup(func() { l.Stop() })
	var st localapi.Status
	Eventually(t, daemonWait, cfg.Hostname+"'s client daemon", func() bool {
		st, err = l.API.Status(context.Background())
		return err == nil && st.Person != nil
	})
	l.SOCKS5, l.HTTPProxy = st.Person.SOCKS5, st.Person.HTTPProxy
	return l
}
