package client

import (
	"net/netip"
	"time"

	"github.com/wardnet/ward/node/localapi"
)

// LoginState is where the client stands with the coordinator.
type LoginState string

// Login states.
const (
	// StateLoggedOut: no session; `ward up` starts one.
	StateLoggedOut LoginState = "logged-out"
	// StatePending: a login waits for the person to finish SSO.
	StatePending LoginState = "login-pending"
	// StateLoggedIn: a session runs.
	StateLoggedIn LoginState = "logged-in"
	// StateExpired: the last session ended because its key expired.
	StateExpired LoginState = "expired"
)

// Status is the client's state for `ward status` and the status page.
type Status struct {
	State LoginState `json:"state"`
	// Message says why the last session ended, or what to do next; may be
	// empty.
	Message     string `json:"message,omitempty"`
	Coordinator string `json:"coordinator,omitempty"`
	// User is the logged-in person's email; Node the node's name. Empty
	// when logged out.
	User string `json:"user,omitempty"`
	Node string `json:"node,omitempty"`
	// KeyExpiry is when the session's key (and so the session) ends.
	KeyExpiry time.Time `json:"key_expiry,omitzero"`
	// LoginURL is the pending login's page; empty when none is pending.
	LoginURL string `json:"login_url,omitempty"`
	// LoginCode is the code the coordinator's confirmation page shows for
	// the pending login; empty when none is pending.
	LoginCode string `json:"login_code,omitempty"`
	// Connected tells whether the map stream is open.
	Connected bool `json:"coordinator_connected"`
	// Mode is "userspace" or "tun"; Interface the TUN's name in TUN mode.
	Mode      string `json:"mode"`
	Interface string `json:"interface,omitempty"`
	// SOCKS5, HTTPProxy and Web are the addresses served; empty when off.
	// WebURL carries the page's per-start token: keep it private.
	SOCKS5    string `json:"socks5,omitempty"`
	HTTPProxy string `json:"http_proxy,omitempty"`
	WebURL    string `json:"web_url,omitempty"`
	// Devices are the peers this person may reach now, by name.
	Devices []Device `json:"devices"`
	// Net is the data plane's view: this node, peers, paths.
	Net localapi.Status `json:"net"`
}

// Device is a peer the person may reach.
type Device struct {
	Name string     `json:"name"`
	IPv4 netip.Addr `json:"ipv4,omitzero"`
	IPv6 netip.Addr `json:"ipv6,omitzero"`
	// User or Tags say who owns it.
	User string   `json:"user,omitempty"`
	Tags []string `json:"tags,omitempty"`
	// Online is the coordinator's view of the device.
	Online bool `json:"online"`
	// Ports are the ports the device exposes to the overlay; the policy
	// may grant only some of them.
	Ports []uint16 `json:"ports,omitempty"`
	// KeyExpiry is when the device's current key expires.
	KeyExpiry time.Time `json:"key_expiry,omitzero"`
}

// LoginRequest asks the daemon for a login.
type LoginRequest struct {
	// Coordinator, when set, is the coordinator to log in to; the daemon
	// switches to it when no session runs.
	Coordinator string `json:"coordinator,omitempty"`
	// Force starts a new login (with a new key) even when a session runs;
	// otherwise a running session is reported as it is.
	Force bool `json:"force,omitempty"`
}

// LoginStart is the daemon's answer to a LoginRequest.
type LoginStart struct {
	// ID names the login for WaitLogin; empty when LoggedIn.
	ID string `json:"id,omitempty"`
	// URL is the page the person opens to log in.
	URL string `json:"url,omitempty"`
	// Code is the code the coordinator's confirmation page shows after
	// the sign-in: the person connects the device only when they match.
	// Empty when the coordinator has no confirmation page.
	Code string `json:"code,omitempty"`
	// Expires is when the pending login lapses.
	Expires time.Time `json:"expires,omitzero"`
	// LoggedIn is set when a session already runs (and Force was not).
	LoggedIn bool `json:"logged_in,omitempty"`
}

// LoginResult is the outcome of a login.
type LoginResult struct {
	// Error is why the login failed (the coordinator's refusal, a lapsed
	// login); empty on success.
	Error string     `json:"error,omitempty"`
	User  string     `json:"user,omitempty"`
	Node  string     `json:"node,omitempty"`
	IPv4  netip.Addr `json:"ipv4,omitzero"`
	IPv6  netip.Addr `json:"ipv6,omitzero"`
	// KeyExpiry is when the new session ends.
	KeyExpiry time.Time `json:"key_expiry,omitzero"`
	// Ready tells whether the data plane had its first map when the result
	// was sent (it nearly always has).
	Ready bool `json:"ready"`
}

// LogoutResult is the outcome of a logout.
type LogoutResult struct {
	// WasLoggedIn tells whether a session was running.
	WasLoggedIn bool `json:"was_logged_in"`
	// Warning says the coordinator could not be told (the key then still
	// expires at its time); empty when it was.
	Warning string `json:"warning,omitempty"`
}
