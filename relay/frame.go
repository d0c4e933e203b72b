// Package relay forwards WireGuard's already-encrypted packets between two
// nodes over one WebSocket connection each (TLS on the coordinator's port
// 443), for nodes that cannot reach each other directly. A relay holds no
// key that decrypts what it carries: it sees WireGuard public keys and
// ciphertext.
//
// # Frames
//
// Every WebSocket binary message carries one or more frames, back to back,
// at most MaxMessage bytes in all:
//
//		type (1 byte) | WireGuard public key (32 bytes) | length (2 bytes, big-endian) | payload (length bytes, 1..MaxPayload)
//
//	  - SEND (1), node to relay: key is the destination, payload a
//	    WireGuard packet.
//	  - RECV (2), relay to node: key is the sender, payload its packet.
//	  - REFUSED (3), relay to node: key is the destination a SEND named,
//	    payload one Reason byte. At most one per destination every
//	    RefusalEvery per connection, and never larger than the SEND that
//	    caused it (36 bytes against at least 36), so a relay is no
//	    amplifier: each SEND in yields at most one frame out.
//
// A message with any malformed frame closes the connection, and none of
// its frames is relayed. Several frames per message let both ends write
// a burst of packets with one WebSocket message and one flush (a
// wireguard-go batch, or a relay connection's queue).
//
// MaxPayload is 1532 bytes: an overlay MTU up to 1500 (the largest a
// 1500-byte underlay allows a tunnel to offer its stack) plus WireGuard's
// 32-byte data header and tag; handshake messages are at most 148 bytes.
//
// # Admission
//
// The upgrade request carries, as "Authorization: Bearer", a token the
// coordinator signed with Ed25519 binding a WireGuard public key and node
// ID for at most MaxTokenLife; the connection speaks for that key only. A
// Server without a Verifier refuses everyone. Every SEND is checked with
// an Authorizer (are these two keys peers under the current policy?), and
// Server.Cut drops a key at once.
package relay

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/wardnet/ward/wire"
)

// Type is a frame's first byte.
type Type byte

// Frame types.
const (
	// TypeSend carries a node's packet to the key it names.
	TypeSend Type = 1
	// TypeRecv carries a packet to a node, naming its sender.
	TypeRecv Type = 2
	// TypeRefused tells a node the relay dropped its SEND to the key named.
	TypeRefused Type = 3
)

// Reason says why a SEND was refused.
type Reason byte

// Refusal reasons.
const (
	// NotPeer: the two keys are not peers under the current policy (or
	// either is cut).
	NotPeer Reason = 1
	// NotConnected: the destination has no connection to this relay.
	NotConnected Reason = 2
	// RateLimited: the sender exceeded its rate.
	RateLimited Reason = 3
)

// String names r.
func (r Reason) String() string {
	switch r {
	case NotPeer:
		return "not a peer"
	case NotConnected:
		return "not connected"
	case RateLimited:
		return "rate limited"
	}
	return fmt.Sprintf("reason %d", byte(r))
}

const (
	// HeaderLen is a frame's type byte, key and length.
	HeaderLen = 1 + 32 + 2
	// MaxOverlayMTU is the largest overlay MTU whose packets fit.
	MaxOverlayMTU = 1500
	// WireGuardOverhead is a WireGuard data message's header (16) and
	// authentication tag (16).
	WireGuardOverhead = 32
	// MaxPayload is the largest packet a frame carries.
	MaxPayload = MaxOverlayMTU + WireGuardOverhead
	// MaxFrame is the largest frame.
	MaxFrame = HeaderLen + MaxPayload
	// MaxMessage is the largest WebSocket message: 32 KiB, at least 20
	// full-size frames.
	MaxMessage = 32 << 10
)

// ErrBadFrame refuses a message that is not a well-formed frame.
var ErrBadFrame = errors.New("relay: malformed frame")

// Frame is one decoded frame. Payload aliases the decoded buffer.
type Frame struct {
	Type    Type
	Key     wire.WGPublic
	Payload []byte
}

// Reason returns a REFUSED frame's reason.
func (f Frame) Reason() Reason {
	if f.Type != TypeRefused || len(f.Payload) != 1 {
		return 0
	}
	return Reason(f.Payload[0])
}

// Next decodes the frame at the start of msg and returns it and the bytes
// after it; the frame's Payload aliases msg.
func Next(msg []byte) (Frame, []byte, error) {
	if len(msg) < HeaderLen+1 {
		return Frame{}, nil, fmt.Errorf("%w: %d bytes", ErrBadFrame, len(msg))
	}
	n := int(binary.BigEndian.Uint16(msg[HeaderLen-2 : HeaderLen]))
	if n == 0 || n > MaxPayload || n > len(msg)-HeaderLen {
		return Frame{}, nil, fmt.Errorf("%w: payload of %d bytes in %d", ErrBadFrame, n, len(msg)-HeaderLen)
	}
	f := Frame{Type: Type(msg[0]), Payload: msg[HeaderLen : HeaderLen+n]}
	copy(f.Key[:], msg[1:HeaderLen-2])
	switch f.Type {
	case TypeSend, TypeRecv:
	case TypeRefused:
		if n != 1 || f.Reason() < NotPeer || f.Reason() > RateLimited {
			return Frame{}, nil, fmt.Errorf("%w: bad refusal", ErrBadFrame)
		}
	default:
		return Frame{}, nil, fmt.Errorf("%w: type %d", ErrBadFrame, msg[0])
	}
	return f, msg[HeaderLen+n:], nil
}

// checkMessage reports whether msg is a well-formed message: one or more
// frames, at most MaxMessage bytes in all, all SENDs (a node's message) or
// all RECVs and REFUSEDs (fromRelay: the relay's).
func checkMessage(msg []byte, fromRelay bool) error {
	if len(msg) > MaxMessage {
		return fmt.Errorf("%w: message of %d bytes", ErrBadFrame, len(msg))
	}
	for {
		f, rest, err := Next(msg)
		if err != nil {
			return err
		}
		if (f.Type == TypeSend) == fromRelay {
			return fmt.Errorf("%w: type %d in a message from %s", ErrBadFrame, f.Type, sender(fromRelay))
		}
		if len(rest) == 0 {
			return nil
		}
		msg = rest
	}
}

// Append appends the frame (t, key, payload) to dst; payload must be
// 1..MaxPayload bytes.
func Append(dst []byte, t Type, key wire.WGPublic, payload []byte) []byte {
	dst = append(dst, byte(t))
	dst = append(dst, key[:]...)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(payload)))
	return append(dst, payload...)
}

func sender(fromRelay bool) string {
	if fromRelay {
		return "the relay"
	}
	return "a node"
}
