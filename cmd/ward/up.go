//go:build !ward_omit_desktop

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/client"
	"github.com/wardnet/ward/client/desktop"
	"github.com/wardnet/ward/node/localapi"
)

const (
	// daemonStartWait bounds the wait for a started daemon's socket.
	daemonStartWait = 15 * time.Second
	// daemonStopWait bounds the wait for a started daemon to stop.
	daemonStopWait = 10 * time.Second
)

// upFlags are `ward up`'s own flags, beside the daemon's.
type upFlags struct {
	daemon     daemonFlags
	qr         bool
	noBrowser  bool
	foreground bool
	// install makes the daemon start at login (and starts it that way).
	install bool
}

func newUpCmd() *cobra.Command {
	var f upFlags
	cmd := &cobra.Command{
		Use:   "up --coordinator URL",
		Short: "Start the desktop client and log in through your identity provider",
		Long: "Starts the client daemon (or reuses the running one), makes a fresh WireGuard key and\n" +
			"starts a login: open the printed URL (the browser opens by itself on a desktop; --qr\n" +
			"shows a QR code for a phone). `ward up` returns as soon as the login completes or is\n" +
			"refused. The session ends when the key expires (with the SSO session) or `ward down`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUp(cmd, &f, false) },
	}
	f.daemon.add(cmd)
	f.addLoginFlags(cmd)
	cmd.Flags().BoolVar(&f.foreground, "foreground", false, "run the daemon in this process (until Ctrl-C) instead of in the background")
	cmd.Flags().BoolVar(&f.install, "install", false, "start the daemon at every login, with these flags (launchd agent, scheduled task or systemd user unit), and now")
	cmd.MarkFlagsMutuallyExclusive("foreground", "install")
	return cmd
}

func newLoginCmd() *cobra.Command {
	var f upFlags
	var dir, coord string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in again with a new key, against the running client daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.daemon.cfg.StateDir, f.daemon.cfg.Coordinator = dir, coord
			return runUp(cmd, &f, true)
		},
	}
	addStateDirFlag(cmd, &dir)
	cmd.Flags().StringVar(&coord, "coordinator", "", "coordinator URL (default: the daemon's)")
	f.addLoginFlags(cmd)
	return cmd
}

func (f *upFlags) addLoginFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.qr, "qr", false, "also print the login URL as a QR code")
	cmd.Flags().BoolVar(&f.noBrowser, "no-browser", false, "do not open a browser")
}

// runUp starts (unless login) or finds the daemon, logs in and reports.
// A daemon it started is stopped again when the login fails.
func runUp(cmd *cobra.Command, f *upFlags, login bool) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	api := apiClient(f.daemon.cfg.StateDir)
	var started *daemonProc
	st, err := api.Status(ctx)
	if f.install && err == nil {
		return errors.New("a client daemon runs already: stop it (`ward down --quit`, or `ward down --uninstall` when it starts at login), then run `ward up --install`")
	}
	if err != nil {
		if login || !errors.Is(err, localapi.ErrNoDaemon) {
			return notRunning(f.daemon.cfg.StateDir, err)
		}
		if started, err = startDaemon(ctx, f, api); err != nil {
			return err
		}
	} else if st.Person == nil {
		return fmt.Errorf("a device's node agent runs on %s: give the desktop client its own --state-dir", f.daemon.cfg.StateDir)
	} else if !login {
		fmt.Fprintln(cmd.ErrOrStderr(), "using the running client daemon (its proxy and --tun settings stay as they are)")
	}
	if err := logIn(ctx, cmd, f, api, login); err != nil {
		if started != nil {
			started.stop(ctx, cmd.ErrOrStderr(), api)
		}
		return err
	}
	if started != nil && started.done != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "the daemon runs in this process; Ctrl-C stops it")
		return <-started.done
	}
	return nil
}

// logIn starts a login (a new one when force) and waits for its outcome.
func logIn(ctx context.Context, cmd *cobra.Command, f *upFlags, api *localapi.Client, force bool) error {
	out := cmd.OutOrStdout()
	start, err := api.Login(ctx, localapi.LoginRequest{Coordinator: f.daemon.cfg.Coordinator, Force: force})
	if err != nil {
		return err
	}
	if start.LoggedIn {
		st, err := api.Status(ctx)
		if err != nil {
			return err
		}
		p := personOf(st)
		fmt.Fprintf(out, "Already logged in as %s on %s; the session expires %s. `ward login` starts a new one.\n",
			p.User, p.Node, when(p.KeyExpiry, time.Now()))
		return nil
	}
	if err := showLogin(cmd, f, start); err != nil {
		return err
	}
	return waitLogin(ctx, out, api, start.ID)
}

// daemonProc is a daemon that `ward up` started.
type daemonProc struct {
	// done ends with the daemon's Run when it runs in this process
	// (--foreground), and cancel stops it; both nil for a background
	// daemon.
	done   <-chan error
	cancel context.CancelFunc
	// exited is closed when a background daemon's process ends; nil for
	// one in this process.
	exited <-chan struct{}
	// logFrom is where this start's lines begin in daemon.log.
	logFrom int64
}

// startDaemon starts the daemon (in the background, or in this process
// with --foreground) and waits until its socket answers.
func startDaemon(ctx context.Context, f *upFlags, api *localapi.Client) (*daemonProc, error) {
	if f.daemon.cfg.TUN && os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "note: --tun "+tunPrivilege)
	}
	p := &daemonProc{}
	if f.install {
		if err := installAutostart(&f.daemon, os.Stderr); err != nil {
			return nil, err
		}
	} else if f.foreground {
		d, err := client.New(f.daemon.config(os.Stderr))
		if err != nil {
			return nil, err
		}
		done := make(chan error, 1)
		dctx, cancel := context.WithCancel(ctx)
		go func() { done <- d.Run(dctx) }()
		p.done, p.cancel = done, cancel
	} else if err := forkDaemon(f, p); err != nil {
		return nil, err
	}
	stop := time.Now().Add(daemonStartWait)
	for {
		if _, err := api.Status(ctx); err == nil {
			return p, nil
		}
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("client daemon stopped: %w", err)
		case <-p.exited:
			if _, err := api.Status(ctx); err == nil {
				return nil, nil // another `ward up` started one first: use it
			}
			return nil, startFailed(f.daemon.cfg.StateDir, p.logFrom, "the client daemon stopped at once")
		case <-ctx.Done():
			p.stop(ctx, io.Discard, api)
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(stop) {
			p.stop(ctx, io.Discard, api)
			return nil, startFailed(f.daemon.cfg.StateDir, p.logFrom, fmt.Sprintf("the client daemon did not answer within %v", daemonStartWait))
		}
	}
}

// stop stops the daemon and waits (a little) until it is gone; it says on
// errOut when it cannot. ctx may be done already.
func (p *daemonProc) stop(ctx context.Context, errOut io.Writer, api *localapi.Client) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), daemonStopWait)
	defer cancel()
	if p.done != nil {
		p.cancel()
		select {
		case <-p.done:
		case <-ctx.Done():
			fmt.Fprintln(errOut, "the client daemon did not stop in time")
		}
		return
	}
	if err := api.Quit(ctx); err != nil {
		fmt.Fprintf(errOut, "could not stop the client daemon this command started: %v (`ward down --quit` stops it)\n", err)
		return
	}
	for {
		if _, err := api.Status(ctx); err != nil {
			fmt.Fprintln(errOut, "stopped the client daemon this command started")
			return
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(errOut, "the client daemon did not stop in time")
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// daemonLog is where a background daemon writes its logs.
func daemonLog(dir string) string { return filepath.Join(dir, "daemon.log") }

// forkDaemon starts `ward daemon` detached from this terminal, logging to
// daemonLog, and sets p's exited and logFrom.
func forkDaemon(f *upFlags, p *daemonProc) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the ward binary: %w", err)
	}
	dir := f.daemon.cfg.StateDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(daemonLog(dir), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open daemon log: %w", err)
	}
	defer logf.Close()
	if p.logFrom, err = logf.Seek(0, io.SeekEnd); err != nil {
		return fmt.Errorf("open daemon log: %w", err)
	}
	c := exec.Command(self, f.daemon.args()...)
	c.Stdout, c.Stderr = logf, logf
	c.SysProcAttr = detached()
	if err := c.Start(); err != nil {
		return fmt.Errorf("start client daemon: %w", err)
	}
	exited := make(chan struct{})
	go func() { // ends with the daemon, or with this process
		c.Wait()
		close(exited)
	}()
	p.exited = exited
	return nil
}

// daemonLogTail is how many lines of daemon.log a failed start shows.
const daemonLogTail = 20

// startFailed says why the daemon of dir did not start, with the last
// lines it logged since offset from.
func startFailed(dir string, from int64, why string) error {
	path := daemonLog(dir)
	lines, err := logTail(path, from, daemonLogTail)
	if err != nil || len(lines) == 0 {
		return fmt.Errorf("%s, and logged nothing (%s)", why, path)
	}
	return fmt.Errorf("%s; the end of %s:\n    %s", why, path, strings.Join(lines, "\n    "))
}

// maxTailBytes bounds how much of a log logTail reads.
const maxTailBytes = 64 << 10

// logTail returns the last n lines of the file at path from offset from
// on, reading at most its last maxTailBytes.
func logTail(path string, from int64, n int) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	from = max(from, st.Size()-maxTailBytes)
	b, err := io.ReadAll(io.NewSectionReader(f, from, st.Size()-from))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil, nil
	}
	return lines[max(0, len(lines)-n):], nil
}

// showLogin prints the login URL, a QR code with --qr, and opens a
// browser on a desktop.
func showLogin(cmd *cobra.Command, f *upFlags, start localapi.LoginStart) error {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "To log in, open:\n\n    %s\n\n", start.URL)
	if start.Code != "" {
		fmt.Fprintf(out, "After signing in, confirm the code %s in your browser: connect only if it shows this code.\n\n", start.Code)
	}
	if f.qr {
		if err := printQR(out, start.URL); err != nil {
			return err
		}
	}
	if env := desktop.Host(); !f.noBrowser && env.CanOpen() {
		if err := desktop.Start(env.OpenCommand(start.URL)); err != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "could not open a browser (%v); open the URL yourself\n", err)
		}
	}
	fmt.Fprintf(out, "Waiting for the login to finish (until %s)...\n", start.Expires.Local().Format(time.Kitchen))
	return nil
}

// waitLogin waits for the login's outcome and reports it.
func waitLogin(ctx context.Context, out io.Writer, api *localapi.Client, id string) error {
	res, err := api.WaitLogin(ctx, id)
	if err != nil {
		return err
	}
	if res.Error != "" {
		return errors.New(res.Error)
	}
	addr := res.IPv4.String()
	if !res.IPv4.IsValid() {
		addr = res.IPv6.String()
	}
	fmt.Fprintf(out, "Logged in as %s on %s (%s).\nThe session expires %s (%s).\n", res.User, res.Node, addr,
		res.KeyExpiry.Local().Format(time.RFC1123), when(res.KeyExpiry, time.Now()))
	if st, err := api.Status(ctx); err == nil {
		printReach(out, personOf(st))
	}
	return nil
}

func newDownCmd() *cobra.Command {
	var dir string
	var quit, uninstall bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Log out: expire this machine's key at the coordinator and stop reaching devices",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			api := apiClient(dir)
			res, err := api.Logout(cmd.Context())
			switch {
			case uninstall && errors.Is(err, localapi.ErrNoDaemon):
				return uninstallAutostart(dir, cmd.OutOrStdout())
			case err != nil:
				return notRunning(dir, err)
			}
			switch {
			case !res.WasLoggedIn:
				fmt.Fprintln(cmd.OutOrStdout(), "Not logged in.")
			case res.Warning != "":
				fmt.Fprintf(cmd.OutOrStdout(), "Logged out here, but %s.\n", res.Warning)
			default:
				fmt.Fprintln(cmd.OutOrStdout(), "Logged out: the key is expired and forgotten.")
			}
			if uninstall {
				// Unregistering stops the daemon it started.
				if err := uninstallAutostart(dir, cmd.OutOrStdout()); err != nil || !quit {
					return err
				}
			}
			if !quit {
				return nil
			}
			if err := api.Quit(cmd.Context()); err != nil && !errors.Is(err, localapi.ErrNoDaemon) {
				return err
			}
			return nil
		},
	}
	addStateDirFlag(cmd, &dir)
	cmd.Flags().BoolVar(&quit, "quit", false, "also stop the client daemon")
	cmd.Flags().BoolVar(&uninstall, "uninstall", false, "also stop starting the client daemon at login (`ward up --install`), which stops it")
	return cmd
}
