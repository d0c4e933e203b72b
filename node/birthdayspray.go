package node

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"golang.zx2c4.com/wireguard/conn"

	"github.com/wardnet/ward/disco"
	"github.com/wardnet/ward/wire"
)

// The easy side of birthday probing (see birthday.go): pings to many
// ports of the hard side's public IP.

// startSprayLocked starts probing sprayProbes random ports of ip (p's
// public IP) when the node is not already probing p, p has no working
// direct path, sprayEvery passed since the last spray to p, fewer than
// maxSprays run, and ip is the address of one of p's endpoints in the
// coordinator's map: a candidate p only claims itself (its NAT message,
// a call-me-maybe) could name any host, which the node would then send
// sprayProbes pings to every sprayEvery.
func (b *pathBind) startSprayLocked(p *peerPath, ip netip.Addr, now time.Time) {
	if p.directFresh(now) || p.bday.spraying || b.bday.sprays >= maxSprays || b.closed == nil ||
		(!p.bday.lastSpray.IsZero() && now.Sub(p.bday.lastSpray) < sprayEvery) ||
		!sprayTarget(ip, p.mapEPs) {
		return
	}
	p.bday.spraying, p.bday.lastSpray = true, now
	b.bday.sprays++
	ports := sprayPorts(rand.N[uint64], sprayProbes)
	b.log.Info("birthday probing: probing ports", "peer", p.key.ShortString(), "ip", ip, "probes", len(ports))
	k, closed := p.key, b.closed
	b.bday.wg.Go(func() { b.runSpray(k, ip, ports, closed) })
}

// birthdayMapLocked acts on p's map endpoints, just changed, which may
// now list the IP birthday probing needs (the map may lag the peer's
// STUN): the easy side starts the spray p asked for within hardWindow,
// the hard side an attempt when one is due.
func (b *pathBind) birthdayMapLocked(p *peerPath, now time.Time) {
	switch birthdayRole(b.nat.class, p.bday.class) {
	case roleSpray:
		if p.bday.askedIP.IsValid() && now.Sub(p.bday.asked) < hardWindow {
			b.startSprayLocked(p, p.bday.askedIP, now)
		}
	case roleSockets:
		b.startHardLocked(p, now)
	}
}

// sprayTarget reports whether ip may be probed on many ports (or from
// many sockets): a probeable address that is one of the peer's map
// endpoints' IPs.
func sprayTarget(ip netip.Addr, candidates []netip.AddrPort) bool {
	if !probeable(netip.AddrPortFrom(ip, minProbePort)) {
		return false
	}
	for _, c := range candidates {
		if c.Addr() == ip {
			return true
		}
	}
	return false
}

// sprayPorts returns n distinct ports from minProbePort to 65535, in a
// random order drawn with randN (rand.N's form).
func sprayPorts(randN func(uint64) uint64, n int) []uint16 {
	const span = 65536 - minProbePort
	n = min(n, span)
	seen := make(map[uint16]bool, n)
	out := make([]uint16, 0, n)
	for len(out) < n {
		p := uint16(minProbePort + randN(span))
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// sprayBudget returns how many probes a spray may have sent after
// elapsed: sprayRate a second after a burst of sprayBurst.
func sprayBudget(elapsed time.Duration) int {
	return sprayBurst + int(elapsed.Seconds()*sprayRate)
}

// runSpray pings ports of ip for peer k from the WireGuard socket,
// sprayBudget paced, until every port is pinged, k has a working direct
// path, k is gone, or the bind closes.
func (b *pathBind) runSpray(k wire.WGPublic, ip netip.Addr, ports []uint16, closed <-chan struct{}) {
	defer func() {
		b.mu.Lock()
		b.bday.sprays--
		if p := b.peers[k]; p != nil {
			p.bday.spraying = false
		}
		b.mu.Unlock()
	}()
	tick := time.NewTicker(sprayTick)
	defer tick.Stop()
	start := time.Now()
	for sent := 0; sent < len(ports); {
		due := min(sprayBudget(time.Since(start)), len(ports))
		out, ok := b.sprayBatch(k, ip, ports[sent:due])
		if !ok {
			return
		}
		b.sendAll(out)
		sent = due
		select {
		case <-closed:
			return
		case <-tick.C:
		}
	}
}

// sprayBatch returns pings to k at ip on each of ports, or false when
// the spray should stop (k gone or directly reached).
func (b *pathBind) sprayBatch(k wire.WGPublic, ip netip.Addr, ports []uint16) ([]outPacket, bool) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.peers[k]
	if p == nil || p.directFresh(now) {
		return nil, false
	}
	b.expirePingsLocked(now)
	out := make([]outPacket, 0, len(ports))
	for _, port := range ports {
		tx := disco.NewTxID()
		pkt, err := disco.Seal(p.shared, b.pub, disco.Message{Type: disco.TypePing, TxID: tx})
		if err != nil {
			continue
		}
		to := netip.AddrPortFrom(ip, port)
		b.pings[tx] = pingSent{peer: k, to: to, at: now}
		out = append(out, outPacket{pkt: pkt, to: &conn.StdNetEndpoint{AddrPort: to}})
	}
	return out, true
}
