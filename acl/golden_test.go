package acl

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// compileOutput is the shape of `ward acl compile --json`.
type compileOutput struct {
	Nodes map[string]NodeResult `json:"nodes"`
}

// TestFleetGolden compiles testdata/fleet-policy.hujson for
// testdata/fleet-inventory.json and compares every node's peers and filter
// with testdata/fleet.golden.json. Run with -update to rewrite the golden
// file, then review its diff by hand.
func TestFleetGolden(t *testing.T) {
	policy := readTestdata(t, "fleet-policy.hujson")
	var inv Inventory
	if err := json.Unmarshal(readTestdata(t, "fleet-inventory.json"), &inv); err != nil {
		t.Fatalf("inventory: %v", err)
	}
	rs, results, err := Check("fleet-policy.hujson", policy, Options{ExternalGroups: inv.ExternalGroups()})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(results) == 0 {
		t.Error("the fleet policy's tests did not run")
	}
	full, err := Compile(rs, inv)
	if err != nil {
		t.Fatal(err)
	}
	got := marshalOutput(t, full)

	golden := filepath.Join("testdata", "fleet.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := readTestdata(t, "fleet.golden.json")
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("compiled fleet differs from %s (-want +got); rerun with -update if intended:\n%s", golden, diff)
	}

	// The same fleet built node by node must compile the same.
	inc, err := Compile(rs, Inventory{Users: inv.Users})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range inv.Nodes {
		if _, err := inc.AddNode(n); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(string(want), string(marshalOutput(t, inc))); diff != "" {
		t.Errorf("fleet built by AddNode differs from the golden file (-want +got):\n%s", diff)
	}
}

func marshalOutput(t *testing.T, c *Compiled) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(compileOutput{Nodes: c.All()}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
