package acl

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/wardnet/ward/filter"
)

// DefaultMaxRequest caps a request when neither its grant nor the
// device's risk class sets a maxDuration.
const DefaultMaxRequest = 8 * time.Hour

// ErrNotRequestable is a request no approval grant of the policy covers.
var ErrNotRequestable = errors.New("no approval grant of the policy covers this request")

// Requirement is what an access request needs, from the approval grant
// that covers it and the device's risk class.
type Requirement struct {
	// Grant is the position of the approval grant.
	Grant Pos `json:"grant"`
	// Approval is the grant's approval group; ClassApproval the device's
	// risk class's, empty when it names none. An approver belongs to both.
	Approval      string `json:"approval"`
	ClassApproval string `json:"class_approval,omitempty"`
	// MaxDuration is the longest the access may last.
	MaxDuration time.Duration `json:"max_duration"`
}

// Requestable returns what a request by the person email for a flow over
// proto to port on device n needs: the first approval grant whose src
// covers the person and whose dst covers the device, port and protocol.
// ErrNotRequestable when none does.
func (rs *Ruleset) Requestable(email string, n Node, proto filter.Proto, port uint16) (Requirement, error) {
	c := &Compiled{rs: rs}
	person := &nodeState{Node: Node{User: email}}
	dev := nodeStateOf(rs, n)
	for _, ru := range rs.requestable {
		if !slices.ContainsFunc(ru.src, func(a alias) bool { return c.matches(a, person) }) ||
			!slices.Contains(effectiveProtos(ru.protos), proto) || !ruleReaches(c, ru, dev, port) {
			continue
		}
		q := Requirement{Grant: ru.pos, Approval: ru.approval, MaxDuration: ru.maxDuration}
		rc, _ := rs.RiskClass(dev.risk)
		q.ClassApproval = rc.Approval
		for _, d := range []time.Duration{rc.MaxDuration, DefaultMaxRequest} {
			if d > 0 && (q.MaxDuration == 0 || d < q.MaxDuration) {
				q.MaxDuration = d
			}
		}
		return q, nil
	}
	return Requirement{}, fmt.Errorf("%w: %s to %s port %d", ErrNotRequestable, email, n.Name, port)
}

// MayApprove reports whether the person email may approve a request
// with requirement q: a member of its approval group, and of the risk
// class's when it names one.
func (rs *Ruleset) MayApprove(q Requirement, email string) bool {
	in := func(g string) bool { return g == "" || slices.Contains(rs.groups[g], email) }
	return email != "" && q.Approval != "" && in(q.Approval) && in(q.ClassApproval)
}

func effectiveProtos(ps []filter.Proto) []filter.Proto {
	if len(ps) == 0 {
		return filter.DefaultProtos()
	}
	return ps
}

// ruleReaches reports whether a dst entry of ru covers device dev on port.
func ruleReaches(c *Compiled, ru rule, dev *nodeState, port uint16) bool {
	return slices.ContainsFunc(ru.dst, func(e dstEntry) bool {
		return e.alias.kind != kindSelf && c.matches(e.alias, dev) &&
			slices.ContainsFunc(e.ports, func(r filter.PortRange) bool { return r.Contains(port) })
	})
}

func nodeStateOf(rs *Ruleset, n Node) *nodeState {
	ns := &nodeState{Node: n, tagged: len(n.Tags) > 0, risk: rs.RiskOf(n.Risk)}
	for _, a := range []netip.Addr{n.IPv4, n.IPv6} {
		if a.IsValid() {
			ns.own = append(ns.own, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return ns
}

// TimedAccess is an approved request: the person User may open flows
// over Proto to Port on the device with addresses Addrs until Expires.
type TimedAccess struct {
	User    string
	Addrs   []netip.Addr
	Proto   filter.Proto
	Port    uint16
	Expires time.Time
}

// WithTimedAccess returns a copy of rs that also grants each of ts, as a
// rule from the person's nodes to the device's addresses whose compiled
// filter rules carry its Expires (so nodes end it on their own clock).
// rs is unchanged.
func (rs *Ruleset) WithTimedAccess(ts []TimedAccess) *Ruleset {
	if len(ts) == 0 {
		return rs
	}
	cp := *rs
	cp.rules = slices.Clone(rs.rules)
	for _, t := range ts {
		ru := rule{src: []alias{{kind: kindUser, name: t.User, text: t.User}}, protos: []filter.Proto{t.Proto}, expires: t.Expires}
		for _, a := range t.Addrs {
			p := netip.PrefixFrom(a, a.BitLen())
			ru.dst = append(ru.dst, dstEntry{alias: alias{kind: kindPrefix, prefix: p, text: p.String()},
				ports: []filter.PortRange{{First: t.Port, Last: t.Port}}})
		}
		if len(ru.dst) > 0 {
			cp.rules = append(cp.rules, ru)
		}
	}
	return &cp
}

// ParseRequestProto parses the protocol of a request: a name the policy
// knows ("tcp", "udp", "sctp") or a number; empty is tcp. A name that
// stands for several protocols is an error.
func ParseRequestProto(s string) (filter.Proto, error) {
	if s == "" {
		return filter.ProtoTCP, nil
	}
	ps, err := parseProto(s)
	if err != nil {
		return 0, err
	}
	if len(ps) != 1 {
		return 0, fmt.Errorf("protocol %q names %d protocols; a request names one", s, len(ps))
	}
	return ps[0], nil
}
