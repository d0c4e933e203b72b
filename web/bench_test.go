package web_test

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/web/webtest"
)

// fleet is an inventory of n cameras and n/10 people with a laptop each.
func fleet(n int) acl.Inventory {
	var inv acl.Inventory
	for i := range n {
		inv.Nodes = append(inv.Nodes, acl.Node{Name: fmt.Sprintf("cam-%d", i), Tags: []string{"tag:camera"},
			IPv4: netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)}), IPv6: netip.AddrFrom16([16]byte{0xfd, 15: byte(i), 14: byte(i >> 8)})})
	}
	for i := range n / 10 {
		email := fmt.Sprintf("op%d@example.com", i)
		inv.Users = append(inv.Users, acl.User{Email: email, Groups: []string{"group:operators"}})
		inv.Nodes = append(inv.Nodes, acl.Node{Name: fmt.Sprintf("laptop-%d", i), User: email,
			IPv4: netip.AddrFrom4([4]byte{100, 65, byte(i >> 8), byte(i)}), IPv6: netip.AddrFrom16([16]byte{0xfd, 1, 15: byte(i), 14: byte(i >> 8)})})
	}
	return inv
}

// BenchmarkGrants measures the grant listing an impact preview computes
// twice, on 1000 cameras and 100 people.
func BenchmarkGrants(b *testing.B) {
	inv := fleet(1000)
	rs, _, err := acl.Check("policy", []byte(`{"tagOwners": {"tag:camera": []},
	  "acls": [{"action": "accept", "src": ["group:operators"], "dst": ["tag:camera:80,443,554"]}]}`),
		acl.Options{ExternalGroups: inv.ExternalGroups()})
	if err != nil {
		b.Fatal(err)
	}
	c, err := acl.Compile(rs, inv)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		gs, err := web.Grants(c)
		if err != nil || len(gs) == 0 {
			b.Fatalf("grants: %d, %v", len(gs), err)
		}
	}
}

// FuzzFilters feeds the Devices and Audit query parsers outside input: a
// query is answered 200 or 400, never with a crash or a 500.
func FuzzFilters(f *testing.F) {
	f.Add("status=online&expiry=soon&seen=7d&q=cam")
	f.Add("since=1h&until=2026-01-02T03:04&limit=5&order=newest")
	f.Add("since=-5h&limit=-1&tag=%00")
	b := webtest.NewBackend(func() time.Time { return time.Unix(1e9, 0) })
	b.AddAPIKey(ownerKey, web.RoleOwner)
	h, err := web.New(web.Config{}, b, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		vals, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		q = vals.Encode()
		for _, p := range []string{"/ward/v1/admin/nodes?", "/ward/v1/admin/audit?", "/ward/v1/admin/audit/export?format=csv&", "/ui/devices?"} {
			req := httptest.NewRequest("GET", p+q, nil)
			req.Header.Set("Authorization", "Bearer "+ownerKey)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if c := rec.Code; c != 200 && c != 400 && c != 303 {
				t.Fatalf("GET %s%s: %d %s", p, q, c, rec.Body)
			}
		}
	})
}

// BenchmarkImpactOneRule measures the impact preview of an edit that
// touches the gateways only, on 1000 cameras and 100 people.
func BenchmarkImpactOneRule(b *testing.B) {
	inv := fleet(1000)
	inv.Nodes = append(inv.Nodes, acl.Node{Name: "gw-1", Tags: []string{"tag:gateway"}, IPv4: netip.MustParseAddr("100.66.0.1"), IPv6: netip.MustParseAddr("fd02::1")})
	compile := func(text string) *acl.Compiled {
		rs, _, err := acl.Check("policy", []byte(text), acl.Options{ExternalGroups: inv.ExternalGroups()})
		if err != nil {
			b.Fatal(err)
		}
		c, err := acl.Compile(rs, inv)
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
		im, err := web.ImpactOf(before, after)
		if err != nil || len(im.Added) != 200 || len(im.Removed) != 0 {
			b.Fatalf("impact: +%d -%d, %v", len(im.Added), len(im.Removed), err)
		}
	}
}
