// Package relay forwards WireGuard's already-encrypted packets between two
// nodes over one WebSocket connection each (TLS on the coordinator's port
// 443), for nodes that cannot reach each other directly. A relay holds no
// key that decrypts what it carries: it sees WireGuard public keys and
// ciphertext.
//
// # Frames
//
// Every WebSocket binary message is one frame:
//
//		type (1 byte) | WireGuard public key (32 bytes) | payload (1..MaxPayload bytes)
//
//	  - SEND (1), node to relay: key is the destination, payload a
//	    WireGuard packet.
//	  - RECV (2), relay to node: key is the sender, payload its packet.
//	  - REFUSED (3), relay to node: key is the destination a SEND named,
//	    payload one Reason byte. At most one per destination every
//	    RefusalEvery per connection, and never larger than the SEND that
//	    caused it (34 bytes against at least 34), so a relay is no
//	    amplifier.
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
	// HeaderLen is a frame's type byte and key.
	HeaderLen = 1 + 32
	// MaxOverlayMTU is the largest overlay MTU whose packets fit.
	MaxOverlayMTU = 1500
	// WireGuardOverhead is a WireGuard data message's header (16) and
	// authentication tag (16).
	WireGuardOverhead = 32
	// MaxPayload is the largest packet a frame carries.
	MaxPayload = MaxOverlayMTU + WireGuardOverhead
	// MaxFrame is the largest frame.
	MaxFrame = HeaderLen + MaxPayload
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

// Decode parses one frame from b; the result's Payload aliases b.
func Decode(b []byte) (Frame, error) {
	if len(b) < HeaderLen+1 || len(b) > MaxFrame {
		return Frame{}, fmt.Errorf("%w: %d bytes", ErrBadFrame, len(b))
	}
	f := Frame{Type: Type(b[0]), Payload: b[HeaderLen:]}
	copy(f.Key[:], b[1:HeaderLen])
	switch f.Type {
	case TypeSend, TypeRecv:
	case TypeRefused:
		if len(f.Payload) != 1 || f.Reason() < NotPeer || f.Reason() > RateLimited {
			return Frame{}, fmt.Errorf("%w: bad refusal", ErrBadFrame)
		}
	default:
		return Frame{}, fmt.Errorf("%w: type %d", ErrBadFrame, b[0])
	}
	return f, nil
}

// Append appends the frame (t, key, payload) to dst.
func Append(dst []byte, t Type, key wire.WGPublic, payload []byte) []byte {
	dst = append(dst, byte(t))
	dst = append(dst, key[:]...)
	return append(dst, payload...)
}
