package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/wardnet/ward/client"
)

// clientStatus returns the status of a client daemon whose state directory
// is dir; ok is false when none runs there (a device's agent may).
func clientStatus(ctx context.Context, dir string) (client.Status, bool) {
	st, err := clientAPI(dir).Status(ctx)
	return st, err == nil
}

// printClientStatus prints a client daemon's status for a person: the
// login state, then the node's peers and paths as `ward status` prints
// them for a device.
func printClientStatus(w io.Writer, st client.Status, now time.Time) {
	switch st.State {
	case client.StateLoggedIn:
		fmt.Fprintf(w, "logged in as %s on %s (%s mode)\n", st.User, st.Node, st.Mode)
		fmt.Fprintf(w, "session expires %s (%s)\n", st.KeyExpiry.Local().Format(time.RFC1123), when(st.KeyExpiry, now))
	case client.StatePending:
		fmt.Fprintf(w, "login pending: open %s\n", st.LoginURL)
		if st.LoginCode != "" {
			fmt.Fprintf(w, "and connect the device only if the browser shows the code %s\n", st.LoginCode)
		}
	default:
		fmt.Fprintf(w, "%s", st.State)
		if st.Message != "" {
			fmt.Fprintf(w, ": %s", st.Message)
		}
		fmt.Fprintln(w, "\nrun `ward up` to log in")
	}
	printReach(w, st)
	if st.State != client.StateLoggedIn {
		return
	}
	fmt.Fprintln(w)
	printStatus(w, st.Net, now)
}
