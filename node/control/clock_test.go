package control_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/control/controltest"
	"github.com/wardnet/ward/wire"
)

// skewedClient is a client of srv whose clock is off by skew (negative:
// behind the coordinator's).
func skewedClient(t *testing.T, srv *controltest.Server, skew time.Duration) *control.Client {
	t.Helper()
	mk, err := wire.NewMachinePrivate()
	if err != nil {
		t.Fatal(err)
	}
	c, err := control.New(control.Config{URL: srv.URL, AllowInsecureHTTP: true, MachineKey: mk,
		Backoff: control.Backoff{Min: time.Millisecond, Max: 20 * time.Millisecond}, MapIdleTimeout: 2 * time.Second,
		Clock: func() time.Time { return time.Now().Add(skew) }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// near reports whether got is within tol of want.
func near(got, want time.Time, tol time.Duration) bool { return got.Sub(want).Abs() <= tol }

// tol is the slack for times estimated over loopback: the offset
// estimate ignores changes up to a second.
const tol = 2 * time.Second

// TestRotateAnswerOnNodeClock checks that a rotation's switch and expiry
// come out on the node's clock however far it is from the coordinator's
// (medium item 5): switch SwitchDelay after the answer, expire the key's
// lifetime after the request; and that a coordinator of protocol version
// 1, which sends only its own clock's times, still gets a switch soon.
func TestRotateAnswerOnNodeClock(t *testing.T) {
	tests := []struct {
		name     string
		skew     time.Duration
		old      bool
		switchIn time.Duration // from the answer, on the node's clock
		lifetime time.Duration // zero: not checked
	}{
		{"in step", 0, false, 200 * time.Millisecond, time.Hour},
		{"node an hour behind", -time.Hour, false, 200 * time.Millisecond, time.Hour},
		{"node two days ahead", 48 * time.Hour, false, 200 * time.Millisecond, time.Hour},
		// A version 1 coordinator: the offset is unknown, so its switch
		// time is kept within a minute of the answer.
		{"old coordinator, node an hour behind", -time.Hour, true, time.Minute, 0},
		{"old coordinator, node an hour ahead", time.Hour, true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := controltest.New(t)
			srv.OldClock = tt.old
			c := skewedClient(t, srv, tt.skew)
			before := c.Now()
			r, err := c.Rotate(context.Background(), wire.WGPublic{1})
			after := c.Now()
			if err != nil {
				t.Fatal(err)
			}
			if r.SwitchAt.Before(before.Add(tt.switchIn)) || r.SwitchAt.After(after.Add(tt.switchIn)) {
				t.Errorf("switch at %v after the request, want %v after the answer (the call took %v)",
					r.SwitchAt.Sub(before), tt.switchIn, after.Sub(before))
			}
			if tt.lifetime != 0 && !near(r.KeyExpiry, before.Add(tt.lifetime), tol) {
				t.Errorf("key expiry %v from the request, want %v", r.KeyExpiry.Sub(before), tt.lifetime)
			}
		})
	}
}

// TestSwitchInCapped: a coordinator of protocol version 2 that asks for
// a key switch far in the future (a faulty one) gets it within a minute
// of its answer, as one of version 1 does; a delay within the minute is
// kept.
func TestSwitchInCapped(t *testing.T) {
	tests := []struct {
		asked, want time.Duration
	}{
		{30 * time.Second, 30 * time.Second},
		{time.Hour, time.Minute},
		{365 * 24 * time.Hour, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.asked.String(), func(t *testing.T) {
			srv := controltest.New(t)
			srv.SwitchDelay = tt.asked
			c := skewedClient(t, srv, 0)
			before := c.Now()
			r, err := c.Rotate(context.Background(), wire.WGPublic{1})
			after := c.Now()
			if err != nil {
				t.Fatal(err)
			}
			if r.SwitchAt.Before(before.Add(tt.want)) || r.SwitchAt.After(after.Add(tt.want)) {
				t.Errorf("switch %v after the request, want %v after the answer (the call took %v)",
					r.SwitchAt.Sub(before), tt.want, after.Sub(before))
			}
		})
	}
}

// TestClockOffsetFromAnswers checks the offset estimate from the session
// answer and the map stream, and that map messages reach the handler with
// their key expiry times on the node's clock (medium item 5).
func TestClockOffsetFromAnswers(t *testing.T) {
	for _, skew := range []time.Duration{-time.Hour, 0, 25 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			srv := controltest.New(t)
			c := skewedClient(t, srv, skew)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := c.Session(ctx); err != nil {
				t.Fatal(err)
			}
			if got := c.ClockOffset(); (got + skew).Abs() > tol {
				t.Errorf("offset %v after the session, want %v", got, -skew)
			}
			rec := newRecorder()
			go c.FollowMap(ctx, 0, rec)
			exp := time.Now().Add(10 * time.Minute).Round(0) // on the coordinator's clock
			self := &wire.Node{ID: 1, Name: "cam1", KeyExpiry: exp}
			srv.Publish(wire.MapResponse{Version: 1, Full: true, Self: self, Peers: []wire.Node{{ID: 2, KeyExpiry: exp}}})
			srv.Publish(wire.MapResponse{Version: 2, PeersChanged: []wire.Node{{ID: 3, KeyExpiry: exp}, {ID: 4}}})
			full, delta := rec.next(t), rec.next(t)
			want := c.Now().Add(10 * time.Minute)
			for what, got := range map[string]time.Time{"self": full.Self.KeyExpiry, "peer": full.Peers[0].KeyExpiry,
				"changed peer": delta.PeersChanged[0].KeyExpiry} {
				if !near(got, want, tol) {
					t.Errorf("%s expiry %v, want about %v on the node's clock", what, got, want)
				}
			}
			if !delta.PeersChanged[1].KeyExpiry.IsZero() {
				t.Errorf("a key that never expires got expiry %v", delta.PeersChanged[1].KeyExpiry)
			}
		})
	}
}

// TestTimeBoundRuleEndsOnNodeClock pins the review's finding "a
// time-bound rule ends on the node's raw clock": a rule's end arrives on
// the coordinator's clock and must come out on the node's, so a device
// whose clock is an hour behind does not keep an approved access an hour
// past its end (and one ahead does not lose it at once).
func TestTimeBoundRuleEndsOnNodeClock(t *testing.T) {
	for _, skew := range []time.Duration{-time.Hour, 0, 25 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			srv := controltest.New(t)
			c := skewedClient(t, srv, skew)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := c.Session(ctx); err != nil {
				t.Fatal(err)
			}
			rec := newRecorder()
			go c.FollowMap(ctx, 0, rec)
			end := time.Now().Add(10 * time.Minute).Round(0) // on the coordinator's clock
			rule := func(src string, port uint16, end time.Time) filter.Rule {
				return filter.Rule{Src: []netip.Prefix{netip.MustParsePrefix(src)}, Protos: []filter.Proto{filter.ProtoTCP},
					Dst:     []filter.DstNet{{Net: netip.MustParsePrefix("100.64.0.1/32"), Ports: []filter.PortRange{{First: port, Last: port}}}},
					Expires: end}
			}
			rules := []filter.Rule{rule("100.64.0.2/32", 22, end), rule("100.64.0.3/32", 80, time.Time{})}
			srv.Publish(wire.MapResponse{Version: 1, Full: true, Self: &wire.Node{ID: 1, Name: "cam1"}, Filter: rules})
			got := rec.next(t)
			if want := c.Now().Add(10 * time.Minute); !near(got.Filter[0].Expires, want, tol) {
				t.Errorf("rule ends %v, want about %v on the node's clock", got.Filter[0].Expires, want)
			}
			if !got.Filter[1].Expires.IsZero() {
				t.Errorf("a rule without an end got end %v", got.Filter[1].Expires)
			}
		})
	}
}

// TestNodeReportsServerErrorNotUnreachable pins the low item "a node
// reports a 500 as coordinator unreachable": an error answer means the
// coordinator was reached and failed, and says so with its message; only
// a transport failure is ErrUnreachable.
func TestNodeReportsServerErrorNotUnreachable(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":"storage unavailable"}`))
	}))
	defer failing.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name        string
		url         string
		unreachable bool
		want        string
	}{
		{"server error", failing.URL, false, "coordinator error: 503 Service Unavailable: storage unavailable"},
		{"nothing listening", closed.URL, true, "coordinator unreachable"},
	}
	for _, tt := range tests {
		mk, _ := wire.NewMachinePrivate()
		c, err := control.New(control.Config{URL: tt.url, AllowInsecureHTTP: true, MachineKey: mk})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Session(context.Background())
		if err == nil || errors.Is(err, control.ErrUnreachable) != tt.unreachable || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v; want unreachable %v, containing %q", tt.name, err, tt.unreachable, tt.want)
		}
		if !tt.unreachable && strings.Contains(err.Error(), "unreachable") {
			t.Errorf("%s: a server error reads as unreachable: %v", tt.name, err)
		}
	}
}

// TestRotateRefusals checks the typed errors of a refused rotation: 403
// with the coordinator's reason, 429 with its Retry-After.
func TestRotateRefusals(t *testing.T) {
	const reason = "node key was expired by an admin; re-approve it or register with a new pre-auth key"
	tests := []struct {
		name       string
		status     int
		retryAfter string
		is         error
		refusal    string
		wait       time.Duration
	}{
		{"expired by an admin", http.StatusForbidden, "", control.ErrForbidden, reason, 0},
		{"too often, seconds", http.StatusTooManyRequests, "7", control.ErrRateLimited, "", 7 * time.Second},
		{"too often, no header", http.StatusTooManyRequests, "", control.ErrRateLimited, "", 0},
		{"too often, bad header", http.StatusTooManyRequests, "soon", control.ErrRateLimited, "", 0},
		{"too often, for ever", http.StatusTooManyRequests, "999999999999", control.ErrRateLimited, "", 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := controltest.New(t)
			c, _ := newClient(t, srv)
			srv.RefuseRotations(tt.status, reason, tt.retryAfter)
			_, err := c.Rotate(context.Background(), wire.WGPublic{1})
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if got, ok := control.Refusal(err); got != tt.refusal || ok != (tt.refusal != "") {
				t.Errorf("refusal %q, %v; want %q", got, ok, tt.refusal)
			}
			if got, _ := control.RetryAfter(err); got != tt.wait {
				t.Errorf("retry after %v, want %v", got, tt.wait)
			}
		})
	}
}
