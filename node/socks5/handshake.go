package socks5

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
)

// Handshake errors.
var (
	errVersion = errors.New("not SOCKS version 5")
	errNoAuth  = errors.New("client does not offer no-authentication")
	errCommand = errors.New("command not supported")
	errAtyp    = errors.New("address type not supported")
)

// handshake reads the greeting and the request, answers the greeting, and
// returns the CONNECT target. On a bad request it sends the failure reply.
func handshake(c net.Conn) (string, uint16, error) {
	if err := greet(c); err != nil {
		return "", 0, err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return "", 0, fmt.Errorf("read request: %w", err)
	}
	if hdr[0] != version5 {
		return "", 0, errVersion
	}
	if hdr[1] != cmdConnect {
		writeReply(c, repCmdUnsup, nil)
		return "", 0, errCommand
	}
	host, err := readAddr(c, hdr[3])
	if err != nil {
		if errors.Is(err, errAtyp) {
			writeReply(c, repAtypUnsup, nil)
		}
		return "", 0, err
	}
	var port [2]byte
	if _, err := io.ReadFull(c, port[:]); err != nil {
		return "", 0, fmt.Errorf("read port: %w", err)
	}
	return host, binary.BigEndian.Uint16(port[:]), nil
}

// greet reads the method list and picks no authentication.
func greet(c net.Conn) error {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	if hdr[0] != version5 {
		return errVersion
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return fmt.Errorf("read methods: %w", err)
	}
	for _, m := range methods {
		if m == methodNoAuth {
			_, err := c.Write([]byte{version5, methodNoAuth})
			return err
		}
	}
	c.Write([]byte{version5, methodNone})
	return errNoAuth
}

// readAddr reads a DST.ADDR of type atyp and returns it as text.
func readAddr(c net.Conn, atyp byte) (string, error) {
	switch atyp {
	case atypIPv4, atypIPv6:
		b := make([]byte, 4)
		if atyp == atypIPv6 {
			b = make([]byte, 16)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return "", fmt.Errorf("read address: %w", err)
		}
		a, _ := netip.AddrFromSlice(b)
		return a.String(), nil
	case atypDomain:
		var n [1]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return "", fmt.Errorf("read name length: %w", err)
		}
		b := make([]byte, n[0])
		if _, err := io.ReadFull(c, b); err != nil {
			return "", fmt.Errorf("read name: %w", err)
		}
		return string(b), nil
	default:
		return "", errAtyp
	}
}

// writeReply sends a reply with code rep and bound address bound (may be
// nil: 0.0.0.0:0).
func writeReply(c net.Conn, rep byte, bound net.Addr) error {
	ap := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if a, err := netip.ParseAddrPort(addrString(bound)); err == nil {
		ap = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	}
	b := []byte{version5, rep, 0, atypIPv4}
	if ap.Addr().Is6() {
		b[3] = atypIPv6
	}
	b = append(b, ap.Addr().AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, ap.Port())
	_, err := c.Write(b)
	return err
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
