// Package httpproxy is a small HTTP CONNECT proxy server: a client sends
// "CONNECT host:port HTTP/1.1", the server dials host:port through a
// caller-supplied function and, on success, answers 200 and relays bytes
// both ways. It speaks only CONNECT and asks for no authentication: it is
// meant for a loopback address, like node/socks5.
package httpproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/node/splice"
)

// Server serves HTTP CONNECT clients; its Proxy's Dial is required.
type Server struct {
	splice.Proxy
}

// Serve accepts clients on l until ctx is done or l fails, then closes l
// and every client connection and returns once all its goroutines have.
// It returns nil when ctx ended it.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return s.ServeClients(ctx, l, "http proxy client", s.handle)
}

// handle serves one client until its connection ends or ctx is done.
func (s *Server) handle(ctx context.Context, c net.Conn) {
	br := bufio.NewReader(c)
	host, port, err := readConnect(br)
	if err != nil {
		s.Log().Debug("http proxy request", "err", err)
		reply(c, statusOf(err), err.Error())
		return
	}
	target, err := s.Connect(ctx, "http proxy", host, port)
	if err != nil {
		c.SetDeadline(time.Now().Add(s.Timeout())) // the dial may have used it all
		reply(c, statusOf(err), err.Error())
		return
	}
	defer target.Close()
	if _, err := fmt.Fprint(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	splice.Join(&splice.BufferedConn{Conn: c, R: br}, target)
}

// Request errors.
var (
	errMethod = errors.New("only CONNECT is supported: this proxy reaches the overlay, not the web")
	errTarget = errors.New("want CONNECT host:port")
)

// readConnect reads one request and returns its CONNECT target.
func readConnect(br *bufio.Reader) (string, uint16, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %w", errTarget, err)
	}
	if req.Method != http.MethodConnect {
		return "", 0, errMethod
	}
	host, ps, err := net.SplitHostPort(req.RequestURI)
	if err != nil || host == "" {
		return "", 0, errTarget
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || port == 0 {
		return "", 0, errTarget
	}
	return host, uint16(port), nil
}

// statusOf maps a request or dial error to an HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, errTarget):
		return http.StatusBadRequest
	}
	return localapi.StatusOf(err)
}

// reply sends an error response with a one-line text body.
func reply(c net.Conn, code int, msg string) {
	body := msg + "\n"
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
}
