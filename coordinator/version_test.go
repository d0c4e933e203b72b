package coordinator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/wardnet/ward/wire"
)

// sessionAs opens a session for m over raw HTTP, as a node speaking
// protocol version v would, and returns the status and the answer's JSON
// object.
func (c *testCoord) sessionAs(m *machine, v int) (int, map[string]json.RawMessage) {
	c.t.Helper()
	var ch wire.ChallengeResponse
	code, b := c.call("POST", wire.PathChallenge, "", wire.ChallengeRequest{MachineKey: m.priv.Public()})
	if code != http.StatusOK || json.Unmarshal(b, &ch) != nil {
		c.t.Fatalf("challenge: %d %s", code, b)
	}
	sig := m.priv.Sign(wire.SessionMessage(ch.Challenge, m.priv.Public()))
	code, b = c.call("POST", wire.PathSession, "", wire.SessionRequest{MachineKey: m.priv.Public(),
		Challenge: ch.Challenge, Signature: sig, ProtocolVersion: v})
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		c.t.Fatalf("session as protocol %d: %d, not a JSON object: %s", v, code, b)
	}
	return code, obj
}

// TestCoordinatorRefusesTooOldProtocol: a node whose protocol version is
// below wire.MinProtocolVersion (none given reads as 0) is refused with
// 426 and a message naming both versions, and gets no token; a supported
// older node gets its session without the fields of versions it does not
// speak; a node of this version or newer learns the coordinator's.
func TestCoordinatorRefusesTooOldProtocol(t *testing.T) {
	c := startCoord(t, testPolicy)
	tests := []struct {
		name    string
		version int
		code    int
		// version is the protocol_version the answer carries; 0: none.
		answered int
	}{
		{"no version given", 0, http.StatusUpgradeRequired, 0},
		{"negative version", -1, http.StatusUpgradeRequired, 0},
		{"oldest supported", wire.MinProtocolVersion, http.StatusOK, 0},
		{"the version before the coordinator's was sent", int(wire.FeatureCoordinatorVersion) - 1, http.StatusOK, 0},
		{"the first version told the coordinator's", int(wire.FeatureCoordinatorVersion), http.StatusOK, wire.ProtocolVersion},
		{"this version", wire.ProtocolVersion, http.StatusOK, wire.ProtocolVersion},
		{"a newer node", wire.ProtocolVersion + 5, http.StatusOK, wire.ProtocolVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, obj := c.sessionAs(newMachine(t), tt.version)
			if code != tt.code {
				t.Fatalf("session as protocol %d: %d %s, want %d", tt.version, code, obj["error"], tt.code)
			}
			if code != http.StatusOK {
				want := fmt.Sprintf("node speaks protocol %d, coordinator needs >= %d", tt.version, wire.MinProtocolVersion)
				var msg string
				json.Unmarshal(obj["error"], &msg)
				if _, tok := obj["token"]; tok || !strings.Contains(msg, want) {
					t.Fatalf("refusal %q (token sent: %v): want no token and an error saying %q", msg, tok, want)
				}
				return
			}
			raw, sent := obj["protocol_version"]
			if sent != (tt.answered != 0) || (sent && string(raw) != fmt.Sprint(tt.answered)) {
				t.Errorf("session as protocol %d: protocol_version %s (sent %v), want %d", tt.version, raw, sent, tt.answered)
			}
			if _, ok := obj["server_time"]; !ok {
				t.Errorf("session as protocol %d: no server_time", tt.version)
			}
		})
	}
}
