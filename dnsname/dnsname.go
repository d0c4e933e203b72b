// Package dnsname is what a node's DNS name is: a label made from its
// hostname, checked when an admin picks one, and the fully qualified name
// under the fleet's domain. The coordinator names nodes with it, nodes
// resolve names with it, and the overlay resolver answers for it (a leaf).
package dnsname

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultDomain is the fleet domain when the coordinator is given none.
const DefaultDomain = "ward.internal"

// MaxBase is the longest label Label makes, leaving room under
// MaxLabel for the numbered suffix a clash adds ("-2").
const MaxBase = 40

// MaxLabel is the longest DNS label (RFC 1035).
const MaxLabel = 63

// maxDomain bounds the fleet domain, leaving room for a label in the
// 253 characters of a name.
const maxDomain = 253 - MaxLabel - 1

// ErrInvalid reports a name or domain that is not what DNS allows.
var ErrInvalid = errors.New("invalid DNS name")

// Label derives a node's DNS label from a hostname: lowercased, every run
// of characters other than a-z, 0-9 and '-' made one '-', no '-' at
// either end, at most MaxBase characters; "node" when nothing is left.
func Label(hostname string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(hostname) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
			dash = r == '-'
			continue
		}
		if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	n := strings.Trim(b.String(), "-")
	if len(n) > MaxBase {
		n = strings.TrimRight(n[:MaxBase], "-")
	}
	if n == "" {
		return "node"
	}
	return n
}

// CheckLabel returns an error wrapping ErrInvalid, saying why, unless s
// is a node label: 1 to 63 of a-z, 0-9 and '-', not starting or ending
// with '-'. Upper case is refused, not folded, so a name is stored as
// it is shown.
func CheckLabel(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty name", ErrInvalid)
	case len(s) > MaxLabel:
		return fmt.Errorf("%w: %q is longer than %d characters", ErrInvalid, s, MaxLabel)
	case s[0] == '-' || s[len(s)-1] == '-':
		return fmt.Errorf("%w: %q starts or ends with '-'", ErrInvalid, s)
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("%w: %q holds %q (only a-z, 0-9 and '-')", ErrInvalid, s, r)
		}
	}
	return nil
}

// CheckDomain returns an error wrapping ErrInvalid unless d is a fleet
// domain: dot-separated labels (as CheckLabel, at least one), no
// trailing dot, at most 189 characters so a node's label still fits.
func CheckDomain(d string) error {
	if len(d) > maxDomain {
		return fmt.Errorf("%w: domain %q is longer than %d characters", ErrInvalid, d, maxDomain)
	}
	for _, l := range strings.Split(d, ".") {
		if err := CheckLabel(l); err != nil {
			return fmt.Errorf("domain %q: %w", d, err)
		}
	}
	return nil
}

// FQDN is label under domain, without a trailing dot ("camera-3.ward.internal");
// label alone when domain is empty.
func FQDN(label, domain string) string {
	if domain == "" {
		return label
	}
	return label + "." + domain
}

// Canonical lowercases name and drops one trailing dot: the form names
// are compared in.
func Canonical(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}
