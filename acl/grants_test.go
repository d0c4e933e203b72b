package acl

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const accessPolicy = `{
  "tagOwners": {"tag:camera": [], "tag:operator": []},
  "hosts": {"lan": "10.1.0.0/16"},
  "acls": [
    {"action": "accept", "src": ["alice@example.com"], "dst": ["tag:camera:80,443"], "proto": "tcp"},
    {"action": "accept", "src": ["tag:operator"], "dst": ["tag:camera:22"]},
    {"action": "accept", "src": ["lan"], "dst": ["tag:camera:554"], "proto": "tcp"},
  ],
}`

func accessInventory(extra ...Node) Inventory {
	inv := Inventory{Nodes: []Node{
		testNode("cam1", "100.64.0.1", "fd7a::1", "", "tag:camera"),
		testNode("op1", "100.64.0.2", "fd7a::2", "", "tag:operator"),
		testNode("laptop", "100.64.0.3", "fd7a::3", "alice@example.com"),
	}}
	inv.Nodes = append(inv.Nodes, extra...)
	return inv
}

// TestAccessTo: who may reach a device, one row per source, protocol and
// port range; a node's address reads as its owner or tags, any other
// source stays a prefix.
func TestAccessTo(t *testing.T) {
	c := mustCompile(t, accessPolicy, accessInventory())
	tests := []struct {
		dst  string
		want []Access
	}{
		{"cam1", []Access{
			{Src: "10.1.0.0/16", Dst: "cam1", Proto: "tcp", Ports: "554"},
			{Src: "alice@example.com", Dst: "cam1", Proto: "tcp", Ports: "443"},
			{Src: "alice@example.com", Dst: "cam1", Proto: "tcp", Ports: "80"},
			{Src: "tag:operator", Dst: "cam1", Proto: "icmp", Ports: "*"},
			{Src: "tag:operator", Dst: "cam1", Proto: "tcp", Ports: "22"},
			{Src: "tag:operator", Dst: "cam1", Proto: "udp", Ports: "22"},
		}},
		{"laptop", []Access{}},
	}
	for _, tt := range tests {
		got, err := AccessTo(c, tt.dst)
		if err != nil {
			t.Fatalf("AccessTo(%s): %v", tt.dst, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("AccessTo(%s) (-want +got):\n%s", tt.dst, diff)
		}
	}
	if _, err := AccessTo(c, "nope"); !errors.Is(err, ErrUnknownNode) {
		t.Errorf("AccessTo(nope) = %v, want ErrUnknownNode", err)
	}
	all, err := AllAccess(c)
	if err != nil || len(all) != 6 {
		t.Errorf("AllAccess = %d rows, %v; want the 6 of cam1", len(all), err)
	}
}

// TestImpactOf: only what a change adds and removes is listed, on the
// nodes whose filter changed, including a node the old compile lacked.
func TestImpactOf(t *testing.T) {
	cam2 := testNode("cam2", "100.64.0.4", "fd7a::4", "", "tag:camera")
	// The edit: alice keeps only port 80 of the cameras, and operators
	// may reach alice's laptop on 3389.
	next := strings.NewReplacer(`"tag:camera:80,443"`, `"tag:camera:80"`, "  ],\n}",
		`    {"action": "accept", "src": ["tag:operator"], "dst": ["alice@example.com:3389"], "proto": "tcp"},
  ],
}`).Replace(accessPolicy)
	tests := []struct {
		name          string
		before, after *Compiled
		want          Impact
	}{
		{"same policy", mustCompile(t, accessPolicy, accessInventory()), mustCompile(t, accessPolicy, accessInventory()),
			Impact{Added: []Access{}, Removed: []Access{}}},
		{"edited policy", mustCompile(t, accessPolicy, accessInventory()), mustCompile(t, next, accessInventory()),
			Impact{
				Added:   []Access{{Src: "tag:operator", Dst: "laptop", Proto: "tcp", Ports: "3389"}},
				Removed: []Access{{Src: "alice@example.com", Dst: "cam1", Proto: "tcp", Ports: "443"}},
			}},
		{"new node", mustCompile(t, accessPolicy, accessInventory()), mustCompile(t, accessPolicy, accessInventory(cam2)),
			Impact{Added: []Access{
				{Src: "10.1.0.0/16", Dst: "cam2", Proto: "tcp", Ports: "554"},
				{Src: "alice@example.com", Dst: "cam2", Proto: "tcp", Ports: "443"},
				{Src: "alice@example.com", Dst: "cam2", Proto: "tcp", Ports: "80"},
				{Src: "tag:operator", Dst: "cam2", Proto: "icmp", Ports: "*"},
				{Src: "tag:operator", Dst: "cam2", Proto: "tcp", Ports: "22"},
				{Src: "tag:operator", Dst: "cam2", Proto: "udp", Ports: "22"},
			}, Removed: []Access{}}},
	}
	for _, tt := range tests {
		got, err := ImpactOf(tt.before, tt.after)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: impact (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestDiffAccess: unsorted inputs with duplicates diff like sorted ones.
func TestDiffAccess(t *testing.T) {
	a := Access{Src: "a", Dst: "d", Proto: "tcp", Ports: "1"}
	b := Access{Src: "b", Dst: "d", Proto: "tcp", Ports: "1"}
	c := Access{Src: "c", Dst: "d", Proto: "tcp", Ports: "1"}
	got := DiffAccess([]Access{c, a, a, b}, []Access{b, c, b})
	want := Impact{Added: []Access{}, Removed: []Access{a}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DiffAccess (-want +got):\n%s", diff)
	}
}

// camFleet is an inventory of n cameras and n/10 people with a laptop each.
func camFleet(n int) Inventory {
	var inv Inventory
	for i := range n {
		inv.Nodes = append(inv.Nodes, Node{Name: fmt.Sprintf("cam-%d", i), Tags: []string{"tag:camera"},
			IPv4: netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)}), IPv6: netip.AddrFrom16([16]byte{0xfd, 15: byte(i), 14: byte(i >> 8)})})
	}
	for i := range n / 10 {
		email := fmt.Sprintf("op%d@example.com", i)
		inv.Users = append(inv.Users, User{Email: email, Groups: []string{"group:operators"}})
		inv.Nodes = append(inv.Nodes, Node{Name: fmt.Sprintf("laptop-%d", i), User: email,
			IPv4: netip.AddrFrom4([4]byte{100, 65, byte(i >> 8), byte(i)}), IPv6: netip.AddrFrom16([16]byte{0xfd, 1, 15: byte(i), 14: byte(i >> 8)})})
	}
	return inv
}

// BenchmarkAllAccess measures the grant listing an impact preview computes
// twice, on 1000 cameras and 100 people.
func BenchmarkAllAccess(b *testing.B) {
	inv := camFleet(1000)
	rs, _, err := Check("policy", []byte(`{"tagOwners": {"tag:camera": []},
	  "acls": [{"action": "accept", "src": ["group:operators"], "dst": ["tag:camera:80,443,554"]}]}`),
		Options{ExternalGroups: inv.ExternalGroups()})
	if err != nil {
		b.Fatal(err)
	}
	c, err := Compile(rs, inv)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		gs, err := AllAccess(c)
		if err != nil || len(gs) == 0 {
			b.Fatalf("grants: %d, %v", len(gs), err)
		}
	}
}

// BenchmarkImpactOneRule measures the impact preview of an edit that
// touches the gateways only, on 1000 cameras and 100 people.
func BenchmarkImpactOneRule(b *testing.B) {
	inv := camFleet(1000)
	inv.Nodes = append(inv.Nodes, Node{Name: "gw-1", Tags: []string{"tag:gateway"}, IPv4: netip.MustParseAddr("100.66.0.1"), IPv6: netip.MustParseAddr("fd02::1")})
	compile := func(text string) *Compiled {
		rs, _, err := Check("policy", []byte(text), Options{ExternalGroups: inv.ExternalGroups()})
		if err != nil {
			b.Fatal(err)
		}
		c, err := Compile(rs, inv)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	const base = `{"tagOwners": {"tag:camera": [], "tag:gateway": []}, "acls": [
	  {"action": "accept", "src": ["group:operators"], "dst": ["tag:camera:80,443,554"]},
	  {"action": "accept", "src": ["group:operators"], "dst": ["tag:gateway:%s"]}]}`
	before, after := compile(fmt.Sprintf(base, "22")), compile(fmt.Sprintf(base, "22,8883"))
	for b.Loop() {
		im, err := ImpactOf(before, after)
		if err != nil || len(im.Added) != 200 || len(im.Removed) != 0 {
			b.Fatalf("impact: +%d -%d, %v", len(im.Added), len(im.Removed), err)
		}
	}
}
