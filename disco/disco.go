// Package disco is Ward's path-discovery protocol: small messages two
// peers exchange over UDP (on WireGuard's own socket) and over the relay
// to find and check a direct path between them. A message is sealed
// with a key only the two peers can compute (X25519 of one's WireGuard
// private key and the other's public key, hashed with a label that keeps
// it apart from WireGuard's own use of those keys), so a stranger can
// neither forge a ping or a pong nor read the addresses a peer offers.
//
// A packet is:
//
//	magic (6) | sender's WireGuard public key (32) | nonce (24) | sealed body
//
// and the body, before sealing with XChaCha20-Poly1305:
//
//	type (1) | transaction id (12) | payload
//
// The magic's first byte ('W', 0x57) is neither a WireGuard message type
// (1 to 4) nor the start of a STUN message (its two top bits are 01, STUN
// needs 00), so one socket carries all three.
//
// A receiver drops a message of a type it does not know: a new type is
// how the protocol grows without breaking older nodes (TypeNAT came with
// birthday probing; a node that predates it just takes no part in it).
package disco

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/crypto/blake2s"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"

	"github.com/wardnet/ward/wire"
)

// Magic starts every disco packet.
const Magic = "WDISC\x01"

// Sizes of a packet's parts.
const (
	keyLen    = 32
	nonceLen  = chacha20poly1305.NonceSizeX
	headerLen = len(Magic) + keyLen + nonceLen
	// TxIDLen is the length of a transaction id.
	TxIDLen = 12
	addrLen = 18 // 16-byte address (IPv4 mapped) and a big-endian port
	// MaxEndpoints bounds the endpoints one CallMeMaybe carries.
	MaxEndpoints = 16
	// MaxPacketLen bounds a disco packet.
	MaxPacketLen = headerLen + 1 + TxIDLen + 1 + MaxEndpoints*addrLen + chacha20poly1305.Overhead
)

// Type is a message's type.
type Type byte

// The message types.
const (
	// TypePing asks the receiver to answer with a Pong to the address the
	// ping came from.
	TypePing Type = 1
	// TypePong answers a Ping with the address the ping came from (as the
	// answering peer saw it).
	TypePong Type = 2
	// TypeCallMeMaybe, sent over the relay, lists the sender's
	// endpoints and asks the receiver to ping them now, so both sides'
	// NATs open at the same time.
	TypeCallMeMaybe Type = 3
	// TypeNAT, sent over the relay, tells the receiver the sender's NAT
	// class (as its STUN servers show it) and its reflexive address;
	// with Probe set the sender, behind a hard NAT, has just opened its
	// probe sockets and asks the receiver to probe its public address's
	// ports now (birthday probing). Since type 4 was added: older nodes
	// drop it.
	TypeNAT Type = 4
)

// NATClass is a node's NAT as its STUN servers show it.
type NATClass byte

// The NAT classes a TypeNAT message carries.
const (
	// NATEasy maps a socket to one public address for every destination
	// (endpoint-independent mapping, or no NAT).
	NATEasy NATClass = 1
	// NATHard maps a socket to a new public port per destination
	// (symmetric NAT).
	NATHard NATClass = 2
)

// natFlagProbe is TypeNAT's flag byte bit for Message.Probe.
const natFlagProbe = 1

// Errors of Open.
var (
	// ErrNotDisco is a packet without the magic.
	ErrNotDisco = errors.New("disco: not a disco packet")
	// ErrMalformed is a disco packet that cannot be parsed.
	ErrMalformed = errors.New("disco: malformed packet")
	// ErrAuth is a packet that does not open with the key of the peer it
	// claims to come from.
	ErrAuth = errors.New("disco: packet fails authentication")
)

// TxID identifies a ping and the pong that answers it.
type TxID [TxIDLen]byte

// NewTxID returns a random transaction id.
func NewTxID() TxID {
	var t TxID
	rand.Read(t[:])
	return t
}

// Message is one disco message.
type Message struct {
	Type Type
	TxID TxID
	// Src is, in a Pong, the address the ping came from.
	Src netip.AddrPort
	// Endpoints are, in a CallMeMaybe, the sender's endpoints.
	Endpoints []netip.AddrPort
	// NAT, Reflexive and Probe are, in a NAT message, the sender's NAT
	// class, its reflexive address (its public IP is where probes go),
	// and whether it asks the receiver to probe now.
	NAT       NATClass
	Reflexive netip.AddrPort
	Probe     bool
}

// Key is the symmetric key two peers seal their messages with.
type Key [chacha20poly1305.KeySize]byte

// keyLabel keeps disco's key apart from every other use of the X25519
// result of the two WireGuard keys.
const keyLabel = "ward disco v1 key"

// SharedKey returns the key between the holder of priv and the peer with
// public key pub (the same on both sides). It fails for a public key
// that gives a low-order result.
func SharedKey(priv wire.WGPrivate, pub wire.WGPublic) (Key, error) {
	dh, err := curve25519.X25519(priv[:], pub[:])
	if err != nil {
		return Key{}, fmt.Errorf("disco key with %s: %w", pub.ShortString(), err)
	}
	h, _ := blake2s.New256(nil)
	h.Write([]byte(keyLabel))
	h.Write(dh)
	var k Key
	h.Sum(k[:0])
	return k, nil
}

// Is reports whether pkt starts with the magic.
func Is(pkt []byte) bool { return len(pkt) >= len(Magic) && string(pkt[:len(Magic)]) == Magic }

// Sender returns the public key a disco packet claims to come from, so
// the receiver can pick the key to open it with.
func Sender(pkt []byte) (wire.WGPublic, error) {
	if !Is(pkt) {
		return wire.WGPublic{}, ErrNotDisco
	}
	if len(pkt) < headerLen {
		return wire.WGPublic{}, ErrMalformed
	}
	var k wire.WGPublic
	copy(k[:], pkt[len(Magic):len(Magic)+keyLen])
	return k, nil
}

// Seal returns m as a packet from the holder of the public key from,
// sealed with key.
func Seal(key Key, from wire.WGPublic, m Message) ([]byte, error) {
	body, err := m.marshal()
	if err != nil {
		return nil, err
	}
	aead, _ := chacha20poly1305.NewX(key[:])
	out := make([]byte, headerLen, headerLen+len(body)+aead.Overhead())
	copy(out, Magic)
	copy(out[len(Magic):], from[:])
	nonce := out[len(Magic)+keyLen : headerLen]
	rand.Read(nonce)
	return aead.Seal(out, nonce, body, out[:len(Magic)+keyLen]), nil
}

// Open authenticates pkt with key and returns its message. The header
// (magic and sender) is authenticated data: a packet whose claimed
// sender was changed fails.
func Open(key Key, pkt []byte) (Message, error) {
	if !Is(pkt) {
		return Message{}, ErrNotDisco
	}
	if len(pkt) < headerLen+chacha20poly1305.Overhead || len(pkt) > MaxPacketLen {
		return Message{}, ErrMalformed
	}
	aead, _ := chacha20poly1305.NewX(key[:])
	body, err := aead.Open(nil, pkt[len(Magic)+keyLen:headerLen], pkt[headerLen:], pkt[:len(Magic)+keyLen])
	if err != nil {
		return Message{}, ErrAuth
	}
	return parse(body)
}

// marshal encodes m's body.
func (m Message) marshal() ([]byte, error) {
	b := make([]byte, 0, 1+TxIDLen+1+len(m.Endpoints)*addrLen)
	b = append(b, byte(m.Type))
	b = append(b, m.TxID[:]...)
	switch m.Type {
	case TypePing:
	case TypePong:
		b = appendAddr(b, m.Src)
	case TypeCallMeMaybe:
		if len(m.Endpoints) > MaxEndpoints {
			return nil, fmt.Errorf("disco: %d endpoints, at most %d", len(m.Endpoints), MaxEndpoints)
		}
		b = append(b, byte(len(m.Endpoints)))
		for _, ep := range m.Endpoints {
			b = appendAddr(b, ep)
		}
	case TypeNAT:
		if m.NAT != NATEasy && m.NAT != NATHard {
			return nil, fmt.Errorf("disco: unknown NAT class %d", m.NAT)
		}
		var flags byte
		if m.Probe {
			flags |= natFlagProbe
		}
		b = append(b, byte(m.NAT), flags)
		b = appendAddr(b, m.Reflexive)
	default:
		return nil, fmt.Errorf("disco: unknown message type %d", m.Type)
	}
	return b, nil
}

// parse decodes a body; anything but an exact, known message fails.
func parse(b []byte) (Message, error) {
	if len(b) < 1+TxIDLen {
		return Message{}, ErrMalformed
	}
	m := Message{Type: Type(b[0])}
	copy(m.TxID[:], b[1:1+TxIDLen])
	rest := b[1+TxIDLen:]
	switch m.Type {
	case TypePing:
		if len(rest) != 0 {
			return Message{}, ErrMalformed
		}
	case TypePong:
		if len(rest) != addrLen {
			return Message{}, ErrMalformed
		}
		m.Src = parseAddr(rest)
	case TypeCallMeMaybe:
		if len(rest) < 1 || int(rest[0]) > MaxEndpoints || len(rest) != 1+int(rest[0])*addrLen {
			return Message{}, ErrMalformed
		}
		for i := range int(rest[0]) {
			m.Endpoints = append(m.Endpoints, parseAddr(rest[1+i*addrLen:]))
		}
	case TypeNAT:
		// Flag bits other than Probe are ignored: later versions may set
		// them.
		if len(rest) != 2+addrLen || (NATClass(rest[0]) != NATEasy && NATClass(rest[0]) != NATHard) {
			return Message{}, ErrMalformed
		}
		m.NAT, m.Probe = NATClass(rest[0]), rest[1]&natFlagProbe != 0
		m.Reflexive = parseAddr(rest[2:])
	default:
		return Message{}, ErrMalformed
	}
	return m, nil
}

func appendAddr(b []byte, ap netip.AddrPort) []byte {
	a := ap.Addr().As16()
	b = append(b, a[:]...)
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

func parseAddr(b []byte) netip.AddrPort {
	a := netip.AddrFrom16([16]byte(b[:16])).Unmap()
	return netip.AddrPortFrom(a, binary.BigEndian.Uint16(b[16:18]))
}
