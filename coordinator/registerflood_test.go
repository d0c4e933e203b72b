package coordinator

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// registerDeniedRows returns the node.register_denied rows, after writing
// every open summary.
func (c *testCoord) registerDeniedRows() []store.AuditEvent {
	c.t.Helper()
	c.srv.flushRefusals(c.srv.ctx, time.Now(), true)
	evs, err := c.srv.st.ListAudit(c.t.Context(), store.AuditFilter{ActionPrefix: "node.register_denied"})
	if err != nil {
		c.t.Fatal(err)
	}
	return evs
}

// TestRegisterFloodLimitedPerSource: one free machine-key session
// calling POST /register with bogus keys as fast as it can gets 429 with
// Retry-After past its source's control limit, which /rotate shares; and
// however many refusals it gets, they cost one audit row at once and one
// summary row per window, not one fsynced row each.
func TestRegisterFloodLimitedPerSource(t *testing.T) {
	t.Run("429 past the limit", func(t *testing.T) {
		const burst = 50
		c := startCoordWith(t, testPolicy, func(cfg *Config) { cfg.ControlBurst, cfg.ControlEvery = burst, time.Hour })
		m := newMachine(t)
		c.session(m) // a challenge and a session: two of the burst
		codes := map[int]int{}
		for i := range 200 {
			code, h := c.callHeader("POST", wire.PathRegister, m.token,
				wire.RegisterRequest{AuthKey: fmt.Sprintf("wpk_bogus%d", i), WGKey: m.wg.Public(), Hostname: "x"})
			codes[code]++
			if code == http.StatusTooManyRequests {
				if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 {
					t.Fatalf("429 with Retry-After %q", h.Get("Retry-After"))
				}
			}
		}
		if codes[http.StatusForbidden] != burst-2 || codes[http.StatusTooManyRequests] != 200-(burst-2) {
			t.Errorf("answers %v, want %d × 403 then 429", codes, burst-2)
		}
		if code, _ := c.callHeader("POST", wire.PathRotate, m.token, wire.RotateRequest{WGKey: m.wg.Public()}); code != http.StatusTooManyRequests {
			t.Errorf("rotate past the source's limit: %d, want 429", code)
		}
		if rows := c.registerDeniedRows(); len(rows) != 2 {
			t.Errorf("%d node.register_denied rows for %d refusals, want 2 (the first and a summary)", len(rows), burst-2)
		}
	})
	t.Run("audit rows bounded", func(t *testing.T) {
		c := startCoord(t, testPolicy) // the default limits
		const calls = 500
		m := newMachine(t)
		c.session(m)
		for i := range calls {
			if code, b := c.call("POST", wire.PathRegister, m.token,
				wire.RegisterRequest{AuthKey: fmt.Sprintf("wpk_bogus%d", i), WGKey: m.wg.Public(), Hostname: "x"}); code != http.StatusForbidden {
				t.Fatalf("register %d: %d %s, want 403", i, code, b)
			}
		}
		rows := c.registerDeniedRows()
		if len(rows) != 2 {
			t.Fatalf("%d node.register_denied rows for %d refusals, want 2", len(rows), calls)
		}
		slices.SortFunc(rows, func(a, b store.AuditEvent) int { return cmp.Compare(a.ID, b.ID) })
		first, summary := rows[0], rows[1]
		var fd, sd map[string]any
		json.Unmarshal(first.Detail, &fd)
		json.Unmarshal(summary.Detail, &sd)
		if fd["error"] == nil || first.Source != "127.0.0.1" {
			t.Errorf("first row %+v %s: want the error, from 127.0.0.1", first, first.Detail)
		}
		if sd["repeats"] != float64(calls-1) || summary.Source != "127.0.0.1/32" {
			t.Errorf("summary row %+v %s, want %d repeats from 127.0.0.1/32", summary, summary.Detail, calls-1)
		}
	})
}

// TestRegisterFloodFromManySourcesBounded: refusals from more sources
// than are tracked cost no row at once past maxRefusalSources, and one
// summary row per action and window in all.
func TestRegisterFloodFromManySourcesBounded(t *testing.T) {
	f := newRefusals()
	now := time.Now()
	const extra = 100
	firsts := 0
	for i := range maxRefusalSources + extra {
		src := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		for range 3 {
			if f.note("node.register_denied", src, "machine:x", nil, now) {
				firsts++
			}
		}
	}
	if firsts != maxRefusalSources {
		t.Errorf("%d rows at once, want %d", firsts, maxRefusalSources)
	}
	if got := f.due(now, false); len(got) != 0 {
		t.Errorf("%d summary rows before the window ended", len(got))
	}
	evs := f.due(now.Add(refusalWindow), false)
	if len(evs) != maxRefusalSources+1 {
		t.Fatalf("%d summary rows, want %d (one per tracked source and one for the rest)", len(evs), maxRefusalSources+1)
	}
	for _, e := range evs {
		if e.source == "many sources" && e.detail["repeats"] != 3*extra {
			t.Errorf("overflow row counts %v refusals, want %d", e.detail["repeats"], 3*extra)
		}
	}
	if f.note("node.register_denied", netip.MustParsePrefix("10.0.0.0/32"), "machine:x", nil, now.Add(refusalWindow)) != true {
		t.Error("the first refusal of a new window is not written at once")
	}
}

// TestRealKeyRefusalNotHiddenInStrangersSum: between two made-up keys, a
// caller tries a real key that is refused (here: used up). The made-up
// ones are summed; the real one keeps its own audit row with its reason.
func TestRealKeyRefusalNotHiddenInStrangersSum(t *testing.T) {
	c := startCoord(t, testPolicy)
	used := c.authKey([]string{"tag:camera"}, false, "")
	c.register(newMachine(t), used, "first") // uses it up
	m := newMachine(t)
	c.session(m)
	for _, k := range []string{"wpk_bogus1", used, "wpk_bogus2", "wpk_bogus3"} {
		if code, b := c.call("POST", wire.PathRegister, m.token, wire.RegisterRequest{AuthKey: k, WGKey: m.wg.Public(), Hostname: "x"}); code != http.StatusForbidden {
			t.Fatalf("register with %s: %d %s, want 403", k[:10], code, b)
		}
	}
	found := false
	for _, e := range c.registerDeniedRows() {
		found = found || strings.Contains(string(e.Detail), "already used")
	}
	if !found {
		t.Fatal("the used key's refusal left no audit row of its own")
	}
}
