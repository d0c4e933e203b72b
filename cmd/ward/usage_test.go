package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
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
