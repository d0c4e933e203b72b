// Package filter holds Ward's packet-filter rules and the compiled matcher
// that enforces them.
//
// A node's inbound filter is a list of Rules computed by the coordinator from
// the ACL policy (package acl) and shipped to the node over the control
// protocol. The node compiles them into a Matcher, an immutable structure that
// answers "may a new flow from src to dst:port over proto start?" without
// allocating. The policy's own tests are checked with the same Matcher, so the
// data plane and the policy checker can never drift apart.
//
// The package imports nothing of Ward's.
package filter

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

// Proto is an IANA IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6...).
type Proto uint8

// Well-known protocol numbers.
const (
	ProtoICMP   Proto = 1
	ProtoTCP    Proto = 6
	ProtoUDP    Proto = 17
	ProtoICMPv6 Proto = 58
	ProtoSCTP   Proto = 132
)

// DefaultProtos returns the protocols a rule covers when it names none: TCP,
// UDP, ICMP and ICMPv6. The slice is the caller's.
func DefaultProtos() []Proto { return []Proto{ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6} }

// HasPorts reports whether packets of protocol p carry ports that a rule's
// port ranges restrict. Other protocols (ICMP, GRE, ...) ignore port ranges.
func (p Proto) HasPorts() bool {
	return p == ProtoTCP || p == ProtoUDP || p == ProtoSCTP
}

// MarshalJSON encodes p as a JSON number (a []Proto would otherwise encode as
// base64, like []byte).
func (p Proto) MarshalJSON() ([]byte, error) {
	return strconv.AppendUint(nil, uint64(p), 10), nil
}

// UnmarshalJSON decodes a JSON number between 0 and 255.
func (p *Proto) UnmarshalJSON(b []byte) error {
	n, err := strconv.ParseUint(string(b), 10, 8)
	if err != nil {
		return fmt.Errorf("protocol number %s: %w", b, err)
	}
	*p = Proto(n)
	return nil
}

// PortRange is an inclusive range of destination ports.
type PortRange struct {
	First uint16 `json:"first"`
	Last  uint16 `json:"last"`
}

// AllPorts returns the range 0-65535.
func AllPorts() PortRange { return PortRange{First: 0, Last: 65535} }

// Contains reports whether port lies in r.
func (r PortRange) Contains(port uint16) bool { return r.First <= port && port <= r.Last }

// String formats r as "22" or "80-443" or "*".
func (r PortRange) String() string {
	switch {
	case r == AllPorts():
		return "*"
	case r.First == r.Last:
		return strconv.Itoa(int(r.First))
	default:
		return fmt.Sprintf("%d-%d", r.First, r.Last)
	}
}

// DstNet is one destination of a rule: an address prefix and the ports
// allowed on it.
type DstNet struct {
	Net   netip.Prefix `json:"net"`
	Ports []PortRange  `json:"ports"`
}

// Rule allows new flows whose source is in Src, whose destination is in one
// of Dst (address and port), and whose protocol is one of Protos; a Deny
// rule refuses them instead. Denies come first: a flow that any deny rule
// matches is refused whatever the accept rules say, and a flow no rule
// matches is refused too (default deny).
//
// Rule's JSON (with DstNet's, PortRange's and Proto's) is part of the
// control protocol's wire format: the coordinator sends each node its
// rules in wire.MapResponse.Filter. Changing a field's name, type or
// meaning needs a protocol version bump (wire.ProtocolVersion); wire's
// TestControlMessagesGolden pins the encoding.
type Rule struct {
	// Src lists the source prefixes. Never empty in a compiled rule.
	Src []netip.Prefix `json:"src"`
	// Dst lists the destinations. Never empty in a compiled rule.
	Dst []DstNet `json:"dst"`
	// Protos lists the IP protocols; empty means DefaultProtos().
	Protos []Proto `json:"protos"`
	// Deny makes the rule refuse the flows it matches, ahead of every
	// accept rule. False (an accept rule) when absent. Since protocol
	// version 11 (wire.FeatureDenyRules); a coordinator never sends a
	// deny rule to an older node, which would read it as an accept.
	Deny bool `json:"deny,omitempty"`
	// Expires is when the rule stops applying (a time-bound grant); zero
	// for a rule without end. The Matcher ignores it: a node compiles only
	// the rules LiveAt its clock, and compiles again when one expires, so
	// the rule ends on time even while the coordinator is unreachable.
	// Since protocol version 11 (wire.FeatureDenyRules); a coordinator
	// never sends an expiring rule to an older node, which would keep it.
	Expires time.Time `json:"expires,omitzero"`
}

// LiveAt returns the rules of rules that apply at now (Expires zero or
// after now), and the earliest Expires after now among them (zero when
// none ends). It returns rules itself when none has an Expires.
func LiveAt(rules []Rule, now time.Time) ([]Rule, time.Time) {
	if !slices.ContainsFunc(rules, func(r Rule) bool { return !r.Expires.IsZero() }) {
		return rules, time.Time{}
	}
	var live []Rule
	var next time.Time
	for _, r := range rules {
		if r.Expires.IsZero() {
			live = append(live, r)
			continue
		}
		if now.Before(r.Expires) {
			live = append(live, r)
			if next.IsZero() || r.Expires.Before(next) {
				next = r.Expires
			}
		}
	}
	return live, next
}

// EffectiveProtos returns r.Protos, or DefaultProtos() when it is empty.
func (r Rule) EffectiveProtos() []Proto {
	if len(r.Protos) == 0 {
		return DefaultProtos()
	}
	return r.Protos
}

// Validate checks that r is well formed: masked prefixes, non-empty lists,
// ordered port ranges. A node validates every rule it receives.
func (r Rule) Validate() error {
	if len(r.Src) == 0 || len(r.Dst) == 0 {
		return fmt.Errorf("rule has no source or no destination")
	}
	for _, p := range r.Src {
		if !p.IsValid() {
			return fmt.Errorf("invalid source prefix %v", p)
		}
	}
	for _, d := range r.Dst {
		if !d.Net.IsValid() {
			return fmt.Errorf("invalid destination prefix %v", d.Net)
		}
		if len(d.Ports) == 0 {
			return fmt.Errorf("destination %v has no ports", d.Net)
		}
		for _, pr := range d.Ports {
			if pr.First > pr.Last {
				return fmt.Errorf("destination %v: port range %d-%d is reversed", d.Net, pr.First, pr.Last)
			}
		}
	}
	return nil
}

// compile-time check that Proto encodes as a number.
var _ json.Marshaler = Proto(0)
