package node

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// personKeys is a person's key life (see keyLife): the key an interactive
// login gave, bound to the SSO session. It never rotates. The session
// ends when the key expires, with or without the coordinator, or when the
// coordinator moves the node to another key (a newer login); an admin's
// expiry, a disable or a logout elsewhere reaches it as a new expiry in
// the map.
type personKeys struct {
	key wire.WGPrivate
	id  wire.NodeID
	// resumed is set for a login resumed from the saved state after a
	// restart (PersonSessionConfig.Resume).
	resumed bool
	now     func() time.Time
	// expiry is the key's expiry (unix nanoseconds, node's clock),
	// updated from the map; kick wakes Run after a change.
	expiry atomic.Int64
	// rekeyed is set when the map named another key for this node.
	rekeyed atomic.Bool
	// ownerDisabled follows the map: an admin disabled the person.
	ownerDisabled atomic.Bool
	kick          chan struct{}
}

// NodeID implements keyLife.
func (k *personKeys) NodeID() wire.NodeID { return k.id }

// OwnsMap implements keyLife: a login resumed after a restart restores
// the map it saved (naming its key); a new login restores nothing and
// gets a full map (an earlier login's saved map would make the stream
// resume, and the first map never come).
func (k *personKeys) OwnsMap(self wire.Node) bool { return k.resumed && self.WGKey == k.key.Public() }

// Join implements keyLife: the login made the node already.
func (k *personKeys) Join(context.Context) error { return nil }

// SelfChanged implements keyLife: it follows the coordinator's view of
// the key: a new expiry, or another key.
func (k *personKeys) SelfChanged(self wire.Node) {
	k.ownerDisabled.Store(self.OwnerDisabled)
	switch {
	case self.WGKey != k.key.Public():
		k.rekeyed.Store(true)
	case !self.KeyExpiry.IsZero() && self.KeyExpiry.UnixNano() != k.expiry.Load():
		k.expiry.Store(self.KeyExpiry.UnixNano())
	default:
		return
	}
	kick(k.kick)
}

// Run implements keyLife: it ends the session when the key expires
// (saying so, or that an admin disabled the person) or was replaced.
func (k *personKeys) Run(ctx context.Context) *EndError {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		if k.rekeyed.Load() {
			return &EndError{Reason: "the coordinator moved this node to another key (a newer login)"}
		}
		exp := k.Expiry()
		if !k.now().Before(exp) && k.ownerDisabled.Load() {
			return &EndError{OwnerDisabled: true,
				Reason: "you were disabled by an admin; an admin can enable your account again, then log in with `ward up`"}
		}
		if !k.now().Before(exp) {
			return &EndError{Reason: fmt.Sprintf("the session's key expired at %s", exp.Local().Format(time.RFC1123))}
		}
		t.Reset(exp.Sub(k.now()))
		select {
		case <-ctx.Done():
			return nil
		case <-k.kick:
		case <-t.C:
		}
	}
}

// Expiry implements keyLife.
func (k *personKeys) Expiry() time.Time { return time.Unix(0, k.expiry.Load()) }

// Describe implements keyLife: a person's key has nothing to add.
func (k *personKeys) Describe(*localapi.Status) {}

var _ keyLife = (*personKeys)(nil)

// PersonSessionConfig configures a person's session (NewPersonSession).
type PersonSessionConfig struct {
	// StateDir holds the saved map; required.
	StateDir string
	// Client talks to the coordinator the login went to; required.
	Client *control.Client
	// Login is the login's key, expiry and node.
	Login SessionState
	// Resume is set when Login is resumed from the saved state after a
	// restart: the Session then restores the map this login saved.
	// Unset for a new login, which starts from a full map.
	Resume bool
	// TUN makes the data plane a TUN device (see EngineConfig.TUN); nil
	// means the userspace netstack.
	TUN TUNFunc
	// TUNRoutes routes the map's subnet routes into the TUN (see
	// EngineConfig.TUNRoutes); nil: they are reached through the proxies
	// only.
	TUNRoutes func(prefixes []netip.Prefix) error
	// FlowPoll and FlowWindow time the flow log as in AgentConfig; 0
	// means the defaults.
	FlowPoll, FlowWindow time.Duration
	// Logger receives the session's logs; nil means slog.Default().
	Logger *slog.Logger
}

// NewPersonSession returns the Session of a person's login: its data
// plane runs on the login's key, and it ends (Run returns an *EndError)
// when that key expires or the coordinator gives the node another key. It
// does not contact the coordinator.
func NewPersonSession(cfg PersonSessionConfig) (*Session, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	eng, err := NewEngine(EngineConfig{PrivateKey: cfg.Login.WGKey, Logger: cfg.Logger, TUN: cfg.TUN, TUNRoutes: cfg.TUNRoutes, Clock: cfg.Client.Now,
		Relays: cfg.Client})
	if err != nil {
		return nil, err
	}
	keys := &personKeys{key: cfg.Login.WGKey, id: cfg.Login.Node.ID, resumed: cfg.Resume, now: cfg.Client.Now,
		kick: make(chan struct{}, 1)}
	keys.expiry.Store(cfg.Login.KeyExpiry.UnixNano())
	return newSession(sessionConfig{stateDir: cfg.StateDir, client: cfg.Client, engine: eng, keys: keys,
		flowPoll: cfg.FlowPoll, flowWindow: cfg.FlowWindow, log: cfg.Logger}), nil
}
