package coordinator

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/wardnet/ward/relay"
	"github.com/wardnet/ward/wire"
)

// The labels that separate the keys derived from the token key (see
// derivedKey) from each other.
const (
	relaySignerInfo = "ward relay token signing key v1"
	loginCookieInfo = "ward sso login cookie key v1"
)

// derivedKey derives n bytes for the use info names from the refresh
// tokens' sealing key (HKDF-SHA256), which the coordinators of a database
// share (Config.TokenKeyFile): what they must agree on without storing
// it. Reason: nothing to store, migrate or seal (a copy in the database
// would be sealed under that key anyway), and no new trust root: who
// holds the token key can already read every refresh token.
func derivedKey(tokenKey []byte, info string, n int) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, tokenKey, nil, info, n)
	if err != nil {
		return nil, fmt.Errorf("derive %s: %w", info, err)
	}
	return k, nil
}

// relaySigner returns the signer of relay tokens. On SQLite (one
// coordinator) its key is random, made for this process: a restart voids
// every token. On PostgreSQL every coordinator of the database must
// admit the others' tokens, so the key is derived from the token key.
func relaySigner(cfg Config) (*relay.Signer, error) {
	if cfg.DB == "" {
		return relay.NewSigner()
	}
	key, err := tokenKey(cfg)
	if err != nil {
		return nil, err
	}
	seed, err := derivedKey(key, relaySignerInfo, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return relay.NewSignerFromSeed(seed)
}

// checkOwnRelay checks Config.RelayName and RelayURL: both or neither,
// a relay's name (not ownRelayName) and a ws:// or wss:// URL.
func checkOwnRelay(name, rawURL string) error {
	if name == "" && rawURL == "" {
		return nil
	}
	if name == "" || rawURL == "" {
		return errors.New("--relay-name and --relay-url go together")
	}
	return checkNewRelay(wire.CreateRelayRequest{Name: name, URL: rawURL})
}

// registerOwnRelay registers this coordinator's relay (Config.RelayName,
// RelayURL) in the database's relay list, replacing an entry of that
// name with another URL, so that the other coordinators' maps list it;
// this one lists it first as its own (relayDir.setList). Its credential
// is thrown away: the coordinator's relay holds no feed. An admin
// removes a retired coordinator's entry as any relay's.
func (s *Server) registerOwnRelay(ctx context.Context) error {
	if s.cfg.RelayURL == "" || s.cfg.DisableRelay {
		return nil
	}
	want := wire.CreateRelayRequest{Name: s.cfg.RelayName, URL: s.cfg.RelayURL, STUN: ownRelaySTUN(s.cfg.STUN, s.cfg.RelayURL)}
	rs, err := s.st.ListRelays(ctx)
	if err != nil {
		return fmt.Errorf("register this coordinator's relay: %w", err)
	}
	for _, r := range rs {
		if r.Name != want.Name {
			continue
		}
		if r.URL == want.URL && r.STUN == want.STUN {
			return nil
		}
		if err := s.fleet.removeRelay(ctx, r.Name, "system"); err != nil {
			return fmt.Errorf("register this coordinator's relay: %w", err)
		}
	}
	if _, _, err := s.fleet.createRelay(ctx, want, "system"); err != nil {
		return fmt.Errorf("register this coordinator's relay: %w", err)
	}
	return nil
}

// ownRelaySTUN is the STUN address other coordinators list with this
// one's relay: stun as given, or on the relay URL's host when it names
// a port only (":3478"); empty when none.
func ownRelaySTUN(stun, relayURL string) string {
	if !strings.HasPrefix(stun, ":") {
		return stun
	}
	u, err := url.Parse(relayURL)
	if err != nil {
		return ""
	}
	return net.JoinHostPort(u.Hostname(), stun[1:])
}
