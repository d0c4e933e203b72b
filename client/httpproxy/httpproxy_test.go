package httpproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/node/splice"
)

// start serves a proxy whose dial reaches only "cam:7" (an echo).
func start(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Proxy: splice.Proxy{Dial: func(ctx context.Context, host string, port uint16) (net.Conn, error) {
		if host != "cam" || port != 7 {
			return nil, fmt.Errorf("resolve %q: %w", host, localapi.ErrNoPeer)
		}
		a, b := net.Pipe()
		go func() {
			defer b.Close()
			io.Copy(b, b)
		}()
		return a, nil
	}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return l.Addr().String()
}

func TestConnect(t *testing.T) {
	addr := start(t)
	tests := []struct {
		name, request string
		want          int
	}{
		{"granted", "CONNECT cam:7 HTTP/1.1\r\nHost: cam:7\r\n\r\n", 200},
		{"unknown peer", "CONNECT nope:7 HTTP/1.1\r\nHost: nope:7\r\n\r\n", 404},
		{"not connect", "GET http://cam/ HTTP/1.1\r\nHost: cam\r\n\r\n", 405},
		{"no port", "CONNECT cam HTTP/1.1\r\nHost: cam\r\n\r\n", 400},
		{"garbage", "\x05\x01\x00\r\n\r\n", 400},
	}
	for _, tt := range tests {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, tt.request)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != tt.want {
			t.Errorf("%s: %v, %v; want %d", tt.name, resp, err, tt.want)
			c.Close()
			continue
		}
		if tt.want == 200 {
			io.WriteString(c, "ping")
			buf := make([]byte, 4)
			if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
				t.Errorf("%s: echo %q, %v", tt.name, buf, err)
			}
		}
		c.Close()
	}
}
