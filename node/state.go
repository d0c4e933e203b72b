package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/wardnet/ward/node/privfile"
	"github.com/wardnet/ward/wire"
)

// StateFile is the name of the state file in the state directory.
const StateFile = "node.json"

// maxStateBytes bounds the state file.
const maxStateBytes = 64 << 10

// ErrStatePerms means the state file or directory is open to other users.
var ErrStatePerms = privfile.ErrPerms

// ErrStateDirInUse means a state directory holds the other kind of
// daemon's state: a device's agent (StateFile) and a person's desktop
// client (PersonStateFile) share the local API socket's and the saved
// map's names, so each needs its own directory.
var ErrStateDirInUse = errors.New("the state directory belongs to another kind of ward daemon: give each its own --state-dir")

// checkNotOther returns ErrStateDirInUse when dir holds the file other.
func checkNotOther(dir, other, what string) error {
	if _, err := os.Lstat(filepath.Join(dir, other)); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s holds %s (%s): %w", dir, what, other, ErrStateDirInUse)
	}
	return nil
}

// State is what a node keeps across restarts: its keys and identity. It is
// stored as JSON in StateFile, mode 0600, in a directory of mode 0700.
// Its times are on the node's clock (the agent converts the
// coordinator's), so comparing them with the node's clock holds however
// far that is from the coordinator's.
type State struct {
	// MachineKey is the node's machine key; never changes.
	MachineKey wire.MachinePrivate
	// WGKey is the WireGuard private key in use; WGKeyCreated is when it
	// was made, the base of the rotation schedule.
	WGKey        wire.WGPrivate
	WGKeyCreated time.Time
	// KeyExpiry is WGKey's expiry as the coordinator last said; zero when
	// unknown.
	KeyExpiry time.Time
	// NextWGKey is a key announced for rotation and not yet switched to;
	// zero when none. NextSwitchAt is when to switch (zero: not yet
	// accepted by the coordinator) and NextKeyExpiry its expiry.
	NextWGKey     wire.WGPrivate
	NextSwitchAt  time.Time
	NextKeyExpiry time.Time
	// NodeID and Name are the node's identity once registered (ID 0:
	// not registered).
	NodeID wire.NodeID
	Name   string
	// Coordinator is the URL the node registered with.
	Coordinator string
}

// stateJSON is State's file form; keys are hex.
type stateJSON struct {
	MachineKey    string      `json:"machine_key"`
	WGKey         string      `json:"wg_key"`
	WGKeyCreated  time.Time   `json:"wg_key_created"`
	KeyExpiry     time.Time   `json:"key_expiry,omitzero"`
	NextWGKey     string      `json:"next_wg_key,omitempty"`
	NextSwitchAt  time.Time   `json:"next_switch_at,omitzero"`
	NextKeyExpiry time.Time   `json:"next_key_expiry,omitzero"`
	NodeID        wire.NodeID `json:"node_id,omitempty"`
	Name          string      `json:"name,omitempty"`
	Coordinator   string      `json:"coordinator,omitempty"`
}

// NewState makes a state with fresh keys.
func NewState(now time.Time) (*State, error) {
	mk, err := wire.NewMachinePrivate()
	if err != nil {
		return nil, err
	}
	wk, err := wire.NewWGPrivate()
	if err != nil {
		return nil, err
	}
	return &State{MachineKey: mk, WGKey: wk, WGKeyCreated: now}, nil
}

// LoadOrCreateState reads the state in dir, or makes and saves a new one
// when there is none. It creates dir (0700) if needed, and refuses
// (ErrStateDirInUse) to make a state where a desktop client's is.
func LoadOrCreateState(dir string, now time.Time) (*State, bool, error) {
	s, err := LoadState(dir)
	if err == nil {
		return s, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if err := checkNotOther(dir, PersonStateFile, "a desktop client's state"); err != nil {
		return nil, false, err
	}
	if s, err = NewState(now); err != nil {
		return nil, false, err
	}
	if err := s.Save(dir); err != nil {
		return nil, false, err
	}
	return s, true, nil
}

// LoadState reads the state in dir. It refuses a file readable by others.
func LoadState(dir string) (*State, error) {
	var j stateJSON
	if err := readJSON(dir, StateFile, maxStateBytes, &j); err != nil {
		return nil, fmt.Errorf("load state: %w", err)
	}
	s, err := j.decode()
	if err != nil {
		return nil, fmt.Errorf("load state %s: %w", filepath.Join(dir, StateFile), err)
	}
	return s, nil
}

func (j *stateJSON) decode() (*State, error) {
	s := &State{WGKeyCreated: j.WGKeyCreated, KeyExpiry: j.KeyExpiry, NextSwitchAt: j.NextSwitchAt,
		NextKeyExpiry: j.NextKeyExpiry, NodeID: j.NodeID, Name: j.Name, Coordinator: j.Coordinator}
	if err := decodeKey(j.MachineKey, (*[32]byte)(&s.MachineKey), true); err != nil {
		return nil, fmt.Errorf("machine key: %w", err)
	}
	if err := decodeKey(j.WGKey, (*[32]byte)(&s.WGKey), true); err != nil {
		return nil, fmt.Errorf("wireguard key: %w", err)
	}
	if err := decodeKey(j.NextWGKey, (*[32]byte)(&s.NextWGKey), false); err != nil {
		return nil, fmt.Errorf("next wireguard key: %w", err)
	}
	return s, nil
}

// decodeKey decodes 64 hex digits into k; "" is allowed unless required.
func decodeKey(h string, k *[32]byte, required bool) error {
	if h == "" && !required {
		return nil
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		return errors.New("want 64 hex digits")
	}
	copy(k[:], b)
	return nil
}

// Save writes s to dir atomically and durably (see privfile.Write),
// creating dir with mode 0700 if needed.
func (s *State) Save(dir string) error {
	if err := writeJSON(dir, StateFile, s.encode()); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

func (s *State) encode() stateJSON {
	j := stateJSON{MachineKey: hex.EncodeToString(s.MachineKey[:]), WGKey: s.WGKey.Hex(),
		WGKeyCreated: s.WGKeyCreated, KeyExpiry: s.KeyExpiry, NextSwitchAt: s.NextSwitchAt,
		NextKeyExpiry: s.NextKeyExpiry, NodeID: s.NodeID, Name: s.Name, Coordinator: s.Coordinator}
	if s.NextWGKey != (wire.WGPrivate{}) {
		j.NextWGKey = s.NextWGKey.Hex()
	}
	return j
}

// hasNext reports whether a rotation is under way.
func (s *State) hasNext() bool { return s.NextWGKey != (wire.WGPrivate{}) }

// promote makes the next key the current one (its switch time passed).
func (s *State) promote() {
	s.WGKey, s.WGKeyCreated, s.KeyExpiry = s.NextWGKey, s.NextSwitchAt, s.NextKeyExpiry
	s.NextWGKey, s.NextSwitchAt, s.NextKeyExpiry = wire.WGPrivate{}, time.Time{}, time.Time{}
}
