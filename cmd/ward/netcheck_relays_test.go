package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/node/localapi"
)

// TestNetcheckPrintsRelayLatencies: with a running node, `ward netcheck`
// lists its relays nearest first and marks the home relay.
func TestNetcheckPrintsRelayLatencies(t *testing.T) {
	var b bytes.Buffer
	printRelayRTTs(&b, localapi.Paths{Relay: "fra1", RelayConnected: true,
		RelayRTT: map[string]time.Duration{"coordinator": 80 * time.Millisecond, "fra1": 12 * time.Millisecond}})
	want := "relay fra1: 12ms (home)\nrelay coordinator: 80ms\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	printRelayRTTs(&b, localapi.Paths{Relay: "coordinator"})
	if !strings.Contains(b.String(), "relay coordinator: - (home, disconnected)") {
		t.Errorf("unmeasured home: %q", b.String())
	}
}
