package stunserver_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/stun/v3"

	"github.com/wardnet/ward/netcheck"
	"github.com/wardnet/ward/ratelimit"
	"github.com/wardnet/ward/stunserver"
)

// request builds a Binding request (or another type) padded to size bytes
// with netcheck's padding attribute (size 20 leaves it bare).
func request(t testing.TB, typ stun.MessageType, size int) *stun.Message {
	t.Helper()
	setters := []stun.Setter{stun.TransactionID, typ}
	if size > 20 {
		setters = append(setters, netcheck.Padding(size-20-4))
	}
	m, err := stun.Build(setters...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSTUNAnswersOnlyBindingNeverLarger(t *testing.T) {
	src4 := netip.MustParseAddrPort("192.0.2.7:4242")
	src6 := netip.MustParseAddrPort("[2001:db8::7]:4242")
	for _, tc := range []struct {
		name string
		typ  stun.MessageType
		size int
		src  netip.AddrPort
		want bool
	}{
		{"padded binding v4", stun.BindingRequest, 64, src4, true},
		{"padded binding v6", stun.BindingRequest, 64, src6, true},
		{"exactly the reply size v4", stun.BindingRequest, 32, src4, true},
		{"bare binding is smaller than its reply", stun.BindingRequest, 20, src4, false},
		{"v6 reply outgrows a v4-sized request", stun.BindingRequest, 32, src6, false},
		{"indication", stun.NewType(stun.MethodBinding, stun.ClassIndication), 64, src4, false},
		{"success response", stun.BindingSuccess, 64, src4, false},
		{"allocate request", stun.NewType(stun.MethodAllocate, stun.ClassRequest), 64, src4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request(t, tc.typ, tc.size)
			resp, ok := stunserver.Response(req.Raw, tc.src)
			if ok != tc.want {
				t.Fatalf("answered=%v, want %v", ok, tc.want)
			}
			if !ok {
				return
			}
			if len(resp) > len(req.Raw) {
				t.Fatalf("reply %d bytes > request %d", len(resp), len(req.Raw))
			}
			m := &stun.Message{Raw: resp}
			if err := m.Decode(); err != nil || m.Type != stun.BindingSuccess || m.TransactionID != req.TransactionID {
				t.Fatalf("reply %v (%v)", m, err)
			}
			var xa stun.XORMappedAddress
			if err := xa.GetFrom(m); err != nil {
				t.Fatal(err)
			}
			got, _ := netip.AddrFromSlice(xa.IP)
			if netip.AddrPortFrom(got.Unmap(), uint16(xa.Port)) != tc.src {
				t.Fatalf("mapped %v, want %v", xa, tc.src)
			}
		})
	}
}

func TestSTUNRefusesTrailingGarbage(t *testing.T) {
	req := request(t, stun.BindingRequest, 64)
	if _, ok := stunserver.Response(append(req.Raw, 0, 0, 0, 0), netip.MustParseAddrPort("192.0.2.1:1")); ok {
		t.Fatal("answered a datagram longer than its STUN length")
	}
}

// serve runs s on a loopback UDP socket until the test ends and returns a
// socket connected to it.
func serve(t *testing.T, s *stunserver.Server) *net.UDPConn {
	t.Helper()
	srvConn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, srvConn) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	c, err := net.DialUDP("udp", nil, srvConn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// answers counts the datagrams c receives until a second passes without one.
func answers(c *net.UDPConn) int {
	n := 0
	buf := make([]byte, 1500)
	for {
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(buf); err != nil {
			return n
		}
		n++
	}
}

// TestSTUNRefusesAmplification sends, as an attacker with a spoofed
// source would, the smallest Binding requests and other message types to
// a live server: none is answered, while a padded request is.
func TestSTUNRefusesAmplification(t *testing.T) {
	c := serve(t, stunserver.New(nil))
	for _, req := range []*stun.Message{
		request(t, stun.BindingRequest, 20),
		request(t, stun.BindingRequest, 28),
		request(t, stun.BindingSuccess, 64),
		request(t, stun.NewType(stun.MethodAllocate, stun.ClassRequest), 64),
	} {
		if _, err := c.Write(req.Raw); err != nil {
			t.Fatal(err)
		}
	}
	if n := answers(c); n != 0 {
		t.Fatalf("%d answers to requests smaller than a reply or not Binding", n)
	}
	if _, err := c.Write(request(t, stun.BindingRequest, 64).Raw); err != nil {
		t.Fatal(err)
	}
	if n := answers(c); n != 1 {
		t.Fatalf("%d answers to a padded Binding request", n)
	}
}

// TestSTUNRateLimitsPerSource sends a burst over loopback UDP and counts
// answers: the limit, not the request count, bounds them.
func TestSTUNRateLimitsPerSource(t *testing.T) {
	c := serve(t, &stunserver.Server{Limit: ratelimit.New[netip.Addr](time.Hour, 3, 16)})
	for range 10 {
		if _, err := c.Write(request(t, stun.BindingRequest, 64).Raw); err != nil {
			t.Fatal(err)
		}
	}
	if n := answers(c); n != 3 {
		t.Fatalf("%d answers to 10 requests, want the burst of 3", n)
	}
}
