package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// deviceKeys is a device's key life (see keyLife): machine-signed and
// rotating. It registers the node with a pre-auth key, rotates the
// WireGuard key on schedule (rotate.go), and handles an admin's
// revocation (register.go). Its keys and identity live in the State file.
type deviceKeys struct {
	cfg    AgentConfig
	log    *slog.Logger
	client *control.Client
	eng    *Engine
	// kickRotate wakes the rotator after the node's key expiry changed.
	kickRotate chan struct{}
	// refused is the coordinator's reason for refusing the last rotation
	// (403); nil when the last one was not refused.
	refused atomic.Pointer[string]

	// mu guards st, which is also written to the state file.
	mu sync.Mutex
	st *State
}

// now reads the node's clock (AgentConfig.Clock).
func (k *deviceKeys) now() time.Time { return k.cfg.Clock() }

// NodeID implements keyLife.
func (k *deviceKeys) NodeID() wire.NodeID {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.st.NodeID
}

// OwnsMap implements keyLife: a device's saved map is its own whatever
// key it names (the device may have switched keys since).
func (k *deviceKeys) OwnsMap(wire.Node) bool { return true }

// Join implements keyLife: it registers the node (see register).
func (k *deviceKeys) Join(ctx context.Context) error { return k.register(ctx) }

// SelfChanged implements keyLife: a new expiry, or an admin's approval,
// may change the rotation schedule.
func (k *deviceKeys) SelfChanged(self wire.Node) {
	k.recordIdentity(self)
	kick(k.kickRotate)
}

// recordIdentity saves the node's id, name and coordinator from its map
// when the state lacks them or has others: a node stopped after the
// coordinator registered it but before the answer was saved comes back
// registered with an empty identity, and a state without its node id never
// restores its saved map (no data plane while the coordinator is down).
func (k *deviceKeys) recordIdentity(self wire.Node) {
	if self.ID == 0 {
		return
	}
	url := k.client.URL()
	k.mu.Lock()
	known := k.st.NodeID == self.ID && k.st.Name == self.Name && k.st.Coordinator == url
	k.mu.Unlock()
	if known {
		return
	}
	if err := k.updateState(func(st *State) { st.NodeID, st.Name, st.Coordinator = self.ID, self.Name, url }); err != nil {
		k.log.Warn("save the node's identity from its map", "err", err)
	}
}

// Run implements keyLife: it rotates the key until ctx is done. A
// device's key life never ends by itself: a lapsed key is renewed when
// the coordinator allows it again.
func (k *deviceKeys) Run(ctx context.Context) *EndError {
	k.rotateLoop(ctx)
	return nil
}

// Expiry implements keyLife.
func (k *deviceKeys) Expiry() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keyExpiryLocked()
}

// Describe implements keyLife: a refused rotation and its reason.
func (k *deviceKeys) Describe(st *localapi.Status) {
	if r := k.refused.Load(); r != nil {
		st.KeyRefused = *r
	}
}

// updateState changes the state with fn and saves it.
func (k *deviceKeys) updateState(fn func(*State)) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	fn(k.st)
	if err := k.st.Save(k.cfg.StateDir); err != nil {
		return fmt.Errorf("update state: %w", err)
	}
	return nil
}

var _ keyLife = (*deviceKeys)(nil)
