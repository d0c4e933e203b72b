// Package httpproxy is a small HTTP proxy server into the overlay. A
// client sends "CONNECT host:port HTTP/1.1" (any TCP protocol, https
// included): the server dials host:port through a caller-supplied function
// and, on success, answers 200 and relays bytes both ways. A client may
// also send a plain request for an absolute http:// URL ("GET
// http://cam1:8000/ HTTP/1.1", what `curl -x` and a browser send for
// http:// through a proxy): the server dials the URL's host and port,
// forwards the request there in origin form with "Connection: close", and
// relays the answer until the device closes. It asks for no
// authentication: it is meant for a loopback address, like node/socks5.
//
// A dial the policy does not grant is answered 403 and one the device
// refuses 502, each with the reason as a one-line text body.
package httpproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/node/splice"
)

// Server serves HTTP proxy clients, CONNECT and plain http:// requests;
// its Proxy's Dial is required.
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
	req, host, port, err := readRequest(br)
	if err != nil {
		s.Log().Debug("http proxy request", "err", err)
		reply(c, statusOf(err), err.Error())
		return
	}
	target, err := s.Connect(ctx, "http proxy", host, port)
	if err != nil {
		c.SetDeadline(time.Now().Add(s.Timeout())) // the dial may have used it all
		reply(c, statusOf(err), fmt.Sprintf("%s: %v", net.JoinHostPort(host, strconv.Itoa(int(port))), err))
		return
	}
	defer target.Close()
	stop := context.AfterFunc(ctx, func() { target.Close() })
	defer stop()
	c.SetDeadline(time.Time{})
	if req.Method != http.MethodConnect {
		forward(c, req, target)
		return
	}
	if _, err := fmt.Fprint(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	s.Relay(ctx, "http proxy", &splice.BufferedConn{Conn: c, R: br}, target, net.JoinHostPort(host, strconv.Itoa(int(port))))
}

// forward sends req, a plain proxy request, to target in origin form and
// copies the answer back until target closes its side. One request per
// connection: the request asks the device to close after answering.
func forward(c net.Conn, req *http.Request, target net.Conn) {
	for _, h := range strings.Split(req.Header.Get("Connection"), ",") {
		if h = strings.TrimSpace(h); h != "" {
			req.Header.Del(h)
		}
	}
	for _, h := range hopHeaders {
		req.Header.Del(h)
	}
	req.Close = true
	if err := req.Write(target); err != nil {
		return
	}
	_, _ = io.Copy(c, target)
}

// hopHeaders concern one hop (RFC 9110 §7.6.1) and are not forwarded.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authorization", "Proxy-Authenticate",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// Request errors.
var (
	errScheme = errors.New("only http:// URLs are proxied as plain requests; https and other protocols go through CONNECT (as curl and browsers do by themselves)")
	errTarget = errors.New("want CONNECT host:port, or an absolute http:// URL")
)

// readRequest reads one request and returns it with its target: a CONNECT
// request's host:port, or a plain request's absolute http:// URL's host
// and port (80 when it names none).
func readRequest(br *bufio.Reader) (*http.Request, string, uint16, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, "", 0, fmt.Errorf("%w: %w", errTarget, err)
	}
	hostport := req.RequestURI
	if req.Method != http.MethodConnect {
		if !req.URL.IsAbs() || req.URL.Host == "" {
			return nil, "", 0, errTarget
		}
		if req.URL.Scheme != "http" {
			return nil, "", 0, errScheme
		}
		hostport = req.URL.Host
		if req.URL.Port() == "" {
			hostport = net.JoinHostPort(req.URL.Hostname(), "80")
		}
	}
	host, ps, err := net.SplitHostPort(hostport)
	if err != nil || host == "" {
		return nil, "", 0, errTarget
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || port == 0 {
		return nil, "", 0, errTarget
	}
	return req, host, uint16(port), nil
}

// statusOf maps a request or dial error to an HTTP status.
func statusOf(err error) int {
	if errors.Is(err, errTarget) || errors.Is(err, errScheme) {
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
