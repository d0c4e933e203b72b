//go:build unix

package tunnel

import (
	"log/slog"
	"os"
	"testing"
)

// TestRunCommandsStopsAtFirstRequiredFailure runs real programs: an
// optional failure is passed over, a required one ends the run before
// the next command.
func TestRunCommandsStopsAtFirstRequiredFailure(t *testing.T) {
	marker := t.TempDir() + "/ran"
	err := runCommands("x", []command{
		{args: []string{"false"}, optional: true},
		{args: []string{"false"}},
		{args: []string{"touch", marker}},
	}, slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("a failed required command passed")
	}
	if _, statErr := os.Stat(marker); statErr == nil {
		t.Fatal("commands ran after a required one failed")
	}
	if err := runCommands("x", []command{{args: []string{"false"}, optional: true}, {args: []string{"touch", marker}}}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the command after an optional failure did not run: %v", err)
	}
}
