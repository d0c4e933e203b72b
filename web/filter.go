package web

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/wardnet/ward/wire"
)

// soonFraction is the share of its life a key has left when it counts as
// expiring soon. A device rotates its key at three quarters of the key's
// life (node.DefaultRotateFraction), so a healthy device never shows
// "soon": one that does has missed its rotation. A person's key ends a
// quarter of its life before they must log in again.
const soonFraction = 0.25

// keySoon tells whether n's key is unexpired but has less than
// soonFraction of its life (n.KeyLifetime) left; never when the key never
// expires or its lifetime is unknown.
func keySoon(n wire.AdminNode, now time.Time) bool {
	exp, life := n.KeyExpiry, n.KeyLifetime()
	if nodeKeyExpired(n, now) || exp.IsZero() || life <= 0 {
		return false
	}
	return exp.Sub(now) < time.Duration(float64(life)*soonFraction)
}

// nodeKeyExpired tells whether n's key is expired (by the coordinator, or
// by the clock).
func nodeKeyExpired(n wire.AdminNode, now time.Time) bool {
	return n.Expired || (!n.KeyExpiry.IsZero() && !now.Before(n.KeyExpiry))
}

// nodeFilter narrows the fleet on the Devices page and GET nodes. Every
// field is optional; empty matches everything.
type nodeFilter struct {
	Q       string // substring of name, hostname, owner, tag or address
	Tag     string // exact tag ("tag:camera")
	Owner   string // exact owner email
	Status  string // "online" or "offline"
	OS      string // exact OS
	Version string // exact version
	Expiry  string // "expired", "soon" (keySoon), "valid", "never"
	Seen    string // "1h", "24h", "7d": seen within; "stale": not in 7 days
	Risk    string // exact (effective) risk class ("critical")
	now     time.Time
}

var (
	filterStatus = []string{"", "online", "offline"}
	filterExpiry = []string{"", "expired", "soon", "valid", "never"}
	filterSeen   = []string{"", "1h", "24h", "7d", "stale"}
)

// parseNodeFilter reads a nodeFilter from query parameters.
func parseNodeFilter(v url.Values, now time.Time) (nodeFilter, error) {
	f := nodeFilter{Q: strings.TrimSpace(v.Get("q")), Tag: v.Get("tag"), Owner: v.Get("owner"), Status: v.Get("status"),
		OS: v.Get("os"), Version: v.Get("version"), Expiry: v.Get("expiry"), Seen: v.Get("seen"), Risk: v.Get("risk"), now: now}
	for _, c := range []struct {
		name, val string
		ok        []string
	}{{"status", f.Status, filterStatus}, {"expiry", f.Expiry, filterExpiry}, {"seen", f.Seen, filterSeen}} {
		if !slices.Contains(c.ok, c.val) {
			return f, fmt.Errorf("%w: %s must be one of %s", ErrBadRequest, c.name, strings.Join(c.ok[1:], ", "))
		}
	}
	return f, nil
}

// matcher returns f.match, or nil when f matches every node (a page then
// reads no more nodes than it returns).
func (f nodeFilter) matcher() func(wire.AdminNode) bool {
	if f == (nodeFilter{now: f.now}) {
		return nil
	}
	return f.match
}

// apply returns the nodes f matches, in their order.
func (f nodeFilter) apply(nodes []wire.AdminNode) []wire.AdminNode {
	var out []wire.AdminNode
	for _, n := range nodes {
		if f.match(n) {
			out = append(out, n)
		}
	}
	return out
}

func (f nodeFilter) match(n wire.AdminNode) bool {
	return (f.Q == "" || f.matchQ(n)) &&
		(f.Tag == "" || slices.Contains(n.Tags, f.Tag)) &&
		(f.Owner == "" || n.User == f.Owner) &&
		(f.Status == "" || (f.Status == "online") == n.Online) &&
		(f.OS == "" || n.OS == f.OS) &&
		(f.Version == "" || n.Version == f.Version) &&
		(f.Risk == "" || n.RiskClass == f.Risk) &&
		f.matchExpiry(n) && f.matchSeen(n)
}

func (f nodeFilter) matchQ(n wire.AdminNode) bool {
	q := strings.ToLower(f.Q)
	fields := append([]string{n.Name, n.Hostname, n.User, n.IPv4.String(), n.IPv6.String()}, n.Tags...)
	for _, s := range fields {
		if strings.Contains(strings.ToLower(s), q) {
			return true
		}
	}
	return false
}

func (f nodeFilter) matchExpiry(n wire.AdminNode) bool {
	switch f.Expiry {
	case "expired":
		return nodeKeyExpired(n, f.now)
	case "soon":
		return keySoon(n, f.now)
	case "valid":
		return !nodeKeyExpired(n, f.now)
	case "never":
		return n.KeyExpiry.IsZero() && !n.Expired
	}
	return true
}

func (f nodeFilter) matchSeen(n wire.AdminNode) bool {
	within := map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}
	switch {
	case f.Seen == "":
		return true
	case f.Seen == "stale":
		return !n.Online && f.now.Sub(n.LastSeen) > within["7d"]
	}
	return n.Online || (!n.LastSeen.IsZero() && f.now.Sub(n.LastSeen) <= within[f.Seen])
}

// filterChoices are the values the Devices page offers in its selects.
type filterChoices struct {
	Tags, Owners, OSes, Versions, Risks []string
	Status, Expiry, Seen                []string
}

// with adds f's chosen values to c's lists, so that a choice made stays
// selectable when the devices shown (whose values c lists) lack it.
func (c filterChoices) with(f nodeFilter) filterChoices {
	add := func(list []string, v string) []string {
		if v == "" || slices.Contains(list, v) {
			return list
		}
		list = append(slices.Clone(list), v)
		slices.Sort(list)
		return list
	}
	c.Tags, c.Owners, c.OSes = add(c.Tags, f.Tag), add(c.Owners, f.Owner), add(c.OSes, f.OS)
	c.Versions, c.Risks = add(c.Versions, f.Version), add(c.Risks, f.Risk)
	return c
}

func choicesOf(nodes []wire.AdminNode) filterChoices {
	set := func(get func(wire.AdminNode) []string) []string {
		var out []string
		for _, n := range nodes {
			for _, s := range get(n) {
				if s != "" && !slices.Contains(out, s) {
					out = append(out, s)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	return filterChoices{
		Tags:     set(func(n wire.AdminNode) []string { return n.Tags }),
		Owners:   set(func(n wire.AdminNode) []string { return []string{n.User} }),
		OSes:     set(func(n wire.AdminNode) []string { return []string{n.OS} }),
		Versions: set(func(n wire.AdminNode) []string { return []string{n.Version} }),
		Risks:    set(func(n wire.AdminNode) []string { return []string{n.RiskClass} }),
		Status:   filterStatus[1:], Expiry: filterExpiry[1:], Seen: filterSeen[1:],
	}
}
