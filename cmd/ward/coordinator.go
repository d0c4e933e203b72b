//go:build !ward_omit_coordinator

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/dnsname"
	"github.com/wardnet/ward/internal/giveback"
	"github.com/wardnet/ward/wire"
)

func newCoordinatorCmd() *cobra.Command {
	var cfg assembly.Config
	var oidc oidcFlags
	var trustedProxies []string
	var verbose bool
	var memLimit string
	giveBack := true
	relayOn := true
	cmd := &cobra.Command{
		Use:   "coordinator",
		Short: "Run the control plane (embedded SQLite in --data-dir)",
		Long: "Runs Ward's coordinator. On first start it writes an admin API key to\n" +
			"DATA_DIR/admin-api-key (mode 0600). Plain HTTP needs --dev and a loopback\n" +
			"--listen address; otherwise give --tls-cert and --tls-key. --policy seeds an\n" +
			"empty store; once the store holds a policy it wins at start (admin edits survive\n" +
			"restarts) unless --policy-mode=file. SIGHUP loads --policy as a new version.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			limit, why, err := setMemoryLimit(memLimit)
			if err != nil {
				return err
			}
			cfg.Logger.Info("soft memory limit", "bytes", limit, "from", why)
			if err := oidc.apply(&cfg); err != nil {
				return err
			}
			cfg.DisableRelay = !relayOn
			if cfg.Dev && !cmd.Flags().Changed("admin-step-up") {
				cfg.AdminStepUp = 0 // the demo users mostly have no second factor
			}
			if cfg.TrustedProxies, err = parsePrefixes(trustedProxies); err != nil {
				return fmt.Errorf("--trusted-proxy: %w", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			bound, err := serveSTUN(ctx, stunAddrs(cmd.Flags()), cfg.Logger)
			if err != nil {
				return err
			}
			if len(bound) > 0 {
				cfg.STUN = advertisedSTUN(bound[0])
			}
			if len(bound) > 1 {
				cfg.STUNAlt = advertisedSTUN(bound[1])
			}
			srv, err := assembly.New(ctx, cfg)
			if err != nil {
				return err
			}
			defer srv.Close()
			if giveBack {
				// Ahead of each give-back the streams' held peer sets are
				// compacted (Server.CompactHeld): what that frees goes back
				// in the same collections.
				go giveback.Run(ctx, cfg.Logger, giveback.Coordinator, func() {
					cfg.Logger.Info("held peer sets compacted", "sets", srv.CompactHeld())
				})
			}
			go reloadOnHUP(ctx, srv.Server, cfg.Logger)
			return srv.ListenAndServe(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", defaultDataDir(), "directory for the database and the bootstrap API key")
	f.StringVar(&cfg.DB, "db", "", "PostgreSQL URL (postgres://user@host/db) to keep the state in instead of SQLite in --data-dir; several coordinators may share one")
	f.StringVar(&cfg.TokenKeyFile, "token-key-file", "", "32-byte key the IdP refresh tokens are sealed with in the database (default: "+coordinator.TokenKeyFile+" in --data-dir, made at first start); coordinators sharing a --db must share it")
	f.StringVar(&cfg.AuditKeyFile, "audit-key-file", "", "Ed25519 key (hex seed) that signs the audit log's checkpoints (default: "+coordinator.AuditKeyFile+" in --data-dir, made at first start); coordinators sharing a --db must share it")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "address to serve the control API (and the admin API and UI, unless --admin-listen) on")
	f.StringVar(&cfg.AdminListen, "admin-listen", "", "address to serve the admin API and UI on, apart from the fleet's --listen (whose accept queue a fleet reconnecting after a restart fills); then --listen serves the nodes only, unless --admin-on-listen")
	f.BoolVar(&cfg.AdminOnListen, "admin-on-listen", false, "with --admin-listen: serve the admin API and UI on --listen as well")
	f.StringVar(&cfg.AdminURL, "admin-url", "", "with --admin-listen: its URL as browsers reach it, for the admin UI's SSO redirect (default: http(s)://ADMIN-LISTEN)")
	f.StringVar(&cfg.MetricsListen, "metrics-listen", "127.0.0.1:9090", "address to serve Prometheus /metrics on, unauthenticated (\"\": off)")
	f.StringVar(&cfg.PolicyFile, "policy", "", "policy file (HuJSON): seeds an empty store; SIGHUP loads it as a new version")
	f.StringVar(&cfg.PolicyMode, "policy-mode", coordinator.PolicyModeStore, "store: a stored policy wins over --policy at start (a differing file is a warning); file: --policy wins at every start (GitOps)")
	f.BoolVar(&cfg.Dev, "dev", false, "development mode: allow plain HTTP on a loopback address")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate (PEM)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key (PEM)")
	f.DurationVar(&cfg.KeyLifetime, "key-lifetime", 0, "device WireGuard key lifetime (default 24h)")
	f.Var(alertsFlag{&cfg.AlertRules, &cfg.AlertRulesFile}, "alerts", "alert rules file (HuJSON): devices offline, denied flows, expiring keys, joins, policy changes, admin logins; to webhooks, Slack, syslog or e-mail. Imported into the store at start when it changed since its last import; edited in the admin UI (Alert rules) and `ward admin alerts rules`")
	cfg.FlowRetention = 30 * 24 * time.Hour
	f.Var(daysDuration{&cfg.FlowRetention}, "flow-retention", "how long flow-log records are kept: days (30d) or a duration (12h); 0 keeps them forever")
	f.StringVar(&cfg.DNSDomain, "dns-domain", dnsname.DefaultDomain, "the fleet's DNS domain: each node is NAME.DOMAIN in the maps, and nodes in --tun mode answer for it")
	f.DurationVar(&cfg.EphemeralGrace, "ephemeral-grace", 0, "how long an ephemeral node may be offline before removal (default 5m)")
	f.StringVar(&cfg.PublicURL, "public-url", "", "the coordinator's URL as browsers reach it (default: from each request)")
	f.DurationVar(&cfg.UserKeyTTL, "user-key-ttl", 0, "how long a person's key lives after login (default 12h)")
	f.StringToStringVar(&oidc.groupTTL, "group-key-ttl", nil, "shorter key lifetimes per group, e.g. group:contractors=1h")
	f.StringArrayVar(&oidc.adminRoles, "admin-role", nil, "admin UI role and who holds it, repeatable: ROLE=MEMBER,... with ROLE owner, admin, network-admin, it-admin or auditor and MEMBER idp:GROUP (an IdP group), group:NAME (a policy group) or an email, e.g. admin=idp:ward-admins,group:ops,alice@example.com")
	f.DurationVar(&cfg.AdminStepUp, "admin-step-up", 15*time.Minute, "how recent an admin UI login must be, with a second factor, to change the fleet (policy, keys, devices, users); older sessions log in again at the IdP (max_age, acr_values); 0: off; --dev: off unless given")
	f.BoolVar(&relayOn, "relay", true, "serve a relay for nodes that cannot reach each other directly at "+wire.PathRelay+" on the same port (admission by coordinator-signed tokens only)")
	f.StringVar(&cfg.RelayName, "relay-name", "", "with several coordinators on one database: this coordinator's relay's name, its own on each (with --relay-url)")
	f.StringVar(&cfg.RelayURL, "relay-url", "", "with several coordinators on one database: the ws:// or wss:// URL nodes reach this coordinator's relay at directly, not through the load balancer (default: "+wire.PathRelay+" on the coordinator's URL)")
	f.StringSliceVar(&trustedProxies, "trusted-proxy", nil, "reverse proxies (CIDR or address, comma-separated or repeated) whose X-Forwarded-For names the client, for the per-source limits and the audit log; from any other peer the header is ignored")
	f.IntVar(&cfg.ControlBurst, "control-limit-burst", 0, "per source address: session handshakes, registrations and key rotations allowed at once (default 2000)")
	f.DurationVar(&cfg.ControlEvery, "control-limit-every", 0, "per source address: one more of those per this interval (default 10ms)")
	f.IntVar(&cfg.LoginBurst, "login-limit-burst", 0, "per source address: login pages and login requests allowed at once (default 300)")
	f.DurationVar(&cfg.LoginEvery, "login-limit-every", 0, "per source address: one more login page or request per this interval (default 100ms)")
	f.IntVar(&cfg.MaxPendingLoginsPerSource, "login-limit-pending", 0, "per source address: device logins waiting for their person at once (default 64)")
	f.IntVar(&cfg.MaxUpdateDownloads, "max-update-downloads", 0, "devices that may download a rollout's update at once; more are told to come back later (default 200)")
	f.IntVar(&cfg.RotateBurst, "rotate-limit-burst", 0, "per device: key rotations allowed at once (default 5)")
	f.DurationVar(&cfg.RotateEvery, "rotate-limit-every", 0, "per device: one more key rotation per this interval (default 10m)")
	f.IntVar(&cfg.ReportBurst, "report-limit-burst", 0, "per node: reports (endpoints, denied flows) allowed at once (default 30)")
	f.DurationVar(&cfg.ReportEvery, "report-limit-every", 0, "per node: one more report per this interval (default 500ms)")
	f.DurationVar(&cfg.MapCoalesce, "map-coalesce", 0, "least time between two map messages of one node's stream; what removes access never waits (default 50ms; negative: none)")
	f.MarkHidden("map-coalesce")
	f.Int64Var(&cfg.MapWriteBudget, "map-write-budget", 0, "bytes of map messages made and not yet written, over every stream (default 64 MiB; negative: none)")
	f.MarkHidden("map-write-budget")
	f.StringVar(&memLimit, "memory-limit", "", "soft memory limit of the Go runtime (1.5GiB, 2GB, bytes, or off): near it the collector runs more often rather than let the heap grow to twice what is live; never below the live heap (default: GOMEMLIMIT, else 75% of the machine's memory or its cgroup's limit)")
	f.BoolVar(&giveBack, "memory-give-back", true, "give the memory a burst of allocation used (a registration storm, a policy change) back to the operating system once the coordinator is quiet again, rather than keep it until the runtime's scavenger gets to it")
	f.BoolVar(&cfg.Pprof, "pprof", false, "also serve Go's profiles (/debug/pprof/) on --metrics-listen, unauthenticated")
	f.StringVar(&cfg.DevUsersFile, "dev-users", "", "demo users for the --dev identity provider (JSON/HuJSON)")
	oidc.register(f)
	registerSTUNFlags(f)
	f.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	return cmd
}

func reloadOnHUP(ctx context.Context, srv *coordinator.Server, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := srv.ReloadPolicyFile(ctx); err != nil {
				log.Error("policy reload refused; the running policy stays", "err", err)
			} else {
				log.Info("policy reloaded")
			}
		}
	}
}

// defaultAdminKeyFile is where the admin CLI looks for the API key when
// none is given: the bootstrap key a coordinator on this machine wrote.
func defaultAdminKeyFile() string {
	return filepath.Join(defaultDataDir(), coordinator.BootstrapKeyFile)
}

func defaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/ward/coordinator"
	}
	if d, err := os.UserHomeDir(); err == nil {
		return d + "/.local/share/ward/coordinator"
	}
	return ".ward-coordinator"
}

// parsePrefixes parses CIDR prefixes; a bare address is its own prefix
// (/32 or /128).
func parsePrefixes(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR prefix nor an address", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
