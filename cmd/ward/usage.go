package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// usageError is a wrong command line: an unknown command, a bad flag or
// the wrong arguments. It exits with exitUsage.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// strictUsage makes every wrong command line below cmd a usageError: a
// command group given an unknown subcommand says so (cobra would print the
// group's help and succeed), and flag and argument errors are marked.
func strictUsage(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{c, err} })
	if cmd.HasSubCommands() && !cmd.Runnable() {
		cmd.Args = cobra.ArbitraryArgs
		cmd.RunE = runGroup
	} else if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageError{c, err}
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		strictUsage(sub)
	}
}

// runGroup runs a command group: alone it prints its help; with an
// argument, that is an unknown subcommand.
func runGroup(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError{cmd, fmt.Errorf("%s", msg)}
}
