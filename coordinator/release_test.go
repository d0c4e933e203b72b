package coordinator

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// publish stores a repository of one metadata file and the targets
// given, as `ward release publish` leaves it.
func (c *testCoord) publish(targets map[string][]byte) {
	c.t.Helper()
	meta := map[string][]byte{"timestamp.json": []byte(`{"signed":{}}`)}
	if err := c.srv.st.PutRelease(context.Background(), meta, targets, time.Now()); err != nil {
		c.t.Fatal(err)
	}
}

// TestUpdatePollsRateLimitedPerNode: a modified node polling for updates
// and fetching TUF files in a loop gets 429 with Retry-After once its
// bucket is empty, on every update path (one bucket), while another node
// is served as usual; the bucket refills with time.
func TestUpdatePollsRateLimitedPerNode(t *testing.T) {
	clk := newFakeClock()
	c := startRolloutCoord(t, clk, nil)
	c.publish(map[string][]byte{"app/a": []byte("payload")})
	ms := c.sensors(2)
	loop, other := ms[0], ms[1]
	paths := []string{wire.PathUpdate, wire.PathTUF + "metadata/timestamp.json", wire.PathTUF + "targets/app/a"}
	burst := c.srv.cfg.UpdateBurst
	for i := range burst {
		if code, _ := c.call("GET", paths[i%len(paths)], loop.token, nil); code == http.StatusTooManyRequests {
			t.Fatalf("call %d of a burst of %d refused", i+1, burst)
		}
	}
	for _, p := range paths {
		code, h := c.getHeader(p, loop.token)
		if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
			t.Errorf("GET %s past the burst: %d, Retry-After %q; want 429 with Retry-After", p, code, h.Get("Retry-After"))
		}
	}
	for p, want := range map[string]int{paths[0]: http.StatusNoContent, paths[1]: http.StatusOK, paths[2]: http.StatusOK} {
		if code, _ := c.call("GET", p, other.token, nil); code != want {
			t.Errorf("another node, GET %s: %d, want %d", p, code, want)
		}
	}
	clk.add(c.srv.cfg.UpdateEvery)
	if code, _ := c.call("GET", paths[0], loop.token, nil); code != http.StatusNoContent {
		t.Errorf("after the bucket refilled one: %d, want 204", code)
	}
}

// getHeader GETs path with token and returns the status and headers.
func (c *testCoord) getHeader(path, token string) (int, http.Header) {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.http.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}
