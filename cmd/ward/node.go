package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/client/desktop"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/node/watch"
	"github.com/wardnet/ward/wire"
)

// authKeyEnv holds the pre-auth key when --auth-key is not given, so the
// key need not appear in the process list.
const authKeyEnv = "WARD_AUTH_KEY"

// newNodeCmds returns the node agent and the commands that talk to it.
func newNodeCmds() []*cobra.Command {
	return []*cobra.Command{newNodeCmd(), newStatusCmd(), newPingCmd(), newNcCmd(), newForwardCmd()}
}

// defaultStateDir is the OS's state directory for Ward (desktop.Env's
// StateDir): /var/lib/ward for root, else ~/.local/state/ward on Linux;
// ~/Library/Application Support/Ward on macOS; %LOCALAPPDATA%\Ward on
// Windows.
func defaultStateDir() string { return desktop.Host().StateDir() }

// addStateDirFlag adds --state-dir to cmd.
func addStateDirFlag(cmd *cobra.Command, dir *string) {
	cmd.Flags().StringVar(dir, "state-dir", defaultStateDir(), "the daemon's state directory: a device's node agent or the desktop client (holds its keys and local API socket)")
}

// apiClient returns a local API client for the agent of dir.
func apiClient(dir string) *localapi.Client {
	return &localapi.Client{Socket: filepath.Join(dir, localapi.SocketName)}
}

// nodeFlags are the flags of `ward node`.
type nodeFlags struct {
	cfg node.AgentConfig
	// updateRoot is the TUF root file to trust for updates (installed in
	// the state directory).
	updateRoot string
	expose     []uint
	routes     []string
	endpoints  []string
	verbose    bool
	// engine is --engine: engineUserspace or engineKernel.
	engine string
	// gomaxprocs is --gomaxprocs (see nodeProcs).
	gomaxprocs int
}

// The data plane engines of --engine.
const (
	engineUserspace = "userspace"
	engineKernel    = "kernel"
)

func newNodeCmd() *cobra.Command {
	var f nodeFlags
	cmd := &cobra.Command{
		Use:   "node --coordinator URL [--auth-key KEY] [--expose 22,8080]",
		Short: "Run the node agent: join the overlay and serve exposed ports",
		Long: "Runs the node agent. The first start registers with a pre-auth key (--auth-key or\n" +
			"$" + authKeyEnv + "); later starts reuse the keys in --state-dir. Exposed ports are\n" +
			"forwarded to 127.0.0.1 for the flows the coordinator's policy allows.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.agentConfig()
			if err != nil {
				return err
			}
			// Before the data plane starts: gVisor sizes its TCP
			// processors by it.
			if n := nodeProcs(f.gomaxprocs, os.Getenv("GOMAXPROCS") != "", cfg.LegacyDataPath, runtime.GOMAXPROCS(0)); n > 0 {
				runtime.GOMAXPROCS(n)
			}
			release, err := f.setEngine(&cfg)
			if err != nil {
				return err
			}
			defer release()
			if err := f.prepareUpdates(cmd, cfg.StateDir); err != nil {
				return err
			}
			a, err := node.NewAgent(cfg)
			if err != nil {
				return err
			}
			endProfile, err := startCPUProfile()
			if err != nil {
				return err
			}
			defer endProfile()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return restartIfUpdated(a.Run(ctx), stop)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.cfg.Coordinator, "coordinator", "", "coordinator URL (https://...; default: the one in the state)")
	fl.StringVar(&f.cfg.AuthKey, "auth-key", "", "pre-auth key for the first registration (or $"+authKeyEnv+")")
	fl.UintSliceVar(&f.expose, "expose", nil, "local TCP/UDP ports to expose to the overlay, e.g. 22,8080")
	fl.StringSliceVar(&f.routes, "advertise-routes", nil, "subnet routes to offer the overlay, e.g. 192.168.10.0/24 (used once an admin or the policy's autoApprovers approve them; the policy grants each device and port)")
	addStateDirFlag(cmd, &f.cfg.StateDir)
	fl.StringVar(&f.cfg.SOCKS5, "socks5", "", "serve a SOCKS5 proxy into the overlay on this loopback address, e.g. 127.0.0.1:1080")
	fl.BoolVar(&f.cfg.AllowNonLoopbackProxy, "proxy-allow-non-loopback", false, "let --socks5 listen beyond loopback: anyone who reaches it uses the overlay as this node, without credentials")
	fl.Uint16Var(&f.cfg.ListenPort, "listen-port", 0, "WireGuard UDP port (0: any free port)")
	fl.StringVar(&f.cfg.UAPIName, "wg-name", node.DefaultUAPIName, "name under which `wg show` and wgctrl programs read this node's peers and counters (its read-only UAPI socket, owner and root only; with --engine kernel, the WireGuard link's name); \"\": none")
	fl.StringVar(&f.engine, "engine", engineUserspace, "data plane: userspace (wireguard-go over Ward's netstack; no privileges) or kernel (Linux's WireGuard on a link named --wg-name, filtered by nftables; needs the wireguard module and CAP_NET_ADMIN)")
	fl.StringVar(&f.cfg.UAPIDir, "wg-socket-dir", node.DefaultUAPIDir, "directory of the UAPI socket (where wg looks)")
	fl.StringSliceVar(&f.endpoints, "endpoint", nil, "UDP endpoint to announce to peers, IP or IP:PORT (repeatable; default: local addresses outside 100.64.0.0/10 and the overlays)")
	fl.StringVar(&f.cfg.HomeRelay, "home-relay", "", "pin the home relay (where peers reach this node when no direct path works) to the map's relay of this name (default: the nearest, by STUN round trip)")
	fl.StringVar(&f.cfg.CAFile, "ca-file", "", "PEM CA certificates that verify the coordinator (default: the system's)")
	fl.BoolVar(&f.cfg.AllowInsecureHTTP, "dev-insecure-http", false, "allow a plain-http coordinator on loopback (development only)")
	fl.DurationVar(&f.cfg.RotateEvery, "rotate-every", 0, "rotate the WireGuard key at this interval (0: at --rotate-fraction of its life)")
	fl.Float64Var(&f.cfg.RotateFraction, "rotate-fraction", node.DefaultRotateFraction, "rotate the WireGuard key when this fraction of its life has passed")
	fl.StringVar(&f.cfg.Hostname, "hostname", "", "name to register with (default: the host name)")
	fl.StringSliceVar(&f.cfg.WatchLogsUnder, "watch-logs-under", watch.DefaultLogsUnder, "directories under which this node follows the logs the coordinator's watch rules name (its operator's allowlist: lines of other files are never sent); \"\": none")
	addUpdateFlags(fl, &f)
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log debug messages")
	fl.BoolVar(&f.cfg.LegacyDataPath, "legacy-datapath", false, "run the data path as before issue 12, for benchmarks against it")
	fl.MarkHidden("legacy-datapath")
	fl.IntVar(&f.cfg.TCPBufferMax, "tcp-buffer-max", 0, "bound the netstack's TCP buffers to this many bytes (0: 4 MiB), for benchmarks of the bound")
	fl.MarkHidden("tcp-buffer-max")
	fl.IntVar(&f.cfg.ReadBatch, "tun-read-batch", 0, "bound the packets one netstack read hands wireguard-go (0: 32), for benchmarks of the bound")
	fl.MarkHidden("tun-read-batch")
	fl.IntVar(&f.cfg.InFlight, "inflight", 0, "bound the packets wireguard-go holds each way (0: 256; -1: no bound), for benchmarks of the bound")
	fl.MarkHidden("inflight")
	fl.IntVar(&f.cfg.UDPBatch, "udp-batch", 0, "message buffers per UDP receive (1-128; 0: WARD_UDP_BATCH or 128), for benchmarks of the batch size")
	fl.MarkHidden("udp-batch")
	fl.IntVar(&f.cfg.UDPSocketBuffer, "udp-socket-buffer", 0, "SO_RCVBUF and SO_SNDBUF of the WireGuard UDP sockets in bytes (0: 7 MiB; -1: the kernel's defaults), for benchmarks")
	fl.MarkHidden("udp-socket-buffer")
	fl.BoolVar(&f.cfg.StdBind, "std-bind", false, "use wireguard-go's StdNetBind instead of Ward's UDP bind, for benchmarks of the bind")
	fl.MarkHidden("std-bind")
	fl.IntVar(&f.cfg.CopyBuffer, "copy-buffer", 0, "the most bytes the SOCKS5 relay and exposed services copy at once (0: 128 KiB; each direction starts at 32 KiB and grows when a read fills it), for benchmarks of the size")
	fl.MarkHidden("copy-buffer")
	fl.IntVar(&f.gomaxprocs, "gomaxprocs", 0, "run Go code on at most this many CPUs at once (0: half of the runtime's GOMAXPROCS, at least 1, unless $GOMAXPROCS is set), for benchmarks")
	fl.MarkHidden("gomaxprocs")
	return cmd
}

// nodeProcs returns the GOMAXPROCS a node runs with, or 0 to leave the
// runtime's (procs, from the CPUs and the cgroup's limit): flag when set
// (--gomaxprocs), else, unless $GOMAXPROCS is set or the legacy data path
// runs, half of procs, at least 1.
//
// Why (issue 12, CPU per byte): the data path is a pipeline of goroutines
// (wireguard-go's reader, crypto workers and senders, gVisor's TCP
// processors, the proxy's copies), each handing every batch to the next.
// With a processor per CPU, each hand-off woke an idle processor's
// thread to spin for work and sleep again, and a system call past the
// runtime monitor's tick had its processor handed to another thread: on
// 2 CPUs, scheduling (findRunnable, futex, the monitor's sleeps) and
// the context switches in the kernel were a quarter of a node's CPU
// (perf). With half the CPUs, the rest is left to the kernel's network
// work and to the programs at both ends of the flows. Measured on 2 CPUs
// only (2 against 1 in the same runs: 1.06-1.21x CPU per GB;
// ARCHITECTURE.md); for more CPUs half is a choice, not a measurement.
func nodeProcs(flag int, envSet, legacy bool, procs int) int {
	switch {
	case flag > 0:
		return flag
	case envSet || legacy:
		return 0
	}
	return max(1, procs/2)
}

// agentConfig turns the flags into an AgentConfig.
func (f *nodeFlags) agentConfig() (node.AgentConfig, error) {
	cfg := f.cfg
	if cfg.AuthKey == "" {
		cfg.AuthKey = os.Getenv(authKeyEnv)
	}
	for _, p := range f.expose {
		if p == 0 || p > 65535 {
			return cfg, fmt.Errorf("--expose: bad port %d", p)
		}
		cfg.Expose = append(cfg.Expose, uint16(p))
	}
	routes, err := parseRoutes(f.routes)
	if err != nil {
		return cfg, err
	}
	cfg.AdvertiseRoutes = routes
	eps, err := parseEndpoints(f.endpoints)
	if err != nil {
		return cfg, err
	}
	cfg.Endpoints = eps
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg.Version = version
	return cfg, nil
}

// setEngine applies --engine to cfg: with kernel, it checks the host can
// run it and sets cfg.Kernel; the function returned releases it.
func (f *nodeFlags) setEngine(cfg *node.AgentConfig) (func(), error) {
	switch f.engine {
	case engineUserspace:
		return func() {}, nil
	case engineKernel:
	default:
		return nil, fmt.Errorf("--engine %q: want %s or %s", f.engine, engineUserspace, engineKernel)
	}
	if len(cfg.Expose) > 0 {
		return nil, errors.New("--expose needs --engine userspace: with the kernel engine the OS serves its own ports, behind the link's nftables filter")
	}
	open, release, err := kernelEngine(cfg.UAPIName, cfg.Logger)
	if err != nil {
		return nil, err
	}
	cfg.Kernel = open
	return func() { release() }, nil
}

// parseRoutes parses --advertise-routes values: CIDR prefixes, masked,
// each one wire.CheckRoute accepts.
func parseRoutes(vals []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range vals {
		p, err := netip.ParsePrefix(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("--advertise-routes: %w", err)
		}
		p = p.Masked()
		if err := wire.CheckRoute(p); err != nil {
			return nil, fmt.Errorf("--advertise-routes: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// parseEndpoints parses --endpoint values; a bare IP gets port 0 (the
// listen port). It returns nil when there are none.
func parseEndpoints(vals []string) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	for _, v := range vals {
		if ap, err := netip.ParseAddrPort(v); err == nil {
			out = append(out, ap)
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("--endpoint %q: want IP or IP:PORT", v)
		}
		out = append(out, netip.AddrPortFrom(a, 0))
	}
	return out, nil
}

// errPeerPort is returned for a malformed PEER:PORT.
var errPeerPort = errors.New("want PEER:PORT (PEER a peer name or overlay IP; [IPv6]:PORT)")

// pingTimeout bounds `ward ping` by default.
const pingTimeout = 5 * time.Second
