package httpproxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/node/splice"
)

// start serves a proxy whose dial reaches "cam:7" (an echo) and "web:80"
// (a web server that records the request it got in seen), refuses
// "cam:9" as not granted, and knows no other peer.
func start(t *testing.T, seen chan<- *http.Request) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Proxy: splice.Proxy{Dial: func(ctx context.Context, host string, port uint16) (net.Conn, error) {
		a, b := net.Pipe()
		switch {
		case host == "cam" && port == 7:
			go func() {
				defer b.Close()
				io.Copy(b, b)
			}()
		case host == "web" && port == 80:
			go serveOne(b, seen)
		case host == "cam" && port == 9:
			return nil, fmt.Errorf("%w (you may reach cam on tcp 7)", localapi.ErrNotGranted)
		default:
			return nil, fmt.Errorf("resolve %q: %w", host, localapi.ErrNoPeer)
		}
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

// serveOne answers one request on c with "hello" and closes c.
func serveOne(c net.Conn, seen chan<- *http.Request) {
	defer c.Close()
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		return
	}
	seen <- req
	io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
}

// send writes request to the proxy and reads the answer, and its body
// unless it opens a tunnel.
func send(t *testing.T, addr, request string) (*http.Response, string, net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, request)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%q: %v", request, err)
	}
	body := ""
	if !strings.HasPrefix(request, "CONNECT") || resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
	}
	return resp, body, c, br
}

func TestConnect(t *testing.T) {
	addr := start(t, nil)
	tests := []struct {
		name, request string
		want          int
		body          string
	}{
		{"granted", "CONNECT cam:7 HTTP/1.1\r\nHost: cam:7\r\n\r\n", 200, ""},
		{"unknown peer", "CONNECT nope:7 HTTP/1.1\r\nHost: nope:7\r\n\r\n", 404, "nope:7: resolve \"nope\": no such peer\n"},
		{"not granted", "CONNECT cam:9 HTTP/1.1\r\nHost: cam:9\r\n\r\n", 403, "cam:9: not granted by the policy (you may reach cam on tcp 7)\n"},
		{"no port", "CONNECT cam HTTP/1.1\r\nHost: cam\r\n\r\n", 400, ""},
		{"garbage", "\x05\x01\x00\r\n\r\n", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body, c, br := send(t, addr, tt.request)
			if resp.StatusCode != tt.want || tt.body != "" && body != tt.body {
				t.Fatalf("%d %q; want %d %q", resp.StatusCode, body, tt.want, tt.body)
			}
			if tt.want == 200 {
				io.WriteString(c, "ping")
				buf := make([]byte, 4)
				if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping" {
					t.Errorf("echo %q, %v", buf, err)
				}
			}
		})
	}
}

// TestPlainHTTPRequestIsProxied pins what `curl -x` needs: a plain GET of
// an absolute http:// URL reaches the device in origin form, without the
// proxy's own headers, and its answer comes back; other schemes and
// relative URLs are refused with a reason.
func TestPlainHTTPRequestIsProxied(t *testing.T) {
	seen := make(chan *http.Request, 1)
	addr := start(t, seen)
	resp, body, _, _ := send(t, addr, "GET http://web/status?x=1 HTTP/1.1\r\nHost: web\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: secret\r\nUser-Agent: curl\r\n\r\n")
	if resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("plain GET: %d %q", resp.StatusCode, body)
	}
	req := <-seen
	if req.RequestURI != "/status?x=1" || req.Host != "web" || req.Header.Get("User-Agent") != "curl" || !req.Close {
		t.Errorf("the device got %s %s (host %s, close %v, headers %v)", req.Method, req.RequestURI, req.Host, req.Close, req.Header)
	}
	for _, h := range []string{"Proxy-Connection", "Proxy-Authorization"} {
		if req.Header.Get(h) != "" {
			t.Errorf("the proxy forwarded %s", h)
		}
	}
	for _, tt := range []struct {
		request, body string
		want          int
	}{
		{"GET http://cam:9/ HTTP/1.1\r\nHost: cam:9\r\n\r\n", "cam:9: not granted by the policy (you may reach cam on tcp 7)\n", 403},
		{"GET https://web/ HTTP/1.1\r\nHost: web\r\n\r\n", "", 400},
		{"GET /relative HTTP/1.1\r\nHost: web\r\n\r\n", "", 400},
	} {
		resp, body, _, _ := send(t, addr, tt.request)
		if resp.StatusCode != tt.want || tt.body != "" && body != tt.body {
			t.Errorf("%q: %d %q; want %d %q", tt.request, resp.StatusCode, body, tt.want, tt.body)
		}
	}
}
