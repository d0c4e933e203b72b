package node

import (
	"encoding/binary"
	"time"

	"golang.zx2c4.com/wireguard/device"
)

// The receiver indices of this node's sessions.
//
// The bind counts the data packets it hands wireguard-go into the
// netstack's inbound gate (netstack.Gate), and the netstack's Write counts
// them out. A packet wireguard-go drops never comes out, and anyone who
// can reach the node's UDP port can send data messages: type 4 and any
// receiver index, which wireguard-go drops at once (no session has that
// index) or after a failed authentication. Counted, 256 of them would
// hold the count at the gate's limit and every receive would wait the
// gate's stall time (20 ms) before the count restarted: a flood of 13,000
// small packets a second would stop the node's inbound data for a few
// hundred bytes each. So the bind counts a data packet only when its
// receiver index is one this node handed out: the sender index of a
// handshake initiation or response it sent (a peer's data messages carry
// it as their receiver). An attacker off the path would have to guess a
// 32-bit index that is live; one on the path can drop the node's traffic
// anyway.

// sessionIndexLife is how long an index sent in a handshake may name a
// session: a keypair lives device.RejectAfterTime after its handshake,
// which ends at most device.RekeyAttemptTime after its first message.
const sessionIndexLife = device.RejectAfterTime + device.RekeyAttemptTime

// maxSessionIndices bounds the indices the bind keeps (a peer that never
// answers costs one every device.RekeyTimeout until its attempt ends).
// When full, a new index is not kept: its data goes uncounted, and the
// gate bounds a little less.
const maxSessionIndices = 16384

// sessionIndexPrune is how often a record prunes the expired indices.
const sessionIndexPrune = 30 * time.Second

// Where a message's index sits: the sender's in an initiation and a
// response, the receiver's in a data message.
const (
	senderIndexAt       = 4
	transportReceiverAt = 4
)

// noteOwnIndices keeps the sender index of every handshake initiation and
// response among bufs, sent at now.
func (b *pathBind) noteOwnIndices(bufs [][]byte, now time.Time) {
	for _, buf := range bufs {
		switch messageType(buf) {
		case device.MessageInitiationType, device.MessageResponseType:
		default:
			continue
		}
		index := binary.LittleEndian.Uint32(buf[senderIndexAt:])
		b.mu.Lock()
		b.keepOwnIndexLocked(index, now)
		b.mu.Unlock()
	}
}

// keepOwnIndexLocked keeps index as one of this node's until
// sessionIndexLife after now.
func (b *pathBind) keepOwnIndexLocked(index uint32, now time.Time) {
	if b.own == nil {
		b.own = make(map[uint32]time.Time)
	}
	if now.Sub(b.ownPruned) >= sessionIndexPrune || len(b.own) >= maxSessionIndices {
		for i, until := range b.own {
			if !now.Before(until) {
				delete(b.own, i)
			}
		}
		b.ownPruned = now
	}
	if _, kept := b.own[index]; !kept && len(b.own) >= maxSessionIndices {
		return
	}
	b.own[index] = now.Add(sessionIndexLife)
}

// ownSessionDataLocked reports whether pkt is a data message (see
// isTransportData) to a session of this node's at now.
func (b *pathBind) ownSessionDataLocked(pkt []byte, now time.Time) bool {
	if !isTransportData(pkt) {
		return false
	}
	until, ok := b.own[binary.LittleEndian.Uint32(pkt[transportReceiverAt:])]
	return ok && now.Before(until)
}
