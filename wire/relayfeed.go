package wire

import "time"

// Paths of the standalone relays (since protocol version 7).
const (
	// PathRelayFeed is where a standalone relay holds its authorization
	// feed (WebSocket, GET, the relay's credential as a bearer token):
	// the coordinator sends a RelayFeedHello, then RelayFeedMessages; the
	// relay sends RelayFeedQuestions. A node's token or session is refused
	// here, and a relay credential admits no node anywhere.
	PathRelayFeed = "/ward/v1/relay/feed"
	// PathAdminRelays lists (GET) and registers (POST, CreateRelayRequest)
	// standalone relays; DELETE /{name} removes one.
	PathAdminRelays = "/ward/v1/admin/relays"
)

// RelayFeedHello is the coordinator's first message on a relay's feed.
type RelayFeedHello struct {
	// Name is the relay's registered name.
	Name string `json:"name"`
	// TokenKey is the Ed25519 public key relay tokens are signed with
	// (32 bytes). It is the coordinator process's: a relay takes it again
	// on every connection, and tokens signed before a coordinator restart
	// stop admitting nodes.
	TokenKey []byte `json:"token_key"`
	// Gen is the coordinator's authorization generation: an answer given
	// at an older generation is void.
	Gen uint64 `json:"gen"`
}

// RelayFeedQuestion is what a relay asks the coordinator on its feed.
type RelayFeedQuestion struct {
	// ID is the relay's, echoed in the answer; not zero.
	ID uint64 `json:"id"`
	// Admit asks whether Key may hold a connection (Node is its token's
	// node): an answer of no leaves the relay refusing the key, and a yes
	// makes the coordinator watch the key and send a cut when it leaves
	// the maps. To is unset.
	Admit bool `json:"admit,omitempty"`
	// Key is the sender's key (or the key to admit).
	Key WGPublic `json:"key"`
	// Node is the node the token of Key names (required with Admit;
	// otherwise set when the relay admitted Key, 0 when not).
	Node NodeID `json:"node,omitempty"`
	// To is the destination's key (without Admit): the question is
	// whether Key may send to To.
	To WGPublic `json:"to,omitzero"`
	// ToNode is To's node when the relay admitted To, else 0. The
	// coordinator checks the keys against the nodes' current keys; with
	// both nodes given it need not look the keys up.
	ToNode NodeID `json:"to_node,omitempty"`
}

// RelayFeedMessage is what the coordinator sends a relay after the hello.
// Exactly one of Answer, Gen (alone) or Cut is set, or KeepAlive.
type RelayFeedMessage struct {
	// Answer is the ID of the question answered, with OK and Gen (the
	// generation the answer was computed at).
	Answer uint64 `json:"answer,omitempty"`
	OK     bool   `json:"ok,omitempty"`
	// Gen is the coordinator's authorization generation: every change to
	// the maps bumps it, voiding the relay's cached answers of older ones.
	Gen uint64 `json:"gen,omitempty"`
	// Cut lists keys the relay must close now and admit no more with the
	// tokens it holds (revoked, expired or removed nodes, replaced keys).
	Cut []WGPublic `json:"cut,omitempty"`
	// KeepAlive carries nothing; it comes at least every
	// RelayFeedKeepAlive, so a relay notices a dead feed.
	KeepAlive bool `json:"keep_alive,omitempty"`
}

// RelayFeedKeepAlive is the longest the coordinator stays silent on a
// relay's feed.
const RelayFeedKeepAlive = 2 * time.Second

// CreateRelayRequest registers a standalone relay.
type CreateRelayRequest struct {
	// Name names the relay in maps and status output: 1 to 63 of
	// a-z, 0-9 and '-'; not "coordinator".
	Name string `json:"name"`
	// URL is the relay's WebSocket URL as nodes reach it (wss:// or ws://,
	// path included, e.g. wss://relay1.example.com/ward/v1/relay).
	URL string `json:"url"`
	// STUN is where the relay answers STUN as nodes reach it
	// ("host:port", `ward relay --stun-listen`), so nodes measure their
	// distance to it and learn their reflexive address; may be empty.
	STUN string `json:"stun,omitempty"`
}

// AdminRelay describes a registered standalone relay. Secret, the relay's
// credential for PathRelayFeed, is set only in the answer that created it.
type AdminRelay struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	STUN      string    `json:"stun,omitempty"`
	Secret    string    `json:"secret,omitempty"`
	Prefix    string    `json:"prefix"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	// Connected tells whether the relay holds its feed now.
	Connected bool `json:"connected"`
}
