package netstack

import (
	"net/netip"
	"testing"
	"time"
)

// outbound collects what s sends, packets to dst only, until the test ends.
func outbound(t *testing.T, s *Stack, dst netip.Addr) <-chan packet {
	t.Helper()
	out := make(chan packet, 64)
	go func() {
		bufs, sizes := [][]byte{make([]byte, 2048)}, []int{0}
		for {
			n, err := s.Read(bufs, sizes, 0)
			if err != nil {
				return
			}
			for i := range n {
				var p packet
				if parsePacket(bufs[i][:sizes[i]], &p) == nil && p.dst == dst {
					select {
					case out <- p:
					default:
					}
				}
			}
		}
	}()
	return out
}

// TestDeniedSYNGetsNoReset plays an attacker who hand-crafts SYNs to a
// node: one to a port the filter allows but nothing serves comes back
// reset (so the watch works), while SYNs the filter denies, to a served
// port or not, and SYNs under no filter at all get nothing back, not even
// a reset that would tell the node is there.
func TestDeniedSYNGetsNoReset(t *testing.T) {
	s := newTestStack(t, &Config{Expose: []Service{{ProtoTCP, 80}}}, addrB4, addrB6)
	got := outbound(t, s, addrA4)
	send := func(port uint16) {
		s.Write([][]byte{tcpPacket(addrA4, addrB4, 40000+port, port, tcpSYN)}, 0)
	}
	// No filter yet: every new flow is denied.
	send(80)
	send(81)
	s.SetFilter(FilterFunc(func(_, _ netip.Addr, _ uint8, port uint16) bool { return port == 82 }))
	send(80)
	send(81)
	send(82) // allowed, unserved: the one answer
	select {
	case p := <-got:
		if p.proto != ProtoTCP || p.srcPort != 82 || p.tcpFlags&tcpRST == 0 {
			t.Fatalf("first answer %+v; want a reset from port 82 (denied SYNs must get nothing)", p)
		}
	case <-time.After(answerWait):
		t.Fatal("the allowed SYN to an unserved port got no reset")
	}
	select {
	case p := <-got:
		t.Fatalf("a denied SYN got an answer: %+v", p)
	case <-time.After(noAnswerWait):
	}
	if st := s.Stats(); st.Denied != 4 || st.Unserved != 1 {
		t.Fatalf("stats = %+v; want 4 denied, 1 unserved", st)
	}
}
