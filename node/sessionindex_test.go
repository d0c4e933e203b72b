package node

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/device"
)

// TestOwnSessionIndices checks which data messages the bind counts: those
// to an index it sent in a handshake initiation or response, while that
// index may still name a session, and no others.
func TestOwnSessionIndices(t *testing.T) {
	msg := func(typ uint32, size int, index uint32) []byte {
		b := make([]byte, size)
		binary.LittleEndian.PutUint32(b, typ)
		binary.LittleEndian.PutUint32(b[4:], index)
		return b
	}
	data := func(index uint32) []byte { return msg(device.MessageTransportType, 96, index) }
	t0 := time.Unix(1_700_000_000, 0)
	b := &pathBind{}
	b.noteOwnIndices([][]byte{
		msg(device.MessageInitiationType, device.MessageInitiationSize, 7),
		msg(device.MessageResponseType, device.MessageResponseSize, 8),
		msg(device.MessageCookieReplyType, device.MessageCookieReplySize, 9), // a cookie reply's 4:8 is the receiver's
		data(10), // data carries the peer's index
		msg(device.MessageInitiationType, 100, 11), // not an initiation's size
	}, t0)
	for _, tc := range []struct {
		name string
		pkt  []byte
		at   time.Time
		want bool
	}{
		{"to an initiation's index", data(7), t0, true},
		{"to a response's index", data(8), t0.Add(time.Minute), true},
		{"to a cookie reply's index", data(9), t0, false},
		{"to a data message's index", data(10), t0, false},
		{"to a malformed initiation's index", data(11), t0, false},
		{"to an index never sent", data(12), t0, false},
		{"a keepalive to an own index", msg(device.MessageTransportType, device.MessageTransportSize, 7), t0, false},
		{"past the index's life", data(7), t0.Add(sessionIndexLife), false},
	} {
		b.mu.Lock()
		got := b.ownSessionDataLocked(tc.pkt, tc.at)
		b.mu.Unlock()
		if got != tc.want {
			t.Errorf("%s: counted %v, want %v", tc.name, got, tc.want)
		}
	}

	// Bounded: when full of live indices, a new one is not kept; once
	// they expire, the next record prunes them.
	b = &pathBind{}
	for i := range maxSessionIndices + 10 {
		b.keepOwnIndexLocked(uint32(i), t0)
	}
	if len(b.own) != maxSessionIndices {
		t.Fatalf("kept %d indices, want at most %d", len(b.own), maxSessionIndices)
	}
	later := t0.Add(sessionIndexLife)
	b.keepOwnIndexLocked(1<<31, later)
	if len(b.own) != 1 || !b.ownSessionDataLocked(data(1<<31), later) {
		t.Fatalf("after the others expired: kept %d indices, want the new one alone", len(b.own))
	}
}
