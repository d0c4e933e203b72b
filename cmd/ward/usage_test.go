package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/node"
)

// groups returns the command path of every command group under cmd.
func groups(cmd *cobra.Command, path []string) [][]string {
	var out [][]string
	if cmd.HasSubCommands() {
		out = append(out, path)
	}
	for _, sub := range cmd.Commands() {
		if sub.Name() != "help" && sub.Name() != "completion" {
			out = append(out, groups(sub, append(append([]string{}, path...), sub.Name()))...)
		}
	}
	return out
}

// TestUnknownSubcommandExits2: in every command group, an unknown
// subcommand is an error ("unknown command", exit 2), not the group's help
// with success; the group alone still prints its help and succeeds; a bad
// flag or a missing argument exits 2 too.
func TestUnknownSubcommandExits2(t *testing.T) {
	all := groups(newRootCmd(), nil)
	if len(all) < 8 {
		t.Fatalf("found only %d command groups: %v", len(all), all)
	}
	for _, g := range all {
		var out, errOut bytes.Buffer
		if code := runWard(append(append([]string{}, g...), "frob"), &out, &errOut); code != exitUsage ||
			!strings.Contains(errOut.String(), `unknown command "frob"`) {
			t.Errorf("ward %s frob: exit %d, stderr %q; want %d and unknown command", strings.Join(g, " "), code, errOut.String(), exitUsage)
		}
		out.Reset()
		if code := runWard(g, &out, &errOut); code != 0 || !strings.Contains(out.String(), "Usage:") {
			t.Errorf("ward %s: exit %d, want its help and 0", strings.Join(g, " "), code)
		}
	}
	for _, args := range [][]string{{"admin", "--bogus"}, {"admin", "nodes", "show"}, {"status", "extra"}} {
		var out, errOut bytes.Buffer
		if code := runWard(args, &out, &errOut); code != exitUsage {
			t.Errorf("ward %s: exit %d, want %d (%s)", strings.Join(args, " "), code, exitUsage, errOut.String())
		}
	}
}

// TestStatusHintDependsOnState: with nothing running, `ward status` tells
// a person's machine (desktop client state) to run `ward up` and a device
// (node agent state) to start `ward node`, never the other; with no state
// at all it names both.
func TestStatusHintDependsOnState(t *testing.T) {
	tests := []struct {
		file      string
		want, not string
	}{
		{node.PersonStateFile, "`ward up`", "ward node"},
		{node.StateFile, "`ward node`", "ward up"},
		{"", "nothing has run", ""},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if tt.file != "" {
			if err := os.WriteFile(filepath.Join(dir, tt.file), []byte("{}"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		for _, args := range [][]string{{"status"}, {"ping", "cam1"}, {"nc", "cam1", "22"}} {
			var out, errOut bytes.Buffer
			code := runWard(append(args, "--state-dir", dir), &out, &errOut)
			msg := errOut.String()
			if code != exitFailure || !strings.Contains(msg, tt.want) || (tt.not != "" && strings.Contains(msg, tt.not)) {
				t.Errorf("ward %s with %q: exit %d, %q; want %q without %q", args[0], tt.file, code, msg, tt.want, tt.not)
			}
		}
	}
}
