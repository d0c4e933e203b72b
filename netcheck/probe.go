package netcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/pion/stun/v3"
)

// ErrNoAnswer is an Observation's Err when a server did not answer in time.
var ErrNoAnswer = errors.New("no answer")

// requestSize is the size of every Binding request: the padding makes it
// larger than any reply (44 bytes with an IPv6 address), so a server that
// refuses to amplify still answers.
const requestSize = 64

// retryEvery is how often an unanswered request is sent again.
const retryEvery = 250 * time.Millisecond

// attrPadding is RFC 5780's PADDING attribute.
const attrPadding stun.AttrType = 0x0026

// Padding is a stun.Setter that adds a PADDING attribute of that many zero
// bytes, so a request is at least as large as its reply.
type Padding int

// AddTo adds the padding to m.
func (p Padding) AddTo(m *stun.Message) error {
	m.Add(attrPadding, make([]byte, max(int(p), 0)))
	return nil
}

// BindingRequest returns a new Binding request, padded to requestSize
// (a server that refuses to amplify answers it).
func BindingRequest() (*stun.Message, error) {
	return stun.Build(stun.TransactionID, stun.BindingRequest, Padding(requestSize-20-4))
}

// Probe sends a Binding request from conn to each server (duplicates asked
// once), resends the unanswered ones every 250 ms, and returns each
// server's observation once all answered or wait has passed. Replies from
// any other address, or with another transaction ID, are ignored.
func Probe(ctx context.Context, conn net.PacketConn, servers []netip.AddrPort, wait time.Duration) []Observation {
	var obs []Observation
	reqs := map[netip.AddrPort]*stun.Message{}
	for _, s := range servers {
		s = netip.AddrPortFrom(s.Addr().Unmap(), s.Port())
		if _, dup := reqs[s]; dup {
			continue
		}
		m, err := BindingRequest()
		if err != nil {
			obs = append(obs, Observation{Server: s, Err: fmt.Errorf("build request: %w", err)})
			continue
		}
		reqs[s] = m
		obs = append(obs, Observation{Server: s, Err: ErrNoAnswer})
	}
	deadline := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	buf := make([]byte, 1500)
	for pending := len(reqs); pending > 0 && time.Now().Before(deadline) && ctx.Err() == nil; {
		sent := time.Now()
		sendPending(conn, obs, reqs)
		until := time.Now().Add(retryEvery)
		if deadline.Before(until) {
			until = deadline
		}
		for pending > 0 {
			conn.SetReadDeadline(until)
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				break
			}
			if answer(obs, reqs, from, buf[:n], time.Since(sent)) {
				pending--
			}
		}
	}
	return obs
}

// sendPending sends the request of every server still without an answer.
func sendPending(conn net.PacketConn, obs []Observation, reqs map[netip.AddrPort]*stun.Message) {
	for i := range obs {
		if m := reqs[obs[i].Server]; m != nil && errors.Is(obs[i].Err, ErrNoAnswer) {
			if _, err := conn.WriteTo(m.Raw, net.UDPAddrFromAddrPort(obs[i].Server)); err != nil {
				obs[i].Err = fmt.Errorf("%w (send: %v)", ErrNoAnswer, err)
			}
		}
	}
}

// answer records b, a datagram from from that came rtt after the last
// send, when it is the success response to that server's pending request,
// and tells whether it was.
func answer(obs []Observation, reqs map[netip.AddrPort]*stun.Message, from net.Addr, b []byte, rtt time.Duration) bool {
	ua, ok := from.(*net.UDPAddr)
	if !ok {
		return false
	}
	src := netip.AddrPortFrom(ua.AddrPort().Addr().Unmap(), ua.AddrPort().Port())
	req := reqs[src]
	if req == nil {
		return false
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if err := m.Decode(); err != nil || m.Type != stun.BindingSuccess || m.TransactionID != req.TransactionID {
		return false
	}
	var xa stun.XORMappedAddress
	if err := xa.GetFrom(m); err != nil {
		return false
	}
	ip, ok := netip.AddrFromSlice(xa.IP)
	if !ok {
		return false
	}
	for i := range obs {
		if obs[i].Server == src && errors.Is(obs[i].Err, ErrNoAnswer) {
			obs[i] = Observation{Server: src, Mapped: netip.AddrPortFrom(ip.Unmap(), uint16(xa.Port)), RTT: rtt}
			return true
		}
	}
	return false
}

// Run resolves servers (HOST:PORT), probes them from one fresh UDP socket
// and classifies the answers.
func Run(ctx context.Context, servers []string, wait time.Duration) (Report, error) {
	var addrs []netip.AddrPort
	for _, s := range servers {
		ua, err := net.ResolveUDPAddr("udp", s)
		if err != nil {
			return Report{}, fmt.Errorf("resolve stun server %s: %w", s, err)
		}
		addrs = append(addrs, ua.AddrPort())
	}
	conn, err := net.ListenPacket("udp", ":0")
	if err != nil {
		return Report{}, fmt.Errorf("open udp socket: %w", err)
	}
	defer conn.Close()
	return Classify(Probe(ctx, conn, addrs, wait)), nil
}
