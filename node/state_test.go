package node

import (
	"errors"
	"io/fs"
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

// TestStateDirsAreNotShared pins a device's agent and a person's desktop
// client run on one state directory (both default to the same one): they
// share the socket and the saved map's name, so the client, once logged
// in, overwrote the device's saved map and held its socket (the agent
// could not start). A desktop client refuses a device's directory; an
// agent refuses to make its state where a desktop client's is (a device
// whose state is there already keeps running).
func TestStateDirsAreNotShared(t *testing.T) {
	device := t.TempDir()
	if _, _, err := LoadOrCreateState(device, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreatePersonState(device); !errors.Is(err, ErrStateDirInUse) {
		t.Errorf("person's state in a device's directory: %v, want ErrStateDirInUse", err)
	}
	if _, err := os.Stat(filepath.Join(device, PersonStateFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s made in a device's directory: %v", PersonStateFile, err)
	}

	laptop := t.TempDir()
	if _, err := LoadOrCreatePersonState(laptop); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateState(laptop, time.Now()); !errors.Is(err, ErrStateDirInUse) {
		t.Errorf("device's state in a desktop client's directory: %v, want ErrStateDirInUse", err)
	}
	if _, err := os.Stat(filepath.Join(laptop, StateFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s made in a desktop client's directory: %v", StateFile, err)
	}

	// A device whose directory holds both (made before the check) runs on.
	if err := (&PersonState{}).Save(device); err != nil {
		t.Fatal(err)
	}
	if _, created, err := LoadOrCreateState(device, time.Now()); err != nil || created {
		t.Errorf("device's own state beside a person's: %v, created %v", err, created)
	}
}
