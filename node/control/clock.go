package control

import (
	"log/slog"
	"sync"
	"time"

	"github.com/wardnet/ward/wire"
)

const (
	// offsetJitter is the change in the estimated clock offset that is
	// taken as noise (network delay): smaller changes keep the current
	// estimate, so one coordinator time converts to the same node time
	// from message to message, and clocks that agree this closely are
	// treated as equal.
	offsetJitter = time.Second
	// offsetWarn is the offset past which the node's clock is logged as
	// wrong.
	offsetWarn = time.Minute
	// maxSwitchDelay bounds the wait for a key switch, however long the
	// coordinator asks for (a duration from protocol version 2, a time on
	// its clock before): a faulty coordinator must not keep a node on a
	// key it was told to replace. The switch waits for the peers to learn
	// the new key, which takes seconds.
	maxSwitchDelay = time.Minute
)

// skew estimates the offset of the coordinator's clock from the node's
// (coordinator minus node) from the ServerTime of its answers, and
// converts the coordinator's times to the node's clock with it.
type skew struct {
	now func() time.Time
	log *slog.Logger

	// mu guards off.
	mu sync.Mutex
	// off is the current estimate; 0 until an estimate differs from 0
	// by more than offsetJitter.
	off time.Duration
}

// observe takes an answer written at server on the coordinator's clock,
// requested at sent and received at recv on the node's; sent may equal
// recv (a map stream message: the request time is unknown). A zero
// server (an older coordinator) says nothing.
func (s *skew) observe(server, sent, recv time.Time) {
	if server.IsZero() {
		return
	}
	mid := sent.Add(recv.Sub(sent) / 2)
	est := server.Sub(mid)
	s.mu.Lock()
	old := s.off
	if (est - old).Abs() > offsetJitter {
		s.off = est
	}
	cur := s.off
	s.mu.Unlock()
	if cur != old && (cur.Abs() > offsetWarn) != (old.Abs() > offsetWarn) {
		if cur.Abs() > offsetWarn {
			s.log.Warn("this node's clock differs from the coordinator's; key times are converted",
				"coordinator_minus_node", cur.Round(time.Second))
		} else {
			s.log.Info("this node's clock agrees with the coordinator's again", "coordinator_minus_node", cur.Round(time.Millisecond))
		}
	}
}

// offset returns the current estimate (coordinator minus node).
func (s *skew) offset() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.off
}

// local converts t, a time on the coordinator's clock, to the node's.
// The result is a reading of the node's clock plus a duration, so it
// carries the monotonic clock: a later step of the wall clock does not
// move it. Zero stays zero (never).
func (s *skew) local(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return localAt(t, s.now(), s.offset())
}

// localAt is local with the node's clock read (now) and the offset (off)
// given: a map's thousands of records take one reading and one lock, not
// one each.
func localAt(t, now time.Time, off time.Duration) time.Time {
	if t.IsZero() {
		return t
	}
	return now.Add(t.Sub(now) - off)
}

// localNode returns n with its KeyExpiry on the node's clock.
func (s *skew) localNode(n wire.Node) wire.Node {
	n.KeyExpiry = s.local(n.KeyExpiry)
	return n
}

// localMap converts the KeyExpiry times of m and the end times of its
// time-bound filter rules to the node's clock in place (m is freshly
// decoded and owned by the caller), so a node whose clock is behind does
// not keep an approved access past its end, and a later step of its wall
// clock does not bring an ended rule back. The peers' key switch times
// are placed as the rotating node places its own (see keySwitch); recv
// is when m arrived.
func (s *skew) localMap(m *wire.MapResponse, recv time.Time) {
	for i := range m.Filter {
		m.Filter[i].Expires = s.local(m.Filter[i].Expires)
	}
	if m.Self != nil {
		self := s.localNode(*m.Self)
		self.PrevWGKey, self.KeySwitchAt = wire.WGPublic{}, time.Time{}
		m.Self = &self
	}
	if len(m.Peers)+len(m.PeersChanged) == 0 {
		return
	}
	now, off := s.now(), s.offset()
	for i := range m.Peers {
		s.localPeer(&m.Peers[i], m.ServerTime, recv, now, off)
	}
	for i := range m.PeersChanged {
		s.localPeer(&m.PeersChanged[i], m.ServerTime, recv, now, off)
	}
}

// localPeer puts p's key expiry (as localNode, with the clock read now and
// the offset off) and key switch time on the node's clock, in place: a record is a few hundred bytes, and a gateway's
// map holds tens of thousands, each copied three times when this took and
// returned one by value.
func (s *skew) localPeer(p *wire.Node, server, recv, now time.Time, off time.Duration) {
	p.KeyExpiry = localAt(p.KeyExpiry, now, off)
	p.KeySwitchAt = s.keySwitch(p.KeySwitchAt, server, recv)
	if p.KeySwitchAt.IsZero() {
		p.PrevWGKey = wire.WGPublic{}
	}
}

// keySwitch places a peer's key switch time at, on the coordinator's
// clock, in a map message written at server (its ServerTime; zero from a
// coordinator before protocol version 2) and received at recv on the
// node's. Like the rotating node's own switch (rotation), it is a wait
// from recv, not a conversion by the estimated offset: the offset is kept
// only to within offsetJitter, and both ends must switch within a
// handshake of each other, which their clocks' agreement cannot promise
// but the two messages' transit times do. A switch already past (or at
// recv) is zero: the peer has switched. The wait is at most
// maxSwitchDelay, as the rotating node's is, so a faulty coordinator
// cannot keep a replaced key in use.
func (s *skew) keySwitch(at, server, recv time.Time) time.Time {
	if at.IsZero() {
		return at
	}
	var in time.Duration
	if server.IsZero() {
		in = s.local(at).Sub(recv)
	} else {
		in = at.Sub(server)
	}
	if in <= 0 {
		return time.Time{}
	}
	return recv.Add(switchDelay(in))
}

// Rotation is the coordinator's answer to Rotate, on the node's clock.
type Rotation struct {
	// SwitchAt is when the node switches to the new key.
	SwitchAt time.Time
	// KeyExpiry is when the new key lapses; zero means never.
	KeyExpiry time.Time
}

// rotation places resp, asked at sent and received at recv, on the node's
// clock. From a coordinator of protocol version 2 it takes the durations:
// the switch comes SwitchIn after recv (the peers have had the key at
// least that long), the key lapses KeyLifetime after sent (never later
// than the coordinator says). From an older one it converts the absolute
// times with the offset known so far (none: as they are), so a node whose
// clock is far off still switches soon after its peers learnt the key.
// Either way the switch comes within maxSwitchDelay of recv.
func (s *skew) rotation(resp wire.RotateResponse, sent, recv time.Time) Rotation {
	if !resp.ServerTime.IsZero() {
		r := Rotation{SwitchAt: recv.Add(switchDelay(resp.SwitchIn()))}
		if !resp.KeyExpiry.IsZero() {
			r.KeyExpiry = sent.Add(max(resp.KeyLifetime(), 0))
		}
		return r
	}
	in := recv
	if !resp.SwitchAt.IsZero() {
		in = s.local(resp.SwitchAt)
	}
	return Rotation{SwitchAt: recv.Add(switchDelay(in.Sub(recv))), KeyExpiry: s.local(resp.KeyExpiry)}
}

// switchDelay bounds the wait d for a key switch to 0..maxSwitchDelay.
func switchDelay(d time.Duration) time.Duration { return min(max(d, 0), maxSwitchDelay) }
