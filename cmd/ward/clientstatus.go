package main

import (
	"fmt"
	"io"
	"time"

	"github.com/wardnet/ward/node/localapi"
)

// personOf returns the desktop client's side of st (zero on a device's
// agent).
func personOf(st localapi.Status) localapi.PersonStatus {
	if st.Person == nil {
		return localapi.PersonStatus{}
	}
	return *st.Person
}

// printClientStatus prints a desktop client's status for a person: the
// login state, then the node's peers and paths as `ward status` prints
// them for a device.
func printClientStatus(w io.Writer, st localapi.Status, now time.Time) {
	p := personOf(st)
	switch p.State {
	case localapi.StateLoggedIn:
		fmt.Fprintf(w, "logged in as %s on %s (%s mode)\n", p.User, p.Node, p.Mode)
		fmt.Fprintf(w, "session expires %s (%s)\n", p.KeyExpiry.Local().Format(time.RFC1123), when(p.KeyExpiry, now))
	case localapi.StatePending:
		fmt.Fprintf(w, "login pending: open %s\n", p.LoginURL)
		if p.LoginCode != "" {
			fmt.Fprintf(w, "and connect the device only if the browser shows the code %s\n", p.LoginCode)
		}
	case localapi.StateDisabled:
		fmt.Fprintf(w, "%s: %s\n", p.State, p.Message) // the message says what to do
	default:
		fmt.Fprintf(w, "%s", p.State)
		if p.Message != "" {
			fmt.Fprintf(w, ": %s", p.Message)
		}
		fmt.Fprintln(w, "\nrun `ward up` to log in")
	}
	printReach(w, p)
	if p.State != localapi.StateLoggedIn {
		return
	}
	fmt.Fprintln(w)
	printStatus(w, st, now)
}
