package node

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/privfile"
	"github.com/wardnet/ward/wire"
)

// MapFile is the name of the file in the state directory that keeps the
// last map the Engine applied, so a node restarted while the coordinator
// is unreachable brings its data plane up at once. It holds public
// information only (overlay addresses, public keys, endpoints, the
// filter), and is written like the state file: mode 0600, atomically.
const MapFile = "map.json"

// Errors returned when reading MapFile.
var (
	// errMapOwner means the saved map is for another node or coordinator.
	errMapOwner = errors.New("saved map belongs to another node or coordinator")
)

// savedMap is MapFile's content.
type savedMap struct {
	// Coordinator is the URL of the coordinator that sent the map.
	Coordinator string `json:"coordinator"`
	// Saved is when the file was written.
	Saved time.Time `json:"saved"`
	// ListenPort is WireGuard's listen port then, which the peers know
	// the node by; the next run tries it first.
	ListenPort uint16 `json:"listen_port,omitempty"`
	// Map is the node's map as one full message: Self, Peers, Filter and
	// the Version to resume the map stream from.
	Map wire.MapResponse `json:"map"`
}

// fullMessage returns nm as a full map message: applying it to a new
// Engine gives the same view.
func (nm *netmap) fullMessage() wire.MapResponse {
	self := nm.self
	peers := make([]wire.Node, 0, len(nm.peers))
	for _, p := range nm.peers {
		peers = append(peers, p)
	}
	slices.SortFunc(peers, func(a, b wire.Node) int { return cmp.Compare(a.ID, b.ID) })
	return wire.MapResponse{Version: nm.version, Full: true, DNSDomain: nm.domain, Self: &self, Peers: peers,
		Filter: nm.rules, FilterChanged: true}
}

// saveMap writes sm to dir/MapFile.
func saveMap(dir string, sm savedMap) error {
	b, err := json.Marshal(sm)
	if err != nil {
		return fmt.Errorf("save map: %w", err)
	}
	if err := privfile.Write(dir, MapFile, b); err != nil {
		return fmt.Errorf("save map: %w", err)
	}
	return nil
}

// loadMap reads dir/MapFile and checks that it is a full map of node id
// from coordinator. The caller validates the map itself by applying it.
func loadMap(dir, coordinator string, id wire.NodeID) (savedMap, error) {
	b, err := privfile.Read(dir, MapFile, control.MaxMapMessage)
	if err != nil {
		return savedMap{}, fmt.Errorf("load map: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var sm savedMap
	if err := dec.Decode(&sm); err != nil {
		return savedMap{}, fmt.Errorf("load map: %w: %w", ErrBadMap, err)
	}
	switch {
	case !sm.Map.Full || sm.Map.Self == nil || sm.Map.KeepAlive:
		return savedMap{}, fmt.Errorf("load map: %w: not a full map", ErrBadMap)
	case id == 0 || sm.Map.Self.ID != id || sm.Coordinator != coordinator:
		return savedMap{}, fmt.Errorf("load map: %w", errMapOwner)
	}
	return sm, nil
}

// restoreMap applies the map saved by the last run, when it belongs to
// this node and coordinator and its key life owns it (keyLife.OwnsMap), so the data plane runs before the coordinator
// is reached, on the last run's listen port when it is free; peers whose
// key expired since are left out by the Engine as usual. It returns the map applied, or nil when there was none to use (a
// missing, foreign or invalid file, which is logged and left for the next
// save to replace).
func (s *Session) restoreMap() *netmap {
	id := s.keys.NodeID()
	if id == 0 {
		return nil
	}
	sm, err := loadMap(s.cfg.stateDir, s.client.URL(), id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil && !s.keys.OwnsMap(*sm.Map.Self) {
		s.log.Info("saved map not used: not this login's", "version", sm.Map.Version)
		return nil
	}
	if err == nil {
		s.eng.preferListenPort(sm.ListenPort)
		err = s.eng.Apply(sm.Map)
	}
	if err != nil {
		s.log.Warn("saved map not used", "err", err)
		return nil
	}
	s.log.Info("saved map applied", "version", sm.Map.Version, "peers", len(sm.Map.Peers), "saved", sm.Saved,
		"listen_port", s.eng.ListenPort())
	return s.eng.nm.Load()
}

// saveLoop writes the Engine's map to MapFile each time HandleMap applied
// a message, and once more when ctx is done. The map is an immutable
// snapshot, so changes applied while a write is under way are written
// together by the next one. saved is the map already on disk (may be nil).
func (s *Session) saveLoop(ctx context.Context, saved *netmap) {
	for {
		stop := false
		select {
		case <-ctx.Done():
			stop = true
		case <-s.kickSave:
		}
		if nm := s.eng.nm.Load(); nm != saved && nm.hasSelf() {
			sm := savedMap{Coordinator: s.client.URL(), Saved: s.client.Now().UTC(), ListenPort: s.eng.ListenPort(), Map: nm.fullMessage()}
			if err := saveMap(s.cfg.stateDir, sm); err != nil {
				s.log.Warn("keep the map for restarts", "err", err)
			} else {
				saved = nm
			}
		}
		if stop {
			return
		}
	}
}
