package client

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/wardnet/ward/node/privfile"
	"github.com/wardnet/ward/wire"
)

// StateFile is the client's state file in the state directory.
const StateFile = "client.json"

// maxStateBytes bounds the state file.
const maxStateBytes = 256 << 10

// State is what the client keeps across restarts, stored as JSON in
// StateFile (mode 0600, directory 0700).
type State struct {
	// MachineKey is the machine key; made once, never changes.
	MachineKey wire.MachinePrivate
	// Coordinator is the last coordinator logged in to.
	Coordinator string
	// Session is the current login; nil when logged out.
	Session *SessionState
}

// SessionState is one login: its WireGuard key and what the coordinator
// said of the node.
type SessionState struct {
	WGKey     wire.WGPrivate
	KeyExpiry time.Time
	Node      wire.Node
}

type stateJSON struct {
	MachineKey  string       `json:"machine_key"`
	Coordinator string       `json:"coordinator,omitempty"`
	Session     *sessionJSON `json:"session,omitempty"`
}

type sessionJSON struct {
	WGKey     string    `json:"wg_key"`
	KeyExpiry time.Time `json:"key_expiry"`
	Node      wire.Node `json:"node"`
}

// LoadOrCreateState reads the state in dir, or makes (and saves) one with
// a fresh machine key.
func LoadOrCreateState(dir string) (*State, error) {
	s, err := LoadState(dir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	mk, err := wire.NewMachinePrivate()
	if err != nil {
		return nil, err
	}
	s = &State{MachineKey: mk}
	return s, s.Save(dir)
}

// LoadState reads the state in dir; it refuses a file others may read.
func LoadState(dir string) (*State, error) {
	path := filepath.Join(dir, StateFile)
	b, err := privfile.Read(dir, StateFile, maxStateBytes)
	if err != nil {
		return nil, fmt.Errorf("load client state: %w", err)
	}
	var j stateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("load client state %s: %w", path, err)
	}
	return j.decode()
}

func (j *stateJSON) decode() (*State, error) {
	s := &State{Coordinator: j.Coordinator}
	if err := decodeKey(j.MachineKey, (*[32]byte)(&s.MachineKey)); err != nil {
		return nil, fmt.Errorf("load client state: machine key: %w", err)
	}
	if j.Session != nil {
		s.Session = &SessionState{KeyExpiry: j.Session.KeyExpiry, Node: j.Session.Node}
		if err := decodeKey(j.Session.WGKey, (*[32]byte)(&s.Session.WGKey)); err != nil {
			return nil, fmt.Errorf("load client state: wireguard key: %w", err)
		}
	}
	return s, nil
}

func decodeKey(h string, k *[32]byte) error {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		return errors.New("want 64 hex digits")
	}
	copy(k[:], b)
	return nil
}

// Save writes s to dir atomically and durably with mode 0600 (see
// privfile.Write), creating dir (0700).
func (s *State) Save(dir string) error {
	j := stateJSON{MachineKey: hex.EncodeToString(s.MachineKey[:]), Coordinator: s.Coordinator}
	if s.Session != nil {
		j.Session = &sessionJSON{WGKey: s.Session.WGKey.Hex(), KeyExpiry: s.Session.KeyExpiry, Node: s.Session.Node}
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return fmt.Errorf("save client state: %w", err)
	}
	if err := privfile.Write(dir, StateFile, b); err != nil {
		return fmt.Errorf("save client state: %w", err)
	}
	return nil
}
