//go:build ward_omit_update

package main

import (
	"strings"
	"testing"
)

// TestAgentWithoutUpdaterRefusesUpdateFlags: a build with ward_omit_update
// refuses each of `ward node`'s update flags and `ward release`, naming
// the tag, before it touches the state directory or the network (run with
// go test -tags ward_omit_update ./cmd/ward).
func TestAgentWithoutUpdaterRefusesUpdateFlags(t *testing.T) {
	tests := [][]string{
		{"node", "--update-root", "1.root.json"},
		{"node", "--model", "cam-v2"},
		{"node", "--update-poll", "1m"},
		{"node", "--update-health-window", "5m"},
		{"release", "keygen"},
	}
	for _, args := range tests {
		root := newRootCmd()
		state := t.TempDir()
		if args[0] == "node" {
			args = append(args, "--state-dir", state, "--coordinator", "http://127.0.0.1:1", "--dev-insecure-http", "--wg-name", "")
		}
		root.SetArgs(args)
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), "ward_omit_update") {
			t.Errorf("ward %s: err = %v, want one naming ward_omit_update", strings.Join(args, " "), err)
		}
	}
}
