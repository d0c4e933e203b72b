//go:build !ward_omit_desktop

package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/client"
	"github.com/wardnet/ward/client/desktop"
	"github.com/wardnet/ward/client/tunnel"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/splitdns"
)

// newClientCmds returns the desktop client's commands.
func newClientCmds() []*cobra.Command {
	return []*cobra.Command{newUpCmd(), newLoginCmd(), newDownCmd(), newDaemonCmd(), newSSHCmd()}
}

// daemonFlags are the client daemon's settings, shared by `ward daemon`
// and `ward up` (which passes them on when it starts the daemon).
type daemonFlags struct {
	cfg     client.Config
	verbose bool
}

// add registers the daemon's flags on cmd.
func (f *daemonFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	addStateDirFlag(cmd, &f.cfg.StateDir)
	fl.StringVar(&f.cfg.Coordinator, "coordinator", "", "coordinator URL (https://...; default: the last one used)")
	fl.StringVar(&f.cfg.SOCKS5, "socks5", "127.0.0.1:1080", "serve a SOCKS5 proxy into the overlay on this loopback address (\"\": off)")
	fl.StringVar(&f.cfg.HTTPProxy, "http-proxy", "127.0.0.1:8118", "serve an HTTP proxy (CONNECT and plain http:// requests) into the overlay on this loopback address (\"\": off)")
	fl.BoolVar(&f.cfg.AllowNonLoopbackProxy, "proxy-allow-non-loopback", false, "let --socks5 and --http-proxy listen beyond loopback: anyone who reaches them uses the overlay as you, without credentials")
	fl.StringVar(&f.cfg.Web, "web", client.DefaultWeb, "serve the status page on this loopback address (\"off\": no page)")
	fl.BoolVar(&f.cfg.TUN, "tun", false, "carry the overlay on a TUN interface with routes, for every program ("+tunPrivilege+")")
	fl.StringVar(&f.cfg.TUNName, "tun-name", tunnel.DefaultName, "name of the TUN interface with --tun")
	fl.StringVar(&f.cfg.UAPIName, "wg-name", node.DefaultUAPIName, "name under which `wg show` and wgctrl programs read this device's peers and counters (a read-only UAPI socket, owner and root only); \"\": none")
	fl.StringVar(&f.cfg.UAPIDir, "wg-socket-dir", node.DefaultUAPIDir, "directory of the UAPI socket (where wg looks)")
	fl.StringVar((*string)(&f.cfg.DNS), "dns", string(splitdns.ModeAuto), "with --tun, how the overlay resolver (fleet names, on your overlay address) becomes the system's for the fleet domain: auto (systemd-resolved, else resolv.conf), resolved, resolv.conf or off")
	fl.StringVar(&f.cfg.CAFile, "ca-file", "", "PEM CA certificates that verify the coordinator (default: the system's)")
	fl.BoolVar(&f.cfg.AllowInsecureHTTP, "dev-insecure-http", false, "allow a plain-http coordinator on loopback (development only)")
	fl.StringVar(&f.cfg.Hostname, "hostname", "", "name to log in with (default: the host name)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log debug messages")
}

// args renders the flags for a `ward daemon` child process.
func (f *daemonFlags) args() []string {
	c := f.cfg
	a := []string{"daemon", "--state-dir", c.StateDir, "--socks5", c.SOCKS5, "--http-proxy", c.HTTPProxy,
		"--web", c.Web, "--tun-name", c.TUNName}
	if c.Coordinator != "" {
		a = append(a, "--coordinator", c.Coordinator)
	}
	if c.CAFile != "" {
		a = append(a, "--ca-file", c.CAFile)
	}
	if c.Hostname != "" {
		a = append(a, "--hostname", c.Hostname)
	}
	if c.DNS != "" {
		a = append(a, "--dns", string(c.DNS))
	}
	if c.UAPIName != node.DefaultUAPIName {
		a = append(a, "--wg-name", c.UAPIName)
	}
	if c.UAPIDir != node.DefaultUAPIDir {
		a = append(a, "--wg-socket-dir", c.UAPIDir)
	}
	for _, b := range []struct {
		flag string
		on   bool
	}{{"--tun", c.TUN}, {"--dev-insecure-http", c.AllowInsecureHTTP}, {"--verbose", f.verbose},
		{"--proxy-allow-non-loopback", c.AllowNonLoopbackProxy}} {
		if b.on {
			a = append(a, b.flag)
		}
	}
	return a
}

// config returns the daemon's Config with a logger writing to logs and
// the version.
func (f *daemonFlags) config(logs io.Writer) client.Config {
	cfg := f.cfg
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
	cfg.Version = version
	env := desktop.Host()
	cfg.Notify = func(title, body string) error { return desktop.Start(env.NotifyCommand(title, body)) }
	if cfg.StateDir != defaultStateDir() {
		cfg.CLIFlags = "--state-dir " + commandQuote(cfg.StateDir)
	}
	return cfg
}

func newDaemonCmd() *cobra.Command {
	var f daemonFlags
	var logFile string
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the desktop client daemon in the foreground (`ward up` starts it for you)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logs := io.Writer(os.Stderr)
			if logFile != "" {
				lf, err := openDaemonLog(logFile)
				if err != nil {
					return err
				}
				defer lf.Close()
				logs = lf
			}
			d, err := client.New(f.config(logs))
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return d.Run(ctx)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&logFile, "log-file", "", "append the logs to this file instead of stderr (the Windows start at login, which keeps no output)")
	return cmd
}

// openDaemonLog opens the log file at path for appending, private to the
// user, making its directory (the state directory) if needed.
func openDaemonLog(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("daemon log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("daemon log: %w", err)
	}
	return f, nil
}
