package node

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wardnet/ward/wire"
)

func TestStateRoundTripAndPerms(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	now := time.Now().Round(0).UTC()
	s, created, err := LoadOrCreateState(dir, now)
	if err != nil || !created {
		t.Fatalf("create state: %v, created %v", err, created)
	}
	s.NodeID, s.Name, s.Coordinator = 7, "cam1", "https://coord.example"
	if err := s.Save(dir); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, StateFile): 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %o", path, fi.Mode().Perm(), err, want)
		}
	}
	again, created, err := LoadOrCreateState(dir, now.Add(time.Hour))
	if err != nil || created {
		t.Fatalf("reload state: %v, created %v", err, created)
	}
	if diff := cmp.Diff(s, again); diff != "" {
		t.Errorf("reloaded state differs (-saved +loaded):\n%s", diff)
	}
	if err := os.Chmod(filepath.Join(dir, StateFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(dir); !errors.Is(err, ErrStatePerms) {
		t.Errorf("load world-readable state: err = %v, want ErrStatePerms", err)
	}
}

func TestStateRejectsBadFile(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not json", "{"},
		{"short key", `{"machine_key":"abcd","wg_key":"abcd"}`},
		{"no wireguard key", `{"machine_key":"` + hex64 + `"}`},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, StateFile), []byte(tt.body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadState(dir); err == nil {
			t.Errorf("%s: loaded", tt.name)
		}
	}
}

const hex64 = "0000000000000000000000000000000000000000000000000000000000000001"

// TestPersonStateRoundTripAndPerms: a person's state keeps its machine
// key, coordinator and login across a restart, private to its owner, and
// forgets the login when it is cleared.
func TestPersonStateRoundTripAndPerms(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := LoadOrCreatePersonState(dir)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := wire.NewWGPrivate()
	exp := time.Now().Add(12 * time.Hour).Round(0).UTC()
	s.Coordinator = "https://coord.example"
	s.Session = &SessionState{WGKey: k, KeyExpiry: exp, Node: wire.Node{ID: 3, Name: "alice-laptop", User: "alice@example.com"}}
	if err := s.Save(dir); err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreatePersonState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, again, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("reloaded state differs (-saved +loaded):\n%s", diff)
	}
	again.Session = nil
	if err := again.Save(dir); err != nil {
		t.Fatal(err)
	}
	if st, err := LoadPersonState(dir); err != nil || st.Session != nil || st.MachineKey != s.MachineKey {
		t.Errorf("after logout: %+v, %v", st, err)
	}
	if err := os.Chmod(filepath.Join(dir, PersonStateFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPersonState(dir); !errors.Is(err, ErrStatePerms) {
		t.Errorf("load world-readable state: err = %v, want ErrStatePerms", err)
	}
}
