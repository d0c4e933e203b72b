package coordinator

import (
	"net/http"
	"testing"

	"github.com/wardnet/ward/wire"
)

// TestHandleCannotShadowControlRoutes: what Handle mounts lives beside the
// coordinator's own routes, never in their place. A pattern naming a host
// would take precedence over the same route without one (http.ServeMux's
// rule), so a mount could answer the nodes' control API for requests to
// that host; Handle refuses it, and the control API stays the
// coordinator's.
func TestHandleCannotShadowControlRoutes(t *testing.T) {
	c := startCoord(t, testPolicy)
	shadow := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, pattern := range []string{"POST 127.0.0.1" + wire.PathChallenge, "127.0.0.1/", "localhost/ward/v1/"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Handle(%q) was accepted; want it refused", pattern)
				}
			}()
			c.srv.Handle(pattern, shadow)
		}()
	}
	m := newMachine(t)
	if code, b := c.call("POST", wire.PathChallenge, "", wire.ChallengeRequest{MachineKey: m.priv.Public()}); code != http.StatusOK {
		t.Fatalf("challenge after the refused mounts: %d %s; want the coordinator's answer", code, b)
	}
}
