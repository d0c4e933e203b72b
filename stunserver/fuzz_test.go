package stunserver_test

import (
	"net/netip"
	"testing"

	"github.com/pion/stun/v3"

	"github.com/wardnet/ward/stunserver"
)

// FuzzSTUNRequest feeds arbitrary datagrams to the request parser: it must
// not panic, must answer only Binding requests, and never with more bytes
// than it was sent.
func FuzzSTUNRequest(f *testing.F) {
	f.Add(request(f, stun.BindingRequest, 64).Raw)
	f.Add(request(f, stun.BindingRequest, 20).Raw)
	f.Add(request(f, stun.BindingSuccess, 48).Raw)
	f.Add([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42})
	src := netip.MustParseAddrPort("[2001:db8::1]:65535")
	f.Fuzz(func(t *testing.T, req []byte) {
		resp, ok := stunserver.Response(req, src)
		if !ok {
			return
		}
		if len(resp) > len(req) {
			t.Fatalf("reply %d bytes to a %d-byte request", len(resp), len(req))
		}
		m := &stun.Message{Raw: append([]byte(nil), req...)}
		if err := m.Decode(); err != nil || m.Type != stun.BindingRequest {
			t.Fatalf("answered a non-Binding request %x", req)
		}
	})
}
