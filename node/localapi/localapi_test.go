package localapi

import (
	"context"
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

func startAPI(t *testing.T) *Client {
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
	go func() { done <- Serve(ctx, l, fakeBackend{}, nil) }()
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
