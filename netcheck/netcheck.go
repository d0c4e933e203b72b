// Package netcheck finds out what the network between a node and the
// internet does to its UDP: the node's reflexive address(es) as STUN
// servers see them, whether UDP gets out at all, and whether the NAT maps
// a socket to one public address whatever the destination (endpoint-
// independent mapping, which hole punching can cross) or to a new one per
// destination (symmetric, which needs a relay or many probe ports).
//
// Classify is the pure decision; Probe and Run do the I/O.
package netcheck

import (
	"time"

	"fmt"
	"net/netip"
	"slices"
)

// NATType is what Classify concludes about the node's NAT.
type NATType string

// The NAT types. EndpointIndependent includes "no NAT at all": both map a
// socket to one address for every destination, which is what matters for
// direct paths.
const (
	// Unknown: fewer than two servers answered, so nothing can be compared.
	Unknown NATType = "unknown"
	// EndpointIndependent: every server saw the same address and port.
	EndpointIndependent NATType = "endpoint-independent"
	// Symmetric: servers saw different addresses or ports for one socket.
	Symmetric NATType = "symmetric"
	// UDPBlocked: no server answered over UDP.
	UDPBlocked NATType = "udp-blocked"
)

// Observation is what one STUN server said about the probing socket.
type Observation struct {
	// Server is the STUN server's address.
	Server netip.AddrPort
	// Mapped is the address the server saw the request come from; invalid
	// when Err is set.
	Mapped netip.AddrPort
	// Err says why there is no answer (a timeout, a bad reply).
	Err error
	// RTT is the round trip from the last send of the request to its
	// answer; zero when Err is set.
	RTT time.Duration
}

// Report is the outcome of a netcheck.
type Report struct {
	// NAT is the NAT type.
	NAT NATType
	// UDP tells whether any server answered over UDP.
	UDP bool
	// Reflexive lists the distinct mapped addresses, in server order.
	Reflexive []netip.AddrPort
	// Observations holds every server's answer or error.
	Observations []Observation
}

// Classify decides the NAT type from the observations of one socket. Two
// servers must differ in address or port for their answers to count twice;
// Probe asks each address once.
func Classify(obs []Observation) Report {
	r := Report{NAT: Unknown, Observations: obs}
	answered := 0
	for _, o := range obs {
		if o.Err != nil || !o.Mapped.IsValid() {
			continue
		}
		answered++
		if !slices.Contains(r.Reflexive, o.Mapped) {
			r.Reflexive = append(r.Reflexive, o.Mapped)
		}
	}
	switch {
	case len(obs) > 0 && answered == 0:
		r.NAT = UDPBlocked
	case len(r.Reflexive) > 1:
		r.NAT = Symmetric
	case answered >= 2:
		r.NAT = EndpointIndependent
	}
	r.UDP = answered > 0
	return r
}

// String renders r for people, one fact a line.
func (r Report) String() string {
	s := fmt.Sprintf("UDP: %v\nNAT: %s\n", r.UDP, r.NAT)
	for _, a := range r.Reflexive {
		s += fmt.Sprintf("reflexive address: %s\n", a)
	}
	for _, o := range r.Observations {
		if o.Err != nil {
			s += fmt.Sprintf("stun %s: %v\n", o.Server, o.Err)
		} else {
			s += fmt.Sprintf("stun %s: sees %s in %s\n", o.Server, o.Mapped, o.RTT.Round(10*time.Microsecond))
		}
	}
	return s
}
