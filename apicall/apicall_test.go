package apicall

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestDo: one request path for every client: the body and token go out,
// a JSON answer comes back, and each kind of failure comes back typed.
func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"bad token"}`))
			return
		}
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte(`{"answer":42}`))
		case "/policy":
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid policy","problems":["p:1:1: unknown group"]}`))
		case "/busy":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		case "/broken":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("storage unavailable\n"))
		case "/garbage":
			w.Write([]byte(`{"answer":`))
		case "/huge":
			w.Write([]byte(`{"answer":"` + strings.Repeat("x", 100) + `"}`))
		}
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name, url, token string
		is               error
		want             string
		status           int
	}{
		{"ok", srv.URL + "/ok", "tok", nil, "", 0},
		{"bad token", srv.URL + "/ok", "nope", ErrUnauthorized, "401 Unauthorized: bad token", 401},
		{"policy problems", srv.URL + "/policy", "tok", nil, "400 Bad Request: invalid policy:\np:1:1: unknown group", 400},
		{"rate limited", srv.URL + "/busy", "tok", ErrRateLimited, "429 Too Many Requests", 429},
		{"server error, plain body", srv.URL + "/broken", "tok", nil, "test error: 503 Service Unavailable: storage unavailable", 503},
		{"malformed answer", srv.URL + "/garbage", "tok", ErrProtocol, "decode answer", 0},
		{"oversized answer", srv.URL + "/huge", "tok", ErrProtocol, "over 64 bytes", 0},
		{"nothing listening", closed.URL, "tok", ErrUnreachable, "test unreachable", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out struct{ Answer any }
			err := Do(context.Background(), http.DefaultClient, Request{Method: http.MethodGet, URL: tt.url, Token: tt.token,
				MaxAnswer: 64, Server: "test"}, &out)
			if tt.want == "" {
				if err != nil || out.Answer != float64(42) {
					t.Fatalf("Do: %v, %+v", err, out)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Do: %v, want %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Do: %v is not %v", err, tt.is)
			}
			var e *Error
			if got := errors.As(err, &e); got != (tt.status != 0) || (got && e.Status != tt.status) {
				t.Errorf("Do: %v, want an *Error with status %d", err, tt.status)
			}
		})
	}
	if _, ok := RetryAfter(Do(context.Background(), http.DefaultClient, Request{URL: srv.URL + "/busy", Token: "tok"}, nil)); !ok {
		t.Error("Retry-After lost")
	}
}

// TestDoCancelledIsNotUnreachable: a caller that gave up did not find the
// server unreachable.
func TestDoCancelledIsNotUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	err := Do(ctx, http.DefaultClient, Request{URL: srv.URL}, nil)
	if err == nil || errors.Is(err, ErrUnreachable) {
		t.Fatalf("cancelled call: %v, want an error that is not ErrUnreachable", err)
	}
}

// TestReplayableSentAgainOnStaleConnection: a server keeps a connection
// alive after its first answer, then closes it at the next request
// without answering (it restarted). A replayable call goes again on a
// new connection and gets its answer; any other fails as unreachable,
// since the server might have acted on it. The mark is not sent.
func TestReplayableSentAgainOnStaleConnection(t *testing.T) {
	for _, replayable := range []bool{true, false} {
		t.Run(fmt.Sprintf("replayable=%v", replayable), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			var marked atomic.Bool
			go func() {
				for conn := 0; ; conn++ {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func(c net.Conn, first bool) {
						defer c.Close()
						br := bufio.NewReader(c)
						for {
							req, err := http.ReadRequest(br)
							if err != nil {
								return
							}
							io.Copy(io.Discard, req.Body)
							if _, has := req.Header["Idempotency-Key"]; has {
								marked.Store(true)
							}
							if !first {
								c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"))
								return
							}
							if first && req.URL.Path == "/warm" {
								c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"))
								continue
							}
							return // the stale connection: closed without an answer
						}
					}(c, conn == 0)
				}
			}()
			hc := &http.Client{Transport: &http.Transport{}}
			defer hc.CloseIdleConnections()
			base := "http://" + ln.Addr().String()
			ctx := context.Background()
			if err := Do(ctx, hc, Request{Method: http.MethodGet, URL: base + "/warm"}, nil); err != nil {
				t.Fatal(err)
			}
			err = Do(ctx, hc, Request{URL: base + "/login", Body: map[string]int{"a": 1}, Replayable: replayable}, nil)
			if replayable && err != nil {
				t.Fatalf("replayable call on a stale connection: %v", err)
			}
			if !replayable && !errors.Is(err, ErrUnreachable) {
				t.Fatalf("call on a stale connection: %v, want unreachable", err)
			}
			if marked.Load() {
				t.Error("the Idempotency-Key mark went on the wire")
			}
		})
	}
}
