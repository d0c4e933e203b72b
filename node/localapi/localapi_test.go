package localapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeBackend answers for one peer, "cam", whose port 7 echoes.
type fakeBackend struct{}

func (fakeBackend) Status() Status { return Status{Self: Self{Name: "op"}, Connected: true} }

func (fakeBackend) Ping(ctx context.Context, peer string) (PingResult, error) {
	switch peer {
	case "cam":
		return PingResult{Peer: "cam", Addr: netip.MustParseAddr("100.64.0.1"), RTT: time.Millisecond, Path: "direct"}, nil
	case "slow":
		<-ctx.Done()
		return PingResult{}, fmt.Errorf("ping slow: %w", ctx.Err())
	}
	return PingResult{}, fmt.Errorf("resolve %q: %w", peer, ErrNoPeer)
}

func (fakeBackend) DialPeer(ctx context.Context, peer string, port uint16) (net.Conn, error) {
	if peer == "cam" && port == 9 {
		return nil, fmt.Errorf("%w (you may reach cam on tcp 7)", ErrNotGranted)
	}
	if peer != "cam" || port != 7 {
		return nil, fmt.Errorf("resolve %q: %w", peer, ErrNoPeer)
	}
	a, b := net.Pipe()
	go func() {
		defer b.Close()
		io.Copy(b, b)
	}()
	return a, nil
}

// fakeDesktop is a desktop client's backend: fakeBackend plus the login
// routes, with one login, "L1", that succeeds.
type fakeDesktop struct {
	fakeBackend
	quit chan struct{}
}

func (fakeDesktop) StartLogin(_ context.Context, req LoginRequest) (LoginStart, error) {
	if req.Coordinator == "https://down.example" {
		return LoginStart{}, errors.New("start login: coordinator unreachable")
	}
	return LoginStart{ID: "L1", URL: "https://coord.example/l/L1", Code: "BCDF-GHJK"}, nil
}

func (fakeDesktop) WaitLogin(_ context.Context, id string) (LoginResult, error) {
	if id != "L1" {
		return LoginResult{}, ErrUnknownLogin
	}
	return LoginResult{User: "alice@example.com", Ready: true}, nil
}

func (fakeDesktop) Logout(context.Context) LogoutResult { return LogoutResult{WasLoggedIn: true} }

func (d fakeDesktop) Quit() { close(d.quit) }

func startAPI(t *testing.T) *Client {
	t.Helper()
	return startBackend(t, fakeBackend{})
}

// startBackend serves b on a socket in a temporary directory.
func startBackend(t *testing.T, b Backend) *Client {
	t.Helper()
	path := filepath.Join(t.TempDir(), SocketName)
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, b, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &Client{Socket: path}
}

func TestStatusAndPing(t *testing.T) {
	c := startAPI(t)
	ctx := context.Background()
	st, err := c.Status(ctx)
	if err != nil || st.Self.Name != "op" || !st.Connected {
		t.Fatalf("status %+v, %v", st, err)
	}
	tests := []struct {
		peer    string
		timeout time.Duration
		wantErr string
	}{
		{"cam", 0, ""},
		{"nobody", 0, "no such peer"},
		{"slow", 50 * time.Millisecond, "deadline exceeded"},
	}
	for _, tt := range tests {
		res, err := c.Ping(ctx, tt.peer, tt.timeout)
		if tt.wantErr == "" {
			if err != nil || res.RTT != time.Millisecond {
				t.Errorf("ping %s: %+v, %v", tt.peer, res, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ping %s: err = %v, want %q", tt.peer, err, tt.wantErr)
		}
	}
}

func TestDial(t *testing.T) {
	c := startAPI(t)
	ctx := context.Background()
	conn, err := c.Dial(ctx, "cam", 7)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	if _, err := c.Dial(ctx, "cam", 8); err == nil || !strings.Contains(err.Error(), "no such peer") {
		t.Errorf("dial of a closed port: %v", err)
	}
	if _, err := c.Dial(ctx, "cam", 9); err == nil || err.Error() != "dial cam:9: not granted by the policy (you may reach cam on tcp 7)" {
		t.Errorf("dial of a port not granted: %v", err)
	}
	if got := StatusOf(fmt.Errorf("x: %w", ErrNotGranted)); got != 403 {
		t.Errorf("status of a port not granted = %d, want 403", got)
	}
}

func TestListenRefusesRunningAgent(t *testing.T) {
	path := filepath.Join(t.TempDir(), SocketName)
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := Listen(path); err == nil {
		t.Fatal("second listener on a live socket")
	}
}

// TestLoginRoutes: a desktop client's backend gets the login routes on
// the one socket, read by the one client; a device's agent answers them
// with a 404 that says what it is.
func TestLoginRoutes(t *testing.T) {
	ctx := context.Background()
	d := fakeDesktop{quit: make(chan struct{})}
	c := startBackend(t, d)
	start, err := c.Login(ctx, LoginRequest{Force: true})
	if err != nil || start.ID != "L1" || start.Code != "BCDF-GHJK" {
		t.Fatalf("login: %+v, %v", start, err)
	}
	if _, err := c.Login(ctx, LoginRequest{Coordinator: "https://down.example"}); err == nil ||
		err.Error() != "start login: coordinator unreachable" {
		t.Errorf("refused login: %v, want the daemon's message alone", err)
	}
	if res, err := c.WaitLogin(ctx, "L1"); err != nil || res.User != "alice@example.com" {
		t.Errorf("wait: %+v, %v", res, err)
	}
	if _, err := c.WaitLogin(ctx, "L2"); err == nil || err.Error() != ErrUnknownLogin.Error() {
		t.Errorf("wait for an unknown login: %v", err)
	}
	if res, err := c.Logout(ctx); err != nil || !res.WasLoggedIn {
		t.Errorf("logout: %+v, %v", res, err)
	}
	if err := c.Quit(ctx); err != nil {
		t.Errorf("quit: %v", err)
	}
	select {
	case <-d.quit:
	case <-time.After(10 * time.Second):
		t.Error("quit did not reach the daemon")
	}

	agent := startAPI(t)
	for name, call := range map[string]func() error{
		"login":  func() error { _, err := agent.Login(ctx, LoginRequest{}); return err },
		"logout": func() error { _, err := agent.Logout(ctx); return err },
		"quit":   func() error { return agent.Quit(ctx) },
	} {
		if err := call(); err == nil || !strings.Contains(err.Error(), "node agent") {
			t.Errorf("%s on a device's agent: %v, want the agent to say what it is", name, err)
		}
	}
}

// TestNoDaemon: a socket nobody serves reads as "no daemon", not as an
// HTTP failure.
func TestNoDaemon(t *testing.T) {
	c := &Client{Socket: filepath.Join(t.TempDir(), SocketName)}
	_, err := c.Status(context.Background())
	if !errors.Is(err, ErrNoDaemon) || strings.Contains(err.Error(), "http://") {
		t.Fatalf("status with no daemon: %v", err)
	}
}
