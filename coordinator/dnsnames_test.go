package coordinator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/wardnet/ward/dnsname"
	"github.com/wardnet/ward/wire"
)

// TestNodesGetFleetDNSNames pins issue 14's names: a node's name is its
// hostname made a DNS label, unique in the fleet (a numbered suffix on a
// clash), and every map carries the fleet domain (--dns-domain) and each
// node's FQDN under it, self's included; the admin API shows it.
func TestNodesGetFleetDNSNames(t *testing.T) {
	c := startCoordWith(t, testPolicy, func(cfg *Config) { cfg.DNSDomain = "plant.example" })
	op := c.mustRegister([]string{"tag:operator"}, "Operator_1.corp.example")
	c.mustRegister([]string{"tag:camera"}, "Camera 3")
	c.mustRegister([]string{"tag:camera"}, "camera-3")
	m := c.openMap(op, 0).next()
	if m.DNSDomain != "plant.example" {
		t.Errorf("full map's dns_domain = %q, want plant.example", m.DNSDomain)
	}
	if m.Self == nil || m.Self.Name != "operator-1-corp-example" || m.Self.FQDN != "operator-1-corp-example.plant.example" {
		t.Errorf("self = %+v; want operator-1-corp-example under plant.example", m.Self)
	}
	got := map[string]string{}
	for _, p := range m.Peers {
		got[p.Name] = p.FQDN
	}
	want := map[string]string{"camera-3": "camera-3.plant.example", "camera-3-2": "camera-3-2.plant.example"}
	if len(got) != 2 || got["camera-3"] != want["camera-3"] || got["camera-3-2"] != want["camera-3-2"] {
		t.Errorf("peers' names = %v, want %v", got, want)
	}
	var n wire.AdminNode
	if code := c.admin("GET", wire.PathAdminNodes+"/camera-3-2", nil, &n); code != 200 || n.FQDN != "camera-3-2.plant.example" {
		t.Errorf("admin API node: %d, fqdn %q", code, n.FQDN)
	}
	for _, nn := range []wire.Node{*m.Self} {
		if err := dnsname.CheckLabel(nn.Name); err != nil {
			t.Errorf("name %q is no DNS label: %v", nn.Name, err)
		}
	}
}

// TestDNSDomainDefaultsAndIsChecked: without --dns-domain the fleet is
// under ward.internal; a domain DNS does not allow stops the start.
func TestDNSDomainDefaultsAndIsChecked(t *testing.T) {
	c := startCoord(t, testPolicy)
	op := c.mustRegister([]string{"tag:operator"}, "op")
	if m := c.openMap(op, 0).next(); m.DNSDomain != dnsname.DefaultDomain || m.Self.FQDN != "op.ward.internal" {
		t.Errorf("default domain: map %q, self %q", m.DNSDomain, m.Self.FQDN)
	}
	for _, d := range []string{"bad_domain", "ward.internal.", "-x.example"} {
		cfg := Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Dev: true, DNSDomain: d}
		cfg.setDefaults()
		if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "--dns-domain") {
			t.Errorf("domain %q: validate = %v, want a --dns-domain error", d, err)
		}
	}
}

// TestAdminRenamesNode pins issue 14's rename: an admin action through
// the admin API (POST or PUT .../rename, called directly), audited with
// the names before and after; the node's peers learn the new name and
// FQDN through their maps. A name that is no DNS label (400) or another
// node's (409) is refused with a clear error and changes nothing.
func TestAdminRenamesNode(t *testing.T) {
	c := startCoord(t, testPolicy)
	op := c.mustRegister([]string{"tag:operator"}, "op")
	c.mustRegister([]string{"tag:camera"}, "cam")
	c.mustRegister([]string{"tag:camera"}, "other")
	ms := c.openMap(op, 0)
	ms.next()

	for _, tc := range []struct {
		name string
		code int
		says string
	}{
		{"Bad_Name", http.StatusBadRequest, "only a-z"},
		{"-cam", http.StatusBadRequest, "starts or ends"},
		{"", http.StatusBadRequest, "empty"},
		{strings.Repeat("a", 64), http.StatusBadRequest, "longer than 63"},
		{"other", http.StatusConflict, "taken"},
	} {
		code, body := c.call("POST", wire.PathAdminNodes+"/cam/rename", c.apiKey, wire.RenameNodeRequest{Name: tc.name})
		var e wire.Error
		json.Unmarshal(body, &e)
		if code != tc.code || !strings.Contains(e.Error, tc.says) {
			t.Errorf("rename to %q: %d %q; want %d saying %q", tc.name, code, e.Error, tc.code, tc.says)
		}
	}
	if code := c.admin("GET", wire.PathAdminNodes+"/cam", nil, nil); code != 200 {
		t.Fatalf("after refused renames, node cam: %d", code)
	}
	if !ms.quiet(200e6) {
		t.Error("a refused rename sent the peers a map change")
	}

	var n wire.AdminNode
	if code := c.admin("POST", wire.PathAdminNodes+"/cam/rename", wire.RenameNodeRequest{Name: "camera-3"}, &n); code != 200 || n.Name != "camera-3" || n.FQDN != "camera-3.ward.internal" {
		t.Fatalf("rename: %d %+v", code, n)
	}
	for {
		m := ms.next()
		if len(m.PeersChanged) == 0 {
			continue
		}
		if p := m.PeersChanged[0]; len(m.PeersChanged) != 1 || p.Name != "camera-3" || p.FQDN != "camera-3.ward.internal" {
			t.Errorf("peer's map after the rename: %+v", m.PeersChanged)
		}
		break
	}
	if code := c.admin("PUT", wire.PathAdminNodes+"/camera-3/rename", wire.RenameNodeRequest{Name: "camera-4"}, &n); code != 200 || n.Name != "camera-4" {
		t.Errorf("rename with PUT: %d %+v", code, n)
	}
	if code := c.admin("GET", wire.PathAdminNodes+"/cam", nil, nil); code != http.StatusNotFound {
		t.Errorf("the old name still finds a node: %d", code)
	}
	var evs []wire.AuditEvent
	c.admin("GET", wire.PathAdminAudit+"?action=node.rename", nil, &evs)
	if len(evs) != 2 {
		t.Fatalf("rename audit = %+v; want two events", evs)
	}
	var first wire.AuditEvent
	for _, ev := range evs {
		if ev.Target == "node:camera-3" {
			first = ev
		}
	}
	if d, _ := first.Detail.(map[string]any); d["before"] != "cam" || d["after"] != "camera-3" {
		t.Errorf("rename audit event = %+v; want before cam, after camera-3", first)
	}
	c.checkNameIndex()
}
