package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/wardnet/ward/wire"
)

// PersonStateFile is a person's machine's state file in the state
// directory (a device's is StateFile).
const PersonStateFile = "client.json"

// maxPersonStateBytes bounds the person's state file.
const maxPersonStateBytes = 256 << 10

// PersonState is what a person's machine keeps across restarts, stored as
// JSON in PersonStateFile (mode 0600, directory 0700). Its times are on
// the node's clock.
type PersonState struct {
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

type personStateJSON struct {
	MachineKey  string       `json:"machine_key"`
	Coordinator string       `json:"coordinator,omitempty"`
	Session     *sessionJSON `json:"session,omitempty"`
}

type sessionJSON struct {
	WGKey     string    `json:"wg_key"`
	KeyExpiry time.Time `json:"key_expiry"`
	Node      wire.Node `json:"node"`
}

// LoadOrCreatePersonState reads the person's state in dir, or makes (and
// saves) one with a fresh machine key. It refuses (ErrStateDirInUse) a
// directory that holds a device's state.
func LoadOrCreatePersonState(dir string) (*PersonState, error) {
	if err := checkNotOther(dir, StateFile, "a device's node agent state"); err != nil {
		return nil, err
	}
	s, err := LoadPersonState(dir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	mk, err := wire.NewMachinePrivate()
	if err != nil {
		return nil, err
	}
	s = &PersonState{MachineKey: mk}
	return s, s.Save(dir)
}

// LoadPersonState reads the person's state in dir; it refuses a file
// others may read.
func LoadPersonState(dir string) (*PersonState, error) {
	var j personStateJSON
	if err := readJSON(dir, PersonStateFile, maxPersonStateBytes, &j); err != nil {
		return nil, fmt.Errorf("load client state: %w", err)
	}
	return j.decode()
}

func (j *personStateJSON) decode() (*PersonState, error) {
	s := &PersonState{Coordinator: j.Coordinator}
	if err := decodeKey(j.MachineKey, (*[32]byte)(&s.MachineKey), true); err != nil {
		return nil, fmt.Errorf("load client state: machine key: %w", err)
	}
	if j.Session != nil {
		s.Session = &SessionState{KeyExpiry: j.Session.KeyExpiry, Node: j.Session.Node}
		if err := decodeKey(j.Session.WGKey, (*[32]byte)(&s.Session.WGKey), true); err != nil {
			return nil, fmt.Errorf("load client state: wireguard key: %w", err)
		}
	}
	return s, nil
}

// Save writes s to dir atomically and durably with mode 0600 (see
// privfile.Write), creating dir (0700).
func (s *PersonState) Save(dir string) error {
	j := personStateJSON{MachineKey: hex.EncodeToString(s.MachineKey[:]), Coordinator: s.Coordinator}
	if s.Session != nil {
		j.Session = &sessionJSON{WGKey: s.Session.WGKey.Hex(), KeyExpiry: s.Session.KeyExpiry, Node: s.Session.Node}
	}
	if err := writeJSON(dir, PersonStateFile, j); err != nil {
		return fmt.Errorf("save client state: %w", err)
	}
	return nil
}
