package webtest

import (
	"net/netip"
	"time"

	"github.com/wardnet/ward/wire"
)

// SeedPolicy is the policy a new Backend runs (version 1): operators reach
// the cameras' web and video ports, engineers SSH everywhere, sensors push
// MQTT to gateways.
const SeedPolicy = `// Ward policy: a small camera fleet.
{
  "groups": {
    "group:operators": ["alice@example.com", "carol@example.com"],
    "group:engineers": ["bob@example.com"],
  },
  "tagOwners": {
    "tag:camera":  ["group:engineers"],
    "tag:gateway": ["group:engineers"],
    "tag:sensor":  ["group:engineers"],
  },
  "acls": [
    // Operators reach the cameras' video and web UI.
    {"action": "accept", "src": ["group:operators"], "dst": ["tag:camera:80,443,554"]},
    // Engineers SSH into every device.
    {"action": "accept", "src": ["group:engineers"], "dst": ["tag:camera:22", "tag:gateway:22", "tag:sensor:22"]},
    // Sensors push MQTT to the gateways.
    {"action": "accept", "src": ["tag:sensor"], "dst": ["tag:gateway:8883"], "proto": "tcp"},
  ],
  "tests": [
    {"src": "alice@example.com", "accept": ["tag:camera:443"], "deny": ["tag:camera:22"]},
    {"src": "tag:sensor", "accept": ["tag:gateway:8883"]},
  ],
}
`

// seedNode describes one node of the seeded fleet.
type seedNode struct {
	name, user, os, version string
	tags                    []string
	online, revoked         bool
	seen, expiresIn         time.Duration
	ports                   []uint16
}

var seedNodes = []seedNode{
	{name: "cam-1", tags: []string{"tag:camera"}, os: "linux", version: "1.4.2", online: true, expiresIn: 20 * time.Hour, ports: []uint16{80, 443, 554}},
	{name: "cam-2", tags: []string{"tag:camera"}, os: "linux", version: "1.4.1", seen: 3 * time.Hour, expiresIn: 2 * time.Hour, ports: []uint16{80, 554}},
	{name: "gw-1", tags: []string{"tag:gateway"}, os: "linux", version: "1.4.2", online: true, expiresIn: 30 * time.Hour, ports: []uint16{22, 8883}},
	{name: "sensor-1", tags: []string{"tag:sensor"}, os: "freertos", version: "1.3.0", seen: 9 * 24 * time.Hour, expiresIn: -time.Hour, revoked: true},
	{name: "alice-laptop", user: "alice@example.com", os: "macos", version: "1.4.2", online: true, expiresIn: 10 * time.Hour},
	{name: "bob-laptop", user: "bob@example.com", os: "windows", version: "1.4.0", seen: 20 * time.Minute, expiresIn: 9 * time.Hour},
}

var seedUsers = []wire.AdminUser{
	{Email: "alice@example.com", Name: "Alice Operator", Groups: []string{"ops"}},
	{Email: "bob@example.com", Name: "Bob Engineer", Groups: []string{"eng", "ward-network"}},
	{Email: "carol@example.com", Name: "Carol Auditor", Groups: []string{"ops", "ward-audit"}},
	{Email: "dave@example.com", Name: "Dave Owner", Groups: []string{"ward-owners"}},
}

// seed fills b with the fleet, its users, a policy version and a few
// audit events. b.mu must be held.
func (b *Backend) seedLocked() {
	now := b.now().UTC()
	for i, s := range seedNodes {
		n := wire.AdminNode{Hostname: s.name + ".local", OS: s.os, Version: s.version, CreatedAt: now.Add(-30 * 24 * time.Hour),
			LastSeen: now.Add(-s.seen)}
		n.ID, n.Name, n.User, n.Tags, n.Online, n.ExposedPorts = wire.NodeID(i+1), s.name, s.user, s.tags, s.online, s.ports
		n.IPv4 = netip.AddrFrom4([4]byte{100, 64, 0, byte(i + 1)})
		n.IPv6 = netip.MustParseAddr("fd7a:115c:a1e0::").Next()
		for range i {
			n.IPv6 = n.IPv6.Next()
		}
		n.KeyExpiry = now.Add(s.expiresIn)
		n.KeyLifetimeMillis = (24 * time.Hour).Milliseconds() // the coordinator's default for devices
		if s.user != "" {
			n.KeyLifetimeMillis = (12 * time.Hour).Milliseconds() // and for people
		}
		n.Expired = s.expiresIn < 0
		n.KeyRevoked = s.revoked
		b.nodes = append(b.nodes, n)
	}
	for i, u := range seedUsers {
		u.ID, u.Issuer, u.Subject, u.CreatedAt = int64(i+1), "https://idp.example.com", u.Email, now.Add(-60*24*time.Hour)
		u.LastLogin, u.Nodes = now.Add(-time.Duration(i+1)*time.Hour), []string{}
		b.users = append(b.users, u)
	}
	b.policies = append(b.policies, wire.PolicyVersion{ID: 1, Text: SeedPolicy, Author: "user:dave@example.com",
		Comment: "initial policy", CreatedAt: now.Add(-7 * 24 * time.Hour)})
	for _, e := range []wire.AuditEvent{
		{Actor: "user:dave@example.com", Action: "policy.set", Target: "policy:1", Time: now.Add(-7 * 24 * time.Hour)},
		{Actor: "node:cam-1", Action: "node.online", Target: "node:cam-1", Time: now.Add(-2 * time.Hour)},
		{Actor: "node:cam-2", Action: "node.offline", Target: "node:cam-2", Time: now.Add(-3 * time.Hour)},
		{Actor: "node:cam-1", Action: "flow.denied", Target: "node:cam-1", Source: "100.64.0.6", Time: now.Add(-time.Hour),
			Detail: map[string]any{"src": "bob@example.com", "port": 23, "count": 4}},
	} {
		b.appendAuditLocked(e)
	}
}
