package coordinator

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// ownRelayName names the coordinator's own relay in maps; no registered
// relay may take it.
const ownRelayName = "coordinator"

// relayNameRE is what a registered relay's name must match.
var relayNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// relayDir is the coordinator's directory of relays: the list every map
// carries (its own relay first, then each registered standalone relay)
// and the authorization feeds the standalone relays hold.
type relayDir struct {
	// own is the coordinator's relay, listed first; nil when disabled.
	own *wire.Relay
	// list is the current list, replaced whole (never changed in place)
	// on every registration and removal; map streams compare pointers to
	// tell it changed.
	list atomic.Pointer[[]wire.Relay]

	mu sync.Mutex // mu guards the following
	// feeds holds the open feed of each relay, by name.
	feeds map[string]*relayFeed
}

// newRelayDir returns a directory listing own (nil: none) first.
func newRelayDir(own *wire.Relay) *relayDir {
	d := &relayDir{own: own, feeds: map[string]*relayFeed{}}
	d.setList(nil)
	return d
}

// setList makes the list own followed by rs.
func (d *relayDir) setList(rs []store.Relay) {
	l := make([]wire.Relay, 0, 1+len(rs))
	if d.own != nil {
		l = append(l, *d.own)
	}
	for _, r := range rs {
		if d.own != nil && r.Name == d.own.Name {
			continue // this coordinator's, registered for the others (registerOwnRelay)
		}
		l = append(l, wire.Relay{Name: r.Name, URL: r.URL, STUN: r.STUN})
	}
	d.list.Store(&l)
}

// has reports whether the maps list a relay named name (false on a nil
// directory).
func (d *relayDir) has(name string) bool {
	if d == nil {
		return false
	}
	for _, r := range *d.current() {
		if r.Name == name {
			return true
		}
	}
	return false
}

// current returns the list maps carry; the caller must not change it.
func (d *relayDir) current() *[]wire.Relay { return d.list.Load() }

// attach makes f its relay's open feed, ending the one it replaces.
func (d *relayDir) attach(f *relayFeed) {
	d.mu.Lock()
	old := d.feeds[f.name]
	d.feeds[f.name] = f
	d.mu.Unlock()
	if old != nil {
		old.cancel()
	}
}

// detach forgets f if it is still its relay's feed.
func (d *relayDir) detach(f *relayFeed) {
	d.mu.Lock()
	if d.feeds[f.name] == f {
		delete(d.feeds, f.name)
	}
	d.mu.Unlock()
}

// end ends the feed of the relay named name, if open.
func (d *relayDir) end(name string) {
	d.mu.Lock()
	f := d.feeds[name]
	delete(d.feeds, name)
	d.mu.Unlock()
	if f != nil {
		f.cancel()
	}
}

// connected reports whether the relay named name holds its feed.
func (d *relayDir) connected(name string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.feeds[name] != nil
}

// open returns the open feeds.
func (d *relayDir) open() []*relayFeed {
	d.mu.Lock()
	defer d.mu.Unlock()
	fs := make([]*relayFeed, 0, len(d.feeds))
	for _, f := range d.feeds {
		fs = append(fs, f)
	}
	return fs
}

// changed tells every feed of a change to the maps at generation gen:
// each gets the generation and a cut of the keys it admitted that are no
// longer their live node's (of ids; nil: of every node).
func (d *relayDir) changed(nm *netmap, ids []store.NodeID, gen uint64) {
	for _, f := range d.open() {
		f.send(wire.RelayFeedMessage{Gen: gen, Cut: f.stale(nm, ids)})
	}
}

// loadRelays fills the directory from the store.
func (s *core) loadRelays(ctx context.Context) error {
	rs, err := s.st.ListRelays(ctx)
	if err != nil {
		return err
	}
	s.relays.setList(rs)
	return nil
}

// applyRelays reloads the relay list from the store and wakes every map
// stream to send it, after a write of this coordinator's or another's.
func (s *core) applyRelays(ctx context.Context) error {
	if err := s.loadRelays(ctx); err != nil {
		return err
	}
	s.hub.notifyAll()
	return nil
}

// checkNewRelay validates a relay registration.
func checkNewRelay(req wire.CreateRelayRequest) error {
	if !relayNameRE.MatchString(req.Name) || req.Name == ownRelayName {
		return fmt.Errorf("%w: relay name %q: want 1 to 63 of a-z, 0-9 and '-', not %q", errBadRequest, req.Name, ownRelayName)
	}
	u, err := url.Parse(req.URL)
	if err != nil || !slices.Contains([]string{"ws", "wss"}, u.Scheme) || u.Host == "" || u.User != nil {
		return fmt.Errorf("%w: relay url %q: want ws:// or wss://host[:port]/path", errBadRequest, req.URL)
	}
	if req.STUN != "" {
		host, port, err := net.SplitHostPort(req.STUN)
		if p, perr := strconv.ParseUint(port, 10, 16); err != nil || host == "" || perr != nil || p == 0 {
			return fmt.Errorf("%w: relay stun %q: want host:port", errBadRequest, req.STUN)
		}
	}
	return nil
}

// createRelay registers a relay and returns its credential, shown once.
func (s *fleet) createRelay(ctx context.Context, req wire.CreateRelayRequest, actor string) (string, store.Relay, error) {
	if err := checkNewRelay(req); err != nil {
		return "", store.Relay{}, err
	}
	secret, prefix, err := newSecret("wrl")
	if err != nil {
		return "", store.Relay{}, err
	}
	r, err := s.st.CreateRelay(ctx, store.NewRelay{Name: req.Name, URL: req.URL, STUN: req.STUN, Hash: hashSecret(secret), Prefix: prefix,
		CreatedBy: actor, CreatedAt: time.Now().UTC()})
	if err != nil {
		return "", store.Relay{}, err
	}
	s.audit(ctx, actor, "relay.create", "relay:"+r.Name, "", map[string]any{"url": r.URL, "prefix": r.Prefix})
	if err := s.applyRelays(ctx); err != nil {
		return "", store.Relay{}, fmt.Errorf("relay %s registered, maps not updated: %w", r.Name, err)
	}
	return secret, r, nil
}

// removeRelay removes the relay named name: its credential stops
// working, its feed ends and maps stop listing it.
func (s *fleet) removeRelay(ctx context.Context, name, actor string) error {
	r, err := s.st.RemoveRelay(ctx, name)
	if err != nil {
		return err
	}
	s.relays.end(name)
	s.audit(ctx, actor, "relay.remove", "relay:"+r.Name, "", map[string]any{"url": r.URL})
	return s.applyRelays(ctx)
}

// wireRelay describes r for admins.
func (s *fleet) wireRelay(r store.Relay) wire.AdminRelay {
	return wire.AdminRelay{ID: int64(r.ID), Name: r.Name, URL: r.URL, STUN: r.STUN, Prefix: r.Prefix, CreatedAt: r.CreatedAt,
		CreatedBy: r.CreatedBy, Connected: s.relays.connected(r.Name)}
}
