package client_test

import (
	"context"
	"strings"
	"testing"

	"github.com/wardnet/ward/wire"
)

// TestPersonMachineReportsDeniedFlows pins the drift between the two
// session loops that issue 9 found: a person's machine refused inbound
// flows its policy does not allow but never reported them, so the audit
// log showed nothing of a device probing a laptop. On the one session core
// the laptop reports its denied flows as a device does, and the
// coordinator logs them as reported by the laptop, naming the prober.
func TestPersonMachineReportsDeniedFlows(t *testing.T) {
	w := newWorld(t, 0)
	l := w.startLaptop(nil)
	if res, _ := l.login(w, "alice", "ops", ""); res.Error != "" {
		t.Fatalf("login: %+v", res)
	}
	st, err := l.api.Status(context.Background())
	if err != nil || !st.Self.IPv4.IsValid() {
		t.Fatalf("status after login: %+v, %v", st, err)
	}
	// No rule lets the camera open a flow to a person's machine: its own
	// engine refuses, so the camera's key in a modified client, a peer of
	// the laptop, tries anyway.
	a := w.attackAsCamera(t, st.Self.Name)
	eventually(t, "the laptop's report of the camera's refused flow in the audit log", func() bool {
		a.SYN(22)
		return w.deniedReported("alice-laptop", "cam1", 22)
	})
}

// deniedReported asks the audit log whether node reporter reported a
// denied flow from the node named src to its port.
func (w *world) deniedReported(reporter, src string, port uint16) bool {
	var evs []wire.AuditEvent
	if !w.admin(wire.PathAdminAudit+"?action=flow.denied", &evs) {
		return false
	}
	for _, e := range evs {
		d, _ := e.Detail.(map[string]any)
		who, _ := d["src_identity"].(string)
		p, _ := d["port"].(float64)
		if e.Actor == "node:"+reporter && strings.Contains(who, "node:"+src) && uint16(p) == port {
			return true
		}
	}
	return false
}
