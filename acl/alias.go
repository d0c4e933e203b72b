package acl

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/wardnet/ward/filter"
)

// aliasKind is what an alias in src or dst names.
type aliasKind uint8

const (
	kindAny      aliasKind = iota // *
	kindUser                      // alice@example.com
	kindGroup                     // group:ops
	kindTag                       // tag:camera
	kindMember                    // autogroup:member
	kindTagged                    // autogroup:tagged
	kindSelf                      // autogroup:self (dst only)
	kindInternet                  // autogroup:internet (dst only)
	kindPrefix                    // a hosts name, an IP or a CIDR
	kindRisk                      // risk:critical (the devices of a risk class)
	kindDomain                    // user:*@example.com (every user of a domain)
)

// alias is a resolved reference to a set of nodes or addresses.
type alias struct {
	kind aliasKind
	// name is the user email, group:name, tag:name, the risk class, or
	// the "@domain" of a kindDomain.
	name string
	// prefix is set for kindPrefix.
	prefix netip.Prefix
	// text is the alias as written.
	text string
}

// isIdentity reports whether the alias names nodes by who owns them.
func (a alias) isIdentity() bool { return a.kind != kindPrefix && a.kind != kindInternet }

// scope is what an alias may refer to: the policy's definitions.
type scope struct {
	groups map[string]bool
	tags   map[string]bool
	hosts  map[string]netip.Prefix
	risks  map[string]bool
	// cidrHosts holds the hosts names defined as a CIDR (even a /32),
	// which a policy test may not name.
	cidrHosts map[string]bool
}

// parseAlias resolves one alias. dst reports whether it appears in a
// destination (autogroup:self and autogroup:internet are only allowed there).
func (s *scope) parseAlias(text string, dst bool) (alias, error) {
	a := alias{text: text}
	switch {
	case text == "":
		return a, fmt.Errorf("empty alias")
	case text == "*":
		a.kind = kindAny
	case strings.HasPrefix(text, "user:"), strings.HasPrefix(text, "*@"):
		return userAlias(a)
	case strings.HasPrefix(text, "autogroup:"):
		return s.autogroup(a, dst)
	case strings.HasPrefix(text, "group:"):
		if !s.groups[text] {
			return a, fmt.Errorf("group %q is not defined in \"groups\" (nor supplied by the identity provider)", text)
		}
		a.kind, a.name = kindGroup, text
	case strings.HasPrefix(text, "risk:"):
		a.kind, a.name = kindRisk, strings.TrimPrefix(text, "risk:")
		if !s.risks[a.name] {
			return a, fmt.Errorf("risk class %q is not defined in \"riskClasses\"", a.name)
		}
	case strings.HasPrefix(text, "tag:"):
		if !s.tags[text] {
			return a, fmt.Errorf("tag %q has no entry in \"tagOwners\"", text)
		}
		a.kind, a.name = kindTag, text
	case strings.Contains(text, "@"):
		if err := checkUser(text); err != nil {
			return a, err
		}
		a.kind, a.name = kindUser, text
	default:
		return s.prefixAlias(a)
	}
	return a, nil
}

// userAlias resolves "user:alice@example.com" (Tailscale's explicit
// form of a user), and "user:*@example.com" or "*@example.com": every user
// whose email is in that domain.
func userAlias(a alias) (alias, error) {
	u := strings.TrimPrefix(a.text, "user:")
	if domain, ok := strings.CutPrefix(u, "*@"); ok {
		if domain == "" || strings.ContainsAny(domain, "@*") || checkUser("x@"+domain) != nil {
			return a, fmt.Errorf("bad user wildcard %q: expected *@domain", a.text)
		}
		a.kind, a.name = kindDomain, "@"+strings.ToLower(domain)
		return a, nil
	}
	if !strings.Contains(u, "@") || strings.Contains(u, "*") {
		return a, fmt.Errorf("bad user %q: expected user:name@domain or user:*@domain", a.text)
	}
	if err := checkUser(u); err != nil {
		return a, err
	}
	a.kind, a.name = kindUser, u
	return a, nil
}

// inDomain reports whether email belongs to the kindDomain name "@domain"
// (domains compare without regard to case).
func inDomain(email, name string) bool {
	at := strings.LastIndex(email, "@")
	return at > 0 && strings.EqualFold(email[at:], name)
}

func (s *scope) autogroup(a alias, dst bool) (alias, error) {
	switch a.text {
	case "autogroup:danger-all":
		// Every address, in the tailnet or not: Tailscale's explicit
		// spelling of what "*" means as a source.
		if dst {
			return a, fmt.Errorf("autogroup:danger-all can only be used in a source: use \"*\" in a destination")
		}
		a.kind = kindAny
	case "autogroup:member":
		a.kind = kindMember
	case "autogroup:tagged":
		a.kind = kindTagged
	case "autogroup:self":
		if !dst {
			return a, fmt.Errorf("autogroup:self can only be used in a destination")
		}
		a.kind = kindSelf
	case "autogroup:internet":
		if !dst {
			return a, fmt.Errorf("autogroup:internet can only be used in a destination")
		}
		a.kind = kindInternet
	default:
		return a, fmt.Errorf("unknown autogroup %q (known: autogroup:member, autogroup:tagged, autogroup:self, autogroup:internet, autogroup:danger-all)", a.text)
	}
	return a, nil
}

func (s *scope) prefixAlias(a alias) (alias, error) {
	a.kind = kindPrefix
	if p, ok := s.hosts[a.text]; ok {
		a.prefix = p
		return a, nil
	}
	p, err := parsePrefix(a.text)
	if err != nil {
		if !strings.ContainsAny(a.text, ":./") || isName(a.text) {
			return a, fmt.Errorf("%q is not a defined host, user, group:, tag:, autogroup:, IP or CIDR", a.text)
		}
		return a, err
	}
	a.prefix = p
	return a, nil
}

// parsePrefix parses an IP address (as a single-address prefix) or a CIDR.
func parsePrefix(text string) (netip.Prefix, error) {
	if strings.Contains(text, "/") {
		p, err := netip.ParsePrefix(text)
		if err != nil {
			return p, fmt.Errorf("bad CIDR %q: %v", text, err)
		}
		if p.Addr().Zone() != "" {
			return p, fmt.Errorf("bad CIDR %q: zones are not allowed", text)
		}
		if p.Masked() != p {
			return p, fmt.Errorf("bad CIDR %q: host bits are set (did you mean %s?)", text, p.Masked())
		}
		return p, nil
	}
	addr, err := netip.ParseAddr(text)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad IP address %q", text)
	}
	if addr.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("bad IP address %q: zones are not allowed", text)
	}
	addr = addr.Unmap()
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

func isName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return s != ""
}

func checkUser(s string) error {
	at := strings.LastIndex(s, "@")
	if at == 0 || strings.ContainsAny(s, " \t\r\n:,") {
		return fmt.Errorf("bad user %q: expected name@domain", s)
	}
	return nil
}

// splitHostPort splits "alias:ports" at the last colon, with IPv6 either in
// brackets ("[fd00::1]:22") or bare ("fd00::1:22", as Tailscale allows).
func splitHostPort(s string) (host, ports string, err error) {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 || end+1 >= len(s) || s[end+1] != ':' {
			return "", "", fmt.Errorf("bad destination %q: expected [IPv6]:ports", s)
		}
		return s[1:end], s[end+2:], nil
	}
	i := strings.LastIndex(s, ":")
	// "tag:camera" splits into "tag" and "camera": a prefixed alias
	// without ports, not an unknown host "tag".
	if i < 0 || isAliasPrefix(s[:i]) {
		return "", "", fmt.Errorf("destination %q has no ports: expected ALIAS:PORTS, for example %s:22 or %s:*", s, s, s)
	}
	return s[:i], s[i+1:], nil
}

func isAliasPrefix(s string) bool {
	return s == "tag" || s == "group" || s == "autogroup" || s == "user"
}

// parsePorts parses "*", "22", "80,443", "8000-8100" or a comma list of
// these into ranges.
func parsePorts(s string) ([]filter.PortRange, error) {
	if s == "*" {
		return []filter.PortRange{filter.AllPorts()}, nil
	}
	if s == "" {
		return nil, fmt.Errorf("empty port list")
	}
	var out []filter.PortRange
	for part := range strings.SplitSeq(s, ",") {
		r, err := parsePortRange(part)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func parsePortRange(s string) (filter.PortRange, error) {
	first, last, isRange := strings.Cut(s, "-")
	f, err := parsePort(first)
	if err != nil {
		return filter.PortRange{}, err
	}
	l := f
	if isRange {
		if l, err = parsePort(last); err != nil {
			return filter.PortRange{}, err
		}
		if f > l {
			return filter.PortRange{}, fmt.Errorf("port range %q is reversed: %d is above %d", s, f, l)
		}
	}
	return filter.PortRange{First: f, Last: l}, nil
}

func parsePort(s string) (uint16, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("bad port %q: expected a number from 0 to 65535, a range like 8000-8100, or *", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad port %q: above 65535", s)
	}
	return uint16(n), nil
}

// protoNames maps protocol names to IANA numbers. "icmp" covers both ICMP
// and ICMPv6, as admins expect ping to work over either family.
var protoNames = map[string][]filter.Proto{
	"tcp":       {filter.ProtoTCP},
	"udp":       {filter.ProtoUDP},
	"icmp":      {filter.ProtoICMP, filter.ProtoICMPv6},
	"ipv6-icmp": {filter.ProtoICMPv6},
	"icmpv6":    {filter.ProtoICMPv6},
	"sctp":      {filter.ProtoSCTP},
	"igmp":      {2},
	"ipv4":      {4},
	"ip-in-ip":  {4},
	"egp":       {8},
	"igp":       {9},
	"gre":       {47},
	"esp":       {50},
	"ah":        {51},
}

// parseProto parses a protocol name or number; "" means the defaults.
func parseProto(s string) ([]filter.Proto, error) {
	if s == "" {
		return nil, nil
	}
	if ps, ok := protoNames[strings.ToLower(s)]; ok {
		return ps, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil || n == 0 {
		return nil, fmt.Errorf("unknown protocol %q: use a name (tcp, udp, icmp, sctp, gre, esp, ah, ...) or a number from 1 to 255", s)
	}
	return []filter.Proto{filter.Proto(n)}, nil
}

// protosHavePorts reports whether every protocol in ps (nil = defaults)
// carries ports; ports other than * are only meaningful then.
func protosHavePorts(ps []filter.Proto) bool {
	if len(ps) == 0 {
		return true
	}
	for _, p := range ps {
		if !p.HasPorts() {
			return false
		}
	}
	return true
}
