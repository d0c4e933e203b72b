package socks5

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/node/splice"
)

// startServer serves SOCKS5 on 127.0.0.1 with dial and returns its address.
func startServer(t *testing.T, dial splice.DialFunc) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{Proxy: splice.Proxy{Dial: dial}}).Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return l.Addr().String()
}

// echoDial "dials" by returning one end of a pipe that echoes, and
// records the target.
type echoDial struct {
	mu   sync.Mutex
	got  []string
	fail error
}

func (d *echoDial) dial(ctx context.Context, host string, port uint16) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, fmt.Sprintf("%s:%d", host, port))
	if d.fail != nil {
		return nil, d.fail
	}
	a, b := net.Pipe()
	go func() {
		defer b.Close()
		io.Copy(b, b)
	}()
	return a, nil
}

func request(atyp byte, addr []byte, port uint16) []byte {
	b := []byte{5, 1, 0, atyp}
	if atyp == atypDomain {
		b = append(b, byte(len(addr)))
	}
	b = append(b, addr...)
	return binary.BigEndian.AppendUint16(b, port)
}

func TestServer(t *testing.T) {
	tests := []struct {
		name      string
		greeting  []byte
		req       []byte
		fail      error
		wantMeth  byte
		wantRep   byte
		wantDial  string
		wantRelay bool
	}{
		{"domain", []byte{5, 1, 0}, request(atypDomain, []byte("cam1"), 22), nil, 0, repSucceeded, "cam1:22", true},
		{"ipv4", []byte{5, 2, 2, 0}, request(atypIPv4, []byte{100, 64, 0, 1}, 80), nil, 0, repSucceeded, "100.64.0.1:80", true},
		{"ipv6", []byte{5, 1, 0}, request(atypIPv6, netip.MustParseAddr("fd7a::1").AsSlice(), 443), nil, 0, repSucceeded, "fd7a::1:443", true},
		{"refused", []byte{5, 1, 0}, request(atypDomain, []byte("cam1"), 23), syscall.ECONNREFUSED, 0, repRefused, "cam1:23", false},
		{"not granted", []byte{5, 1, 0}, request(atypDomain, []byte("cam1"), 25), fmt.Errorf("dial: %w", localapi.ErrNotGranted), 0, repNotAllowed, "cam1:25", false},
		{"unreachable", []byte{5, 1, 0}, request(atypDomain, []byte("cam1"), 24), context.DeadlineExceeded, 0, repUnreachable, "cam1:24", false},
		{"bind unsupported", []byte{5, 1, 0}, []byte{5, 2, 0, atypIPv4, 1, 2, 3, 4, 0, 80}, nil, 0, repCmdUnsup, "", false},
		{"bad address type", []byte{5, 1, 0}, []byte{5, 1, 0, 9}, nil, 0, repAtypUnsup, "", false},
		{"auth required", []byte{5, 1, 2}, nil, nil, methodNone, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &echoDial{fail: tt.fail}
			addr := startServer(t, d.dial)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write(tt.greeting)
			var meth [2]byte
			if _, err := io.ReadFull(c, meth[:]); err != nil || meth[1] != tt.wantMeth {
				t.Fatalf("method reply %v, %v; want method %d", meth, err, tt.wantMeth)
			}
			if tt.wantMeth == methodNone {
				return
			}
			c.Write(tt.req)
			var rep [10]byte
			if _, err := io.ReadFull(c, rep[:]); err != nil || rep[1] != tt.wantRep {
				t.Fatalf("reply %v, %v; want code %d", rep, err, tt.wantRep)
			}
			d.mu.Lock()
			got := fmt.Sprint(d.got)
			d.mu.Unlock()
			if want := fmt.Sprint([]string{tt.wantDial}); tt.wantDial != "" && got != want {
				t.Errorf("dialed %s, want %s", got, want)
			}
			if !tt.wantRelay {
				return
			}
			c.Write([]byte("ping"))
			buf := make([]byte, 4)
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
				t.Errorf("relay got %q, %v", buf, err)
			}
		})
	}
}
