package wire

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// FuzzKeyText feeds key text, as it arrives in every message, to both
// public key types: a text either is refused and leaves a zero key, or is
// the key's prefix and 64 hex digits and encodes back to itself (hex in
// lower case).
func FuzzKeyText(f *testing.F) {
	f.Add("mkey:" + strings.Repeat("ab", 32))
	f.Add("wgkey:" + strings.Repeat("CD", 32))
	f.Add("wgkey:" + strings.Repeat("0", 63))
	f.Add("mkey:")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range []textKey{new(MachinePublic), new(WGPublic)} {
			if err := k.UnmarshalText([]byte(s)); err != nil {
				if b, _ := k.MarshalText(); !strings.HasSuffix(string(b), strings.Repeat("0", 64)) {
					t.Fatalf("%T: refused %q but kept %s", k, s, b)
				}
				continue
			}
			b, err := k.MarshalText()
			prefix, hexPart, _ := strings.Cut(s, ":")
			if err != nil || string(b) != prefix+":"+strings.ToLower(hexPart) || len(hexPart) != 64 {
				t.Fatalf("%T: accepted %q, encodes as %s (%v)", k, s, b, err)
			}
		}
	})
}

// FuzzMessages decodes outside input into every control message, as the
// coordinator reads requests (strictly) and nodes read answers: whatever
// decodes must encode, decode back to the same message, and encode to
// the same bytes again; a rotation answer's durations never wrap around.
func FuzzMessages(f *testing.F) {
	for _, m := range controlMessages() {
		b, err := json.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"switch_in_ms":9223372036854775807,"key_lifetime_ms":-9223372036854775808}`))
	f.Add([]byte(`{"filter":[{"src":["100.64.0.1/32"],"dst":[{"net":"::/0","ports":[{"first":1,"last":0}]}],"protos":[300]}]}`))
	types := make([]reflect.Type, 0, len(controlMessages()))
	for _, m := range controlMessages() {
		types = append(types, reflect.TypeOf(m).Elem())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, typ := range types {
			m := reflect.New(typ).Interface()
			if json.Unmarshal(in, m) != nil {
				continue
			}
			checkStable(t, m)
			if r, ok := m.(*RotateResponse); ok {
				checkDurations(t, r)
			}
		}
	})
}

// checkDurations checks that r's durations keep the sign of their
// millisecond counts.
func checkDurations(t *testing.T, r *RotateResponse) {
	t.Helper()
	for _, c := range []struct {
		ms  int64
		got int64
	}{{r.SwitchInMillis, int64(r.SwitchIn())}, {r.KeyLifetimeMillis, int64(r.KeyLifetime())}} {
		if (c.ms > 0) != (c.got > 0) || (c.ms < 0) != (c.got < 0) {
			t.Fatalf("%d ms became %d ns", c.ms, c.got)
		}
	}
}

// FuzzFlowBatch feeds the flow-log message to the coordinator's decoder
// and check: nothing panics, and a batch that passes the check keeps its
// meaning through a round trip and passes it again.
func FuzzFlowBatch(f *testing.F) {
	b, err := json.Marshal(controlMessages()["FlowBatch"])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"records":[{"src":"100.64.0.9","dst":"::1","proto":6,"port":22,"inbound":true,"start":"2026-01-01T00:00:00Z","end":"2025-01-01T00:00:00Z","count":-1}]}`))
	f.Add([]byte(`{"denied_live_sent":true,"denied_live":[{"src":"100.64.0.9","dst":"100.64.0.10","proto":6,"port":22,"at":"2026-01-01T00:00:00Z","count":5}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var batch FlowBatch
		if decodeStrict(in, &batch) != nil {
			return
		}
		if batch.Check(cam, netip.Addr{}) != nil {
			return
		}
		checkStable(t, &batch)
		for _, d := range batch.DeniedLive {
			if d.Dst != cam || d.Count < 1 || d.At.IsZero() {
				t.Fatalf("check passed a live denied count the node could not have seen: %+v", d)
			}
		}
		for _, r := range batch.Records {
			if r.Inbound && r.Dst != cam || !r.Inbound && r.Src != cam || r.End.Before(r.Start) || r.Count < 1 {
				t.Fatalf("check passed a record the node could not have carried: %+v", r)
			}
		}
	})
}

// FuzzWatchEvents feeds the watch-event message to the coordinator's
// decoder and check: nothing panics, and a batch that passes the check
// names only paths of the node's config and lines within the bound.
func FuzzWatchEvents(f *testing.F) {
	b, err := json.Marshal(controlMessages()["WatchEvents"])
	if err != nil {
		f.Fatal(err)
	}
	cfg := *controlMessages()["WatchConfig"].(*WatchConfig)
	f.Add(b)
	f.Add([]byte(`{"events":[{"kind":"file","path":"/opt/fw/../../etc/shadow","change":"added","new_sha256":"00","time":"2026-01-01T00:00:00Z"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var batch WatchEvents
		if decodeStrict(in, &batch) != nil || batch.Check(cfg) != nil {
			return
		}
		checkStable(t, &batch)
		for _, e := range batch.Events {
			if len(e.Line) > MaxWatchLine || e.Path != "/var/log/auth.log" && e.Path != "/etc/passwd" && !strings.HasPrefix(e.Path, "/opt/fw/") {
				t.Fatalf("check passed an event the node was not told to watch: %+v", e)
			}
		}
	})
}
