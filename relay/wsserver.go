package relay

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// The relay's side of a WebSocket (RFC 6455) is its own: it keeps no
// buffer while a connection is idle and reads frames straight into a
// pooled message buffer. Nodes dial with github.com/coder/websocket.

// errUpgrade refuses an upgrade request that is not a WebSocket one.
var errUpgrade = errors.New("relay: not a WebSocket upgrade")

// errPeerClosed ends a connection whose peer sent a close frame.
var errPeerClosed = errors.New("relay: peer closed the WebSocket")

// WebSocket opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xa
)

// Frame header sizes: a client's (masked) at most, and a server's
// (unmasked) at most.
const (
	maxClientHeader = 14
	maxServerHeader = 10
	// maxControl is a control frame's largest payload.
	maxControl = 125
)

// WebSocket close codes the relay sends.
const (
	closeNormal          = 1000
	closeProtocolError   = 1002
	closePolicyViolation = 1008
)

// wsGUID is RFC 6455's key suffix for Sec-WebSocket-Accept.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// checkUpgrade checks that r asks for a WebSocket (version 13) and returns
// its Sec-WebSocket-Accept. A request with an Origin must come from r's
// own host (a browser page elsewhere may not open it).
func checkUpgrade(r *http.Request) (string, error) {
	if r.Method != http.MethodGet || !r.ProtoAtLeast(1, 1) ||
		!hasToken(r.Header, "Connection", "upgrade") || !hasToken(r.Header, "Upgrade", "websocket") ||
		r.Header.Get("Sec-WebSocket-Version") != "13" {
		return "", errUpgrade
	}
	k := r.Header.Get("Sec-WebSocket-Key")
	if raw, err := base64.StdEncoding.DecodeString(k); err != nil || len(raw) != 16 {
		return "", fmt.Errorf("%w: bad Sec-WebSocket-Key", errUpgrade)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return "", fmt.Errorf("%w: origin %q", errUpgrade, o)
		}
	}
	sum := sha1.Sum([]byte(k + wsGUID))
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// hasToken reports whether header name's comma-separated values hold tok
// (case-insensitive).
func hasToken(h http.Header, name, tok string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), tok) {
				return true
			}
		}
	}
	return false
}

// upgradeResponse is the answer to an upgrade with Sec-WebSocket-Accept
// accept: no subprotocol, no extension (so no compression).
func upgradeResponse(accept string) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + accept + "\r\n\r\n"
}

// frameHeader is a client frame's header.
type frameHeader struct {
	fin    bool
	op     byte
	length int
	mask   [4]byte
}

// parseHeader parses the client frame header at the start of b: n is its
// length, 0 when b does not hold all of it yet. A frame the relay cannot
// take (reserved bits, unmasked, an unknown opcode, a control frame
// fragmented or over 125 bytes, a data frame over MaxMessage) is an error.
func parseHeader(b []byte) (h frameHeader, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	h.fin, h.op = b[0]&0x80 != 0, b[0]&0x0f
	switch {
	case b[0]&0x70 != 0:
		return h, 0, fmt.Errorf("%w: reserved bits set", ErrBadFrame)
	case b[1]&0x80 == 0:
		return h, 0, fmt.Errorf("%w: unmasked client frame", ErrBadFrame)
	case h.op > opBinary && h.op < opClose || h.op > opPong:
		return h, 0, fmt.Errorf("%w: opcode %d", ErrBadFrame, h.op)
	}
	l, n := uint64(b[1]&0x7f), 2
	switch l {
	case 126:
		if len(b) < 4 {
			return h, 0, nil
		}
		l, n = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return h, 0, nil
		}
		l, n = binary.BigEndian.Uint64(b[2:]), 10
	}
	if h.op >= opClose && (!h.fin || l > maxControl) {
		return h, 0, fmt.Errorf("%w: bad control frame", ErrBadFrame)
	}
	if l > MaxMessage {
		return h, 0, fmt.Errorf("%w: frame of %d bytes", ErrBadFrame, l)
	}
	if len(b) < n+4 {
		return h, 0, nil
	}
	h.length = int(l)
	copy(h.mask[:], b[n:])
	return h, n + 4, nil
}

// unmask unmasks p, a frame's payload masked with key.
func unmask(p []byte, key [4]byte) {
	k := uint64(binary.LittleEndian.Uint32(key[:]))
	k |= k << 32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k)
	}
	for ; i < len(p); i++ {
		p[i] ^= key[i&3]
	}
}

// putHeader writes an unmasked final frame header of type op for a
// payload of n bytes to the end of b (at least maxServerHeader long) and
// returns where it starts.
func putHeader(b []byte, op byte, n int) int {
	end := len(b)
	switch {
	case n <= maxControl:
		b[end-2], b[end-1] = 0x80|op, byte(n)
		return end - 2
	case n <= 0xffff:
		b[end-4], b[end-3] = 0x80|op, 126
		binary.BigEndian.PutUint16(b[end-2:], uint16(n))
		return end - 4
	default:
		b[end-10], b[end-9] = 0x80|op, 127
		binary.BigEndian.PutUint64(b[end-8:], uint64(n))
		return end - 10
	}
}
