package node

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// slowSTUN is a RelayTokens whose STUN lookups take delay[name]; it
// issues no tokens (the relay link just retries).
type slowSTUN struct {
	delay map[string]time.Duration
	addr  map[string]netip.AddrPort
}

func (s slowSTUN) RelayToken(context.Context) (wire.RelayTokenResponse, error) {
	return wire.RelayTokenResponse{}, errors.New("no tokens here")
}
func (s slowSTUN) RelayURL(r wire.Relay) (string, error) { return "ws://127.0.0.1:1" + r.URL, nil }
func (s slowSTUN) HTTPClient() *http.Client              { return http.DefaultClient }
func (s slowSTUN) STUNAddr(ctx context.Context, r wire.Relay) (netip.AddrPort, error) {
	select {
	case <-time.After(s.delay[r.Name]):
	case <-ctx.Done():
		return netip.AddrPort{}, ctx.Err()
	}
	return s.addr[r.Name], nil
}

// TestSlowSTUNLookupOfOldRelayListLoses: a full map's relay list whose
// STUN lookup is slow must not overwrite the list of a later map that
// resolved first.
func TestSlowSTUNLookupOfOldRelayListLoses(t *testing.T) {
	old, cur := netip.MustParseAddrPort("192.0.2.1:3478"), netip.MustParseAddrPort("192.0.2.2:3478")
	tokens := slowSTUN{delay: map[string]time.Duration{"old": 300 * time.Millisecond},
		addr: map[string]netip.AddrPort{"old": old, "new": cur}}
	e, err := NewEngine(EngineConfig{PrivateKey: newTestKey(t), Relays: tokens, Logger: failLog(t, "n")})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	self := wire.Node{ID: 1, Name: "n", WGKey: e.PublicKey(), IPv4: netip.MustParseAddr("100.64.0.1")}
	if err := e.Apply(wire.MapResponse{Version: 1, Full: true, Self: &self, Relays: []wire.Relay{{Name: "old", URL: "/r", STUN: "x:1"}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(wire.MapResponse{Version: 2, Full: true, Self: &self, Relays: []wire.Relay{{Name: "new", URL: "/r", STUN: "x:1"}}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	e.mu.Lock()
	of := e.stunOf
	e.mu.Unlock()
	if len(of) != 1 || of["new"] != cur {
		t.Fatalf("STUN servers after both lookups: %v, want only the newer list's", of)
	}
}
