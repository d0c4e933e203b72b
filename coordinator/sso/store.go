package sso

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Pending is a login between Begin and Finish.
type Pending struct {
	// State is the OAuth state sent to the IdP; the store's key.
	State string
	// Verifier is the PKCE code verifier. Secret.
	Verifier string
	// Nonce is the OIDC nonce the ID token must carry. Secret.
	Nonce string
	// Payload is the caller's opaque value given to Begin.
	Payload string
	// Expires is when the login stops being accepted.
	Expires time.Time
}

// LogValue shows the payload and expiry only.
func (p Pending) LogValue() slog.Value {
	return slog.GroupValue(slog.String("payload", p.Payload), slog.Time("expires", p.Expires))
}

// Store keeps pending logins between Begin and Finish. Implementations
// must be safe for concurrent use. A store shared between coordinator
// replicas lets a login started on one finish on another.
type Store interface {
	// Put stores p under p.State. Begin calls it once per login. It may
	// drop logins whose Expires is before now, and fails with
	// ErrTooManyPending when it holds as many live logins as it may.
	Put(ctx context.Context, p Pending, now time.Time) error
	// Take removes the login stored under state and returns it, so that it
	// is returned at most once even to concurrent callers. Finish calls it
	// before anything else. It fails with ErrBadState when there is none;
	// expiry is checked by the caller.
	Take(ctx context.Context, state string) (Pending, error)
}

// MemoryStore is a Store in process memory, bounded in count.
type MemoryStore struct {
	max int

	mu sync.Mutex
	// mu guards the following.
	pending map[string]Pending
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store that holds at most max live
// logins.
func NewMemoryStore(max int) *MemoryStore {
	return &MemoryStore{max: max, pending: map[string]Pending{}}
}

// Put stores p, first dropping expired logins when the store is full.
func (m *MemoryStore) Put(_ context.Context, p Pending, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.pending) >= m.max {
		for k, v := range m.pending {
			if now.After(v.Expires) {
				delete(m.pending, k)
			}
		}
	}
	if len(m.pending) >= m.max {
		return fmt.Errorf("store pending login: %w", ErrTooManyPending)
	}
	m.pending[p.State] = p
	return nil
}

// Take removes and returns the login stored under state.
func (m *MemoryStore) Take(_ context.Context, state string) (Pending, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pending[state]
	if !ok {
		return Pending{}, fmt.Errorf("%w: unknown or already used", ErrBadState)
	}
	delete(m.pending, state)
	return p, nil
}

// Len returns the number of logins held, expired or not.
func (m *MemoryStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending)
}
