package node

import (
	"net/http"
	"testing"
	"time"

	"github.com/wardnet/ward/node/control/controltest"
	"github.com/wardnet/ward/wire"
)

// TestReportRateLimited429HonoursRetryAfter: when the coordinator answers
// a report with 429 and Retry-After, the agent sends no report before
// that wait has passed, however often it is asked to (new endpoints,
// denied flows), and then sends what it kept.
func TestReportRateLimited429HonoursRetryAfter(t *testing.T) {
	srv := controltest.New(t)
	srv.RefuseReports(http.StatusTooManyRequests, "too many requests: reports from this node", "2")
	a, _ := runAgent(t, srv, AgentConfig{StateDir: t.TempDir(), AuthKey: srv.AuthKey})
	self := agentSelf(t, srv, a, 1)
	srv.Publish(wire.MapResponse{Version: 1, Full: true, Self: &self})
	eventually(t, "a first report", func() bool { return len(srv.ReportTimes()) >= 1 })
	eventually(t, "a second report", func() bool {
		a.sess.requestEndpoints() // asks for a report now, every 20ms
		return len(srv.ReportTimes()) >= 2
	})
	times := srv.ReportTimes()
	if gap := times[1].Sub(times[0]); gap < 1900*time.Millisecond {
		t.Errorf("second report %v after a 429 with Retry-After: 2, want at least 2s", gap)
	}
	srv.RefuseReports(0, "", "")
	eventually(t, "the endpoints reported once accepted", func() bool {
		for _, r := range srv.Reports() {
			if len(r.Endpoints) > 0 {
				return true
			}
		}
		a.sess.requestEndpoints()
		return false
	})
}
