package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/wardnet/ward/filter"
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
	printDevices(w, p.Devices)
	fmt.Fprintln(w)
	printStatus(w, st, now)
}

// printDevices lists what the policy lets the person reach on each device.
func printDevices(w io.Writer, devs []localapi.Device) {
	if len(devs) == 0 {
		fmt.Fprintln(w, "the policy grants you no device yet")
		return
	}
	fmt.Fprintln(w, "you may reach:")
	for _, d := range devs {
		granted := "whatever its policy allows (the coordinator does not say)"
		if d.Grants != nil {
			granted = filter.FormatGrants(d.Grants)
		}
		fmt.Fprintf(w, "  %s", d.Name)
		if d.FQDN != "" {
			fmt.Fprintf(w, " (%s)", d.FQDN)
		}
		fmt.Fprintf(w, " on %s", granted)
		if len(d.Ports) > 0 {
			fmt.Fprintf(w, " (exposes %s of those)", joinPorts(d.Ports))
		}
		fmt.Fprintln(w)
	}
}

// joinPorts formats ports as "22, 8000".
func joinPorts(ports []uint16) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ", ")
}

// printReach tells how to reach the overlay.
func printReach(w io.Writer, st localapi.PersonStatus) {
	var via []string
	if st.Interface != "" {
		via = append(via, "the "+st.Interface+" interface (any program, by overlay address)")
	}
	if st.SOCKS5 != "" {
		via = append(via, "SOCKS5 proxy "+st.SOCKS5)
	}
	if st.HTTPProxy != "" {
		via = append(via, "HTTP proxy "+st.HTTPProxy+" (curl -x http://"+st.HTTPProxy+" http://DEVICE:PORT/)")
	}
	via = append(via, "`ward nc`, `ward forward`, `ward ssh`")
	fmt.Fprintf(w, "Reach devices through %s.\n", strings.Join(via, ", "))
	if st.WebURL != "" {
		fmt.Fprintf(w, "Status page: %s\n", st.WebURL)
	}
}
