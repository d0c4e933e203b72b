package client

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/splice"
	"github.com/wardnet/ward/splitdns"
)

// Default addresses and timeouts.
const (
	// DefaultWeb is the status page's address: a random loopback port.
	DefaultWeb = "127.0.0.1:0"
	// DefaultDialTimeout bounds a proxy's connection to a peer.
	DefaultDialTimeout = 10 * time.Second
	// DefaultFirstMapWait bounds how long a finished login waits for the
	// first map before reporting success anyway.
	DefaultFirstMapWait = 10 * time.Second
)

// Config configures a Daemon. New validates it.
type Config struct {
	// StateDir holds the state file and the sockets; required.
	StateDir string
	// Coordinator is the coordinator URL; may be empty when the state file
	// has one or a login names one. A saved login is resumed with the
	// coordinator that made it, whatever Coordinator says.
	Coordinator string
	// AllowInsecureHTTP allows a plain-http loopback coordinator (dev).
	AllowInsecureHTTP bool
	// CAFile is a PEM file of CAs that verify the coordinator; "" means
	// the system's roots.
	CAFile string
	// SOCKS5 and HTTPProxy are the proxies' listen addresses; "" turns a
	// proxy off. They must be loopback addresses unless
	// AllowNonLoopbackProxy: a proxy asks no credentials and connects as
	// the person logged in.
	SOCKS5, HTTPProxy string
	// AllowNonLoopbackProxy lets SOCKS5 and HTTPProxy listen beyond
	// loopback, with a warning in the log.
	AllowNonLoopbackProxy bool
	// Web is the status page's listen address; "" means DefaultWeb, "off"
	// turns it off. It must be a loopback address.
	Web string
	// TUN selects the privileged data plane (a real TUN device); TUNName
	// is its name ("" means tunnel.DefaultName).
	TUN     bool
	TUNName string
	// UAPIName names the person's device for WireGuard's own tools: the
	// daemon serves the running session's wireguard-go UAPI, read only
	// and owner-only as a node does (node.ListenUAPI, node.ServeUAPI), on
	// UAPIDir/UAPIName.sock, so `wg show UAPIName` and wgctrl programs
	// read the laptop's peers, handshakes and byte counters. Empty: no
	// socket. UAPIDir "" means node.DefaultUAPIDir; a socket that cannot
	// be opened there (not root) is logged, not fatal.
	UAPIName, UAPIDir string
	// DNS is how the overlay resolver of TUN mode (package nameserver,
	// on the node's overlay IPv4 address, port 53) is installed as the
	// system's resolver for the fleet domain: splitdns.ModeAuto when
	// empty (systemd-resolved, else resolv.conf), ModeOff to serve it
	// without installing it. Unused without TUN.
	DNS splitdns.Mode
	// ResolvConf is the resolv.conf file read for the system's resolvers
	// and rewritten in ModeResolvConf; "" means splitdns.DefaultResolvConf.
	ResolvConf string
	// CLIFlags are the flags the status page adds to the commands it
	// shows (e.g. "--state-dir /x" for a state directory not the default).
	CLIFlags string
	// Hostname is the name asked for at login; "" means the host's.
	Hostname string
	// Version is the client's version, sent at login.
	Version string
	// DialTimeout bounds a proxied connection's dial; 0 means
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// FirstMapWait bounds the wait for the first map after a login; 0
	// means DefaultFirstMapWait.
	FirstMapWait time.Duration
	// Notify shows the person a notification (desktop.Env's
	// NotifyCommand, run); nil shows none: the warning that the session's
	// key expires soon is then in the log alone. Called from its own
	// goroutine.
	Notify func(title, body string) error
	// FlowPoll and FlowWindow time the flow log as in node.AgentConfig;
	// 0 means the defaults.
	FlowPoll, FlowWindow time.Duration
	// Logger receives the daemon's logs; nil means slog.Default().
	Logger *slog.Logger
	// Backoff paces map stream reconnects and login polls; zero means
	// control.DefaultBackoff().
	Backoff control.Backoff
}

func (c *Config) validate() error {
	if c.StateDir == "" {
		return errors.New("client config: no state directory")
	}
	if c.Web == "" {
		c.Web = DefaultWeb
	}
	for flag, addr := range map[string]string{"--socks5": c.SOCKS5, "--http-proxy": c.HTTPProxy} {
		if addr == "" || c.AllowNonLoopbackProxy {
			continue
		}
		if err := splice.CheckLoopback(addr); err != nil {
			return fmt.Errorf("client config: %s %w; the proxy would hand the overlay, as you, to anyone who reaches it (--proxy-allow-non-loopback overrides)", flag, err)
		}
	}
	switch c.DNS {
	case "":
		c.DNS = splitdns.ModeAuto
	case splitdns.ModeAuto, splitdns.ModeResolved, splitdns.ModeResolvConf, splitdns.ModeOff:
	default:
		return fmt.Errorf("client config: --dns %q: want auto, resolved, resolv.conf or off", c.DNS)
	}
	if c.ResolvConf == "" {
		c.ResolvConf = splitdns.DefaultResolvConf
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.FirstMapWait <= 0 {
		c.FirstMapWait = DefaultFirstMapWait
	}
	if c.Backoff.Min <= 0 || c.Backoff.Max < c.Backoff.Min {
		c.Backoff = control.DefaultBackoff()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
