// Package coordinator is Ward's control plane: it authenticates nodes by
// their machine keys, registers them with pre-auth keys, compiles the ACL
// policy against the fleet and streams each node its peers and inbound
// filter, with deltas as things change. It runs people's SSO logins,
// carries out the admins' fleet operations (Backend), keeps the audit log
// and exposes Prometheus metrics.
//
// It is a domain service: it imports neither the admin UI (package web)
// nor the development IdP (package devidp). Package assembly builds them
// and mounts them on the coordinator's HTTP server (Server.Handle). Its
// errors carry a fault.Kind, which each HTTP edge maps to a status once.
package coordinator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/clientaddr"
	"github.com/wardnet/ward/coordinator/sso"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/dnsname"
	"github.com/wardnet/ward/wire"
)

// Config configures a coordinator. Zero durations take their defaults.
type Config struct {
	// DataDir holds the database and the bootstrap API key. Required.
	DataDir string
	// DB, when set, is the URL of a PostgreSQL database
	// (postgres://user@host/db?sslmode=...) that holds the state instead of
	// SQLite in DataDir; several coordinators may share it. Empty: SQLite.
	DB string
	// TokenKeyFile holds the 32-byte key the IdP refresh tokens are sealed
	// with in the database; empty: TokenKeyFile in DataDir, made at first
	// start. Coordinators sharing a database must share the key.
	TokenKeyFile string
	// AuditKeyFile holds the Ed25519 key (its seed, hex) that signs the
	// audit log's checkpoints; empty: AuditKeyFile in DataDir, made at
	// first start. Coordinators sharing a database must share the key:
	// verify trusts the key of the coordinator it asks.
	AuditKeyFile string
	// Listen is the TCP address to serve on ("127.0.0.1:8080").
	Listen string
	// AdminListen, when not empty, is a TCP address ListenAndServe serves
	// the admin API and UI on (what AdminRoutes mounts: package web's
	// handler), apart from the fleet's listener: a fleet reconnecting
	// after a restart fills Listen's accept queue, and an admin's new
	// connection would wait out SYN retransmissions with the nodes'. The
	// nodes' routes (sessions, registration, map streams, logins, the
	// relay) are never served there. TLS and the plain-HTTP rule are
	// Listen's.
	AdminListen string
	// AdminOnListen keeps the admin API and UI on Listen as well when
	// AdminListen is set; by default they are then served on AdminListen
	// only, and the fleet's address answers 404 to them. Without
	// AdminListen they are served on Listen whatever this says.
	AdminOnListen bool
	// AdminURL is the admin listener's URL as browsers reach it, for the
	// admin UI's SSO redirect (PathUICallback) when AdminListen is set;
	// empty: http(s)://AdminListen.
	AdminURL string
	// MetricsListen is the TCP address ListenAndServe serves Prometheus
	// metrics on, apart from the public listener since they need no
	// authentication; empty serves none. `ward coordinator` defaults it to
	// 127.0.0.1:9090.
	MetricsListen string
	// Pprof also serves Go's profiles (/debug/pprof/) on the metrics
	// listener, for `ward sim` and profiling a large fleet; off by
	// default (they need no authentication either).
	Pprof bool
	// PolicyFile, when set, seeds an empty store at start, and is loaded
	// as a new version by ReloadPolicyFile (SIGHUP); see PolicyMode.
	PolicyFile string
	// PolicyMode is PolicyModeStore (the default when empty: a stored
	// policy wins over PolicyFile at start) or PolicyModeFile (the file
	// wins at every start; GitOps).
	PolicyMode string
	// Dev allows plain HTTP, and only on a loopback address.
	Dev bool
	// TLSCert and TLSKey are PEM files; required unless Dev.
	TLSCert, TLSKey string
	// KeyLifetime is how long a device's WireGuard key is valid (24h).
	KeyLifetime time.Duration
	// KeySwitchDelay is how long after its rotation a device switches to
	// its new key (200ms): its answer says so, and its peers keep the
	// replaced key until that moment (wire.Node.KeySwitchAt), so both
	// sides change keys together.
	KeySwitchDelay time.Duration
	// RotateBurst and RotateEvery limit each node's key rotations: RotateBurst
	// at once, then one per RotateEvery (5 and 10m); more get 429.
	RotateBurst int
	RotateEvery time.Duration
	// ReportBurst and ReportEvery limit each node's reports (endpoints,
	// exposed ports, denied flows): ReportBurst at once, then one per
	// ReportEvery (30 and 500ms). More get 429 with Retry-After. The stock
	// node reports at most once a second, plus its first endpoints.
	ReportBurst int
	ReportEvery time.Duration
	// UpdateBurst and UpdateEvery limit each node's update calls: its
	// polls (wire.PathUpdate) and its TUF fetches (metadata and targets,
	// one bucket): UpdateBurst at once, then one per UpdateEvery (60 and
	// 500ms). More get 429 with Retry-After, so a node polling in a loop
	// costs one bucket, not the database's time of the fleet. The stock
	// agent polls once a minute and makes some ten calls per update.
	UpdateBurst int
	UpdateEvery time.Duration
	// BodyTimeout bounds how long a control request's body may take to
	// arrive once its headers did (10s).
	BodyTimeout time.Duration
	// DeniedWindow is the window over which the denied flows nodes report
	// are aggregated into one audit event per (node, source, destination,
	// protocol, port) (1m).
	DeniedWindow time.Duration
	// AuditCheckpointEvery is how often a signed checkpoint is appended
	// to the audit log (1m), one even when nothing happened.
	AuditCheckpointEvery time.Duration
	// AlertRules are the alert rules and their webhooks (`ward
	// coordinator --alerts FILE`, parsed by alert.Parse); nil: no alerts.
	AlertRules *alert.Rules
	// AlertRulesFile is the --alerts file: imported into the store at
	// start when it changed since it was last imported (see
	// core.initialAlertRules); the stored rules are then in force.
	AlertRulesFile string
	// AlertEvery is how often the offline rules are evaluated (5s);
	// AlertBackoff the first wait before a failed webhook delivery is
	// tried again (1s, doubling, five attempts).
	AlertEvery, AlertBackoff time.Duration
	// TrafficEvery is how often the unusual-traffic job folds in the new
	// flow records and judges the traffic rules (1m).
	TrafficEvery time.Duration
	// AuditExportEvery is how often the audit export looks for new events
	// to stream to the rules' "audit_export" destinations (1s).
	AuditExportEvery time.Duration
	// FlowRetention is how long flow-log records are kept (by their
	// end); 0 keeps them forever. `ward coordinator --flow-retention`
	// defaults it to 30 days.
	FlowRetention time.Duration
	// SessionTTL is the lifetime of a node's control session token (1h).
	SessionTTL time.Duration
	// KeepAlive is the interval of map stream keep-alives (15s) for nodes
	// that do not say how long they wait (wire.MapIdleParam); those that
	// do get one every third of their wait, at most MaxKeepAlive apart.
	KeepAlive time.Duration
	// MaxKeepAlive bounds the keep-alive interval a node's wait allows
	// (45s: under the idle timeouts of common load balancers and NATs).
	MaxKeepAlive time.Duration
	// MapCoalesce is the least time between two map messages of one
	// stream (50ms; negative: none). A gateway's filter lists every
	// sensor, so every sensor's join changes it: with joins at a few
	// hundred a second, each gateway's stream got a message per join, and
	// the coordinator (and every gateway) paid a write, a decode and a
	// filter rebuild for each. What removes access does not wait: a wake
	// sends the pending removals, and everything pending when the node's
	// filter narrowed, at once (as during a large message's pace).
	MapCoalesce time.Duration
	// MapWriteBudget bounds the bytes of map messages made and not yet
	// written, over every stream (64 MiB; negative: none): a stream takes
	// a turn before it makes its message and waits for one while the
	// bytes in flight are at the budget, sending its removals meanwhile
	// (see mapBudget). Without it a policy change at 50,000 nodes made
	// every gateway's 10+ MB map at once.
	MapWriteBudget int64
	// SrcDeltaMin is the shortest filter source list sent as a delta
	// against one the node holds (wire.FeatureFilterSrcDelta; 16: below
	// it the whole list is about as small). Tests lower it.
	SrcDeltaMin int
	// MapAdmitEvery and MapAdmitBurst bound how fast map streams open
	// (1ms and 1,000: a thousand a second): a fleet reconnecting after a
	// restart is admitted at that rate, the rest told to come back within
	// 10 s (429 with a Retry-After spread at random), while admin and
	// other calls are served as usual.
	MapAdmitEvery time.Duration
	MapAdmitBurst int
	// MaxTargetDownloads caps the TUF targets served to nodes at once
	// (16), one per node: the bytes in flight, beside MaxUpdateDownloads's cap on the
	// devices handed an update; a node past it is answered 503 with
	// Retry-After and retries with backoff, resuming.
	MaxTargetDownloads int
	// TargetWriteTimeout bounds each write of a TUF target to a node
	// (30s), and TargetServeTimeout the whole response (1h): a node that
	// stops reading, or reads a trickle, gives its download slot back and
	// resumes with a Range request.
	TargetWriteTimeout, TargetServeTimeout time.Duration
	// MapReopenEvery and MapReopenBurst bound how fast one node may open
	// map streams (1s and 20), checked ahead of MapAdmitEvery's shared
	// bucket, so that one node opening and cancelling streams in a loop
	// cannot take the fleet's admissions.
	MapReopenEvery time.Duration
	MapReopenBurst int
	// MapWriteTimeout bounds writing one map stream message (30s): a node
	// that stops reading loses its stream, and the memory and goroutine
	// it held, once a write has waited this long.
	MapWriteTimeout time.Duration
	// HTTP2MaxStreams is how many streams one HTTP/2 connection may hold
	// open at once (4,096). A load balancer in front of a large fleet
	// multiplexes many nodes' map streams over a few upstream
	// connections, each stream open for good: Go's default of 250 would
	// make it open a connection per 250 nodes. The stream admission
	// (MapAdmitEvery) and the per-source limits apply per request, not per
	// connection.
	HTTP2MaxStreams int
	// EphemeralGrace is how long an ephemeral node may stay offline before
	// it is deleted (5m).
	EphemeralGrace time.Duration
	// Auth runs interactive SSO logins; nil means: from OIDC, else none.
	Auth Authenticator
	// OIDC configures the identity provider: the company's, or in dev
	// mode the development provider the caller serves (package assembly).
	OIDC *sso.Config
	// AdminRoles maps who to admin roles: an IdP group ("idp:ops"), a
	// group of the policy's "groups" ("group:ops") or an email (see
	// admin.MemberIdP). An API key made by a person acts with the role
	// they map to; the admin UI takes the same map for its logins. A
	// change of the policy's groups that changes who holds a role needs a
	// principal whose role covers it.
	AdminRoles map[string]admin.Role
	// AdminStepUp is how recent an admin UI login must be, with a second
	// factor, to change the fleet (save the policy, mint keys, change
	// devices and users): older sessions are sent through the IdP again
	// with max_age and acr_values (package web's Config.StepUp). Zero
	// turns the check off.
	AdminStepUp time.Duration
	// PublicURL is the coordinator's URL as browsers reach it; empty means
	// the scheme and host of each request.
	PublicURL string
	// UserKeyTTL is how long a person's key lives after login (12h).
	UserKeyTTL time.Duration
	// GroupKeyTTL shortens UserKeyTTL for members of a group (group:name).
	GroupKeyTTL map[string]time.Duration
	// RefreshEvery is how often the coordinator asks the IdP again about
	// each user with a live key, by redeeming the refresh token of their
	// last login (5m). A refusal cuts every key of the user.
	RefreshEvery time.Duration
	// ControlBurst and ControlEvery limit, per source address, the calls
	// that open a node's control session (challenge and session) and
	// those its session alone allows (register and rotate):
	// ControlBurst at once, then one per ControlEvery (2,000 and 10ms, that
	// is 100 a second). More get 429 with Retry-After.
	ControlBurst int
	ControlEvery time.Duration
	// LoginBurst and LoginEvery limit, per source address, the login pages
	// a browser opens (admin UI login and callback, a node login's link and
	// the OIDC callback) and a node's request to start a login (300 and
	// 100ms, that is 10 a second).
	LoginBurst int
	LoginEvery time.Duration
	// RateLimitSources bounds how many source addresses each of those
	// limits tracks (65,536); past it, sources whose bucket has refilled
	// are forgotten first. An IPv6 source is a /64.
	RateLimitSources int
	// MaxPendingLoginsPerSource bounds the interactive logins waiting for
	// their person that one source address may have asked for (64); more
	// get 429.
	MaxPendingLoginsPerSource int
	// TrustedProxies are the reverse proxies (a TLS terminator, a load
	// balancer) whose X-Forwarded-For header names the client. A request
	// whose TCP peer is in one of them counts as coming from the rightmost
	// address in that header that is not itself a trusted proxy: for the
	// per-source limits above, the pending-login bound, the audit log's
	// source and the login confirmation page. From any other peer the
	// header is ignored. Empty: every caller is its TCP peer, so behind a
	// proxy every caller is the proxy and shares its limits.
	TrustedProxies []netip.Prefix
	// DisableRelay turns off the relay served at wire.PathRelay (and, while
	// no standalone relay is registered, its tokens at
	// wire.PathRelayToken); `ward coordinator --relay=false`.
	DisableRelay bool
	// RelayName and RelayURL name this coordinator's relay and give the
	// absolute URL (ws:// or wss://) nodes reach it at directly, not
	// through a load balancer that may send them to another coordinator
	// (`--relay-name`, `--relay-url`). Both or neither; empty: the relay
	// is "coordinator" at wire.PathRelay on the coordinator's own URL.
	// Coordinators on one database set them, each its own: each then
	// registers its relay in the database's relay list, which every
	// coordinator's maps carry, so nodes whose control connections are
	// on different coordinators meet on each other's home relay.
	RelayName, RelayURL string
	// STUN is the UDP address the maps name for the coordinator's STUN
	// server (wire.Relay.STUN: "host:port", or ":port" on the
	// coordinator's host); empty: none.
	STUN string
	// STUNAlt is the maps' second STUN address for the coordinator
	// (wire.Relay.STUNAlt, --stun-listen-alt), so nodes tell easy NATs
	// from hard ones; empty: none.
	STUNAlt string
	// MaxUpdateDownloads caps the devices that may hold a rollout's
	// assignment in the downloading state at once (sent, or reporting
	// downloading), across the rollouts of the database (200); a device
	// past it gets 204 with Retry-After until a slot frees.
	MaxUpdateDownloads int
	// RolloutEvery is how often the rollout engine judges the gates and
	// times out silent devices (5s): a tripped gate pauses its rollout
	// within it (a device's failure report judges at once).
	RolloutEvery time.Duration
	// Clock is the rollout engine's and the unusual-traffic job's time
	// (soaks, device timeouts, the hour of day); nil
	// is time.Now. Tests set it so as not to sleep through a soak.
	Clock func() time.Time
	// DNSDomain is the fleet's DNS domain: every node's name lies under it
	// in the maps ("camera-3.ward.internal"), and nodes in TUN mode answer
	// for it. Empty: dnsname.DefaultDomain. `ward coordinator --dns-domain`.
	DNSDomain string
	// Logger receives the coordinator's logs; nil discards them.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.KeyLifetime, 24*time.Hour)
	def(&c.KeySwitchDelay, 200*time.Millisecond)
	def(&c.SessionTTL, time.Hour)
	def(&c.RotateEvery, 10*time.Minute)
	def(&c.DeniedWindow, time.Minute)
	def(&c.AuditCheckpointEvery, time.Minute)
	def(&c.AlertEvery, 5*time.Second)
	def(&c.AlertBackoff, time.Second)
	def(&c.TrafficEvery, time.Minute)
	def(&c.AuditExportEvery, time.Second)
	def(&c.BodyTimeout, 10*time.Second)
	def(&c.RolloutEvery, 5*time.Second)
	if c.MaxUpdateDownloads <= 0 {
		c.MaxUpdateDownloads = 200
	}
	if c.RotateBurst <= 0 {
		c.RotateBurst = 5
	}
	def(&c.ReportEvery, 500*time.Millisecond)
	if c.ReportBurst <= 0 {
		c.ReportBurst = 30
	}
	def(&c.UpdateEvery, 500*time.Millisecond)
	if c.UpdateBurst <= 0 {
		c.UpdateBurst = 60
	}
	def(&c.KeepAlive, 15*time.Second)
	def(&c.MaxKeepAlive, 45*time.Second)
	if c.SrcDeltaMin <= 0 {
		c.SrcDeltaMin = 16
	}
	switch {
	case c.MapCoalesce == 0:
		c.MapCoalesce = 50 * time.Millisecond
	case c.MapCoalesce < 0:
		c.MapCoalesce = 0
	}
	switch {
	case c.MapWriteBudget == 0:
		c.MapWriteBudget = 64 << 20
	case c.MapWriteBudget < 0:
		c.MapWriteBudget = 0
	}
	def(&c.MapWriteTimeout, 30*time.Second)
	if c.HTTP2MaxStreams <= 0 {
		c.HTTP2MaxStreams = 4096
	}
	def(&c.MapAdmitEvery, time.Millisecond)
	if c.MapAdmitBurst <= 0 {
		c.MapAdmitBurst = 1000
	}
	if c.MaxTargetDownloads <= 0 {
		c.MaxTargetDownloads = 16
	}
	def(&c.TargetWriteTimeout, 30*time.Second)
	def(&c.TargetServeTimeout, time.Hour)
	def(&c.MapReopenEvery, time.Second)
	if c.MapReopenBurst <= 0 {
		c.MapReopenBurst = 20
	}
	def(&c.EphemeralGrace, 5*time.Minute)
	def(&c.UserKeyTTL, 12*time.Hour)
	def(&c.RefreshEvery, 5*time.Minute)
	def(&c.ControlEvery, 10*time.Millisecond)
	def(&c.LoginEvery, 100*time.Millisecond)
	if c.ControlBurst <= 0 {
		c.ControlBurst = 2000
	}
	if c.LoginBurst <= 0 {
		c.LoginBurst = 300
	}
	if c.RateLimitSources <= 0 {
		c.RateLimitSources = 1 << 16
	}
	if c.MaxPendingLoginsPerSource <= 0 {
		c.MaxPendingLoginsPerSource = DefaultMaxPendingPerSource
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DNSDomain == "" {
		c.DNSDomain = dnsname.DefaultDomain
	}
}

// validate checks the configuration, including the transport rules: plain
// HTTP only with Dev and only on loopback.
func (c *Config) validate() error {
	if c.DataDir == "" {
		return errors.New("config: a data directory is required")
	}
	if c.Listen == "" {
		return errors.New("config: a listen address is required")
	}
	if err := dnsname.CheckDomain(c.DNSDomain); err != nil {
		return fmt.Errorf("config: --dns-domain: %w", err)
	}
	if c.DB != "" && !store.IsPostgresURL(c.DB) {
		return errors.New("config: --db must be a postgres:// URL")
	}
	if err := checkOwnRelay(c.RelayName, c.RelayURL); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	switch c.PolicyMode {
	case "", PolicyModeStore:
	case PolicyModeFile:
		if c.PolicyFile == "" {
			return errors.New("config: --policy-mode=file needs a --policy file")
		}
	default:
		return fmt.Errorf("config: policy mode %q: want %q or %q", c.PolicyMode, PolicyModeStore, PolicyModeFile)
	}
	roles, err := admin.CheckRoles(c.AdminRoles)
	if err != nil {
		return fmt.Errorf("config: admin roles: %w", err)
	}
	c.AdminRoles = roles
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("config: --tls-cert and --tls-key go together")
	}
	if c.TLSCert == "" {
		if !c.Dev {
			return errors.New("config: TLS is required: give --tls-cert and --tls-key (plain HTTP needs --dev and a loopback address)")
		}
		if !isLoopback(c.Listen) {
			return fmt.Errorf("config: plain HTTP is only allowed on a loopback address, not %q", c.Listen)
		}
		if c.AdminListen != "" && !isLoopback(c.AdminListen) {
			return fmt.Errorf("config: plain HTTP is only allowed on a loopback address, not %q (--admin-listen)", c.AdminListen)
		}
	}
	if c.AdminListen == "" && (c.AdminOnListen || c.AdminURL != "") {
		return errors.New("config: --admin-on-listen and --admin-url need --admin-listen")
	}
	return nil
}

// AdminBaseURL is the admin listener's URL as browsers reach it
// (AdminURL, else from AdminListen); empty without AdminListen.
func (c *Config) AdminBaseURL() string {
	if c.AdminListen == "" {
		return ""
	}
	if c.AdminURL != "" {
		return strings.TrimSuffix(c.AdminURL, "/")
	}
	if c.TLSCert != "" {
		return "https://" + c.AdminListen
	}
	return "http://" + c.AdminListen
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Server is a running coordinator. It composes three services over one
// shared core: the nodes' control API (control: sessions, registration,
// rotation, reports, the map stream), people's interactive logins
// (logins: SSO, confirmation in the browser, refresh with the IdP) and
// the admins' fleet operations (fleet: nodes, keys, users, the policy,
// behind Backend). It serves them on one HTTP handler, with what Handle
// mounts, and runs their background work.
type Server struct {
	*core
	// control serves the nodes' control API.
	control *control
	// logins runs people's interactive logins.
	logins *logins
	// fleet carries out the admins' fleet operations.
	fleet *fleet
	// mux routes the control API, the logins and what Handle mounts: what
	// Listen serves.
	mux *http.ServeMux
	// adminMux routes what AdminRoutes mounts (the admin API and UI) and
	// /healthz: what AdminListen serves.
	adminMux *http.ServeMux
	// clients finds a request's client address (see withClientAddr).
	clients clientaddr.Resolver
	once    sync.Once
}

// New opens the store in cfg.DataDir, loads the policy and the fleet, and
// returns a coordinator ready to serve. Close it when done.
func New(ctx context.Context, cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c := newCore(cfg, st)
	c.jobs, c.replicas = st, st
	c.ro = newRollouts(c)
	if c.auditKey, err = loadAuditKey(cfg.auditKeyPath()); err != nil {
		st.Close()
		return nil, err
	}
	follower, err := st.Listen(ctx) // before the loads of init: no change falls between
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &Server{core: c, control: newControl(c), logins: newLogins(c), fleet: &fleet{core: c},
		clients: clientaddr.New(cfg.TrustedProxies)}
	s.presence.apply, s.presence.held = s.control.applyPresences, s.control.marks.ids
	s.routes()
	if err := s.logins.setupSSO(); err != nil {
		follower.Close()
		st.Close()
		return nil, err
	}
	if err := s.shareSessions(); err != nil {
		follower.Close()
		st.Close()
		return nil, err
	}
	if err := s.init(ctx); err != nil {
		follower.Close()
		st.Close()
		return nil, err
	}
	if err := s.checkpoint(ctx); err != nil {
		follower.Close()
		st.Close()
		return nil, err
	}
	s.wg.Add(1)
	go s.housekeeping()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		follower.Run(s.ctx, s.applyChange)
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.presence.run(s.ctx)
	}()
	s.wg.Add(5)
	go func() {
		defer s.wg.Done()
		s.ro.run(s.ctx)
	}()
	go func() {
		defer s.wg.Done()
		s.checkpointLoop(s.ctx)
	}()
	go func() {
		defer s.wg.Done()
		s.alertLoop(s.ctx)
	}()
	go func() {
		defer s.wg.Done()
		s.control.flows.run(s.ctx)
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.trafficLoop(s.ctx)
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.auditExportLoop(s.ctx)
	}()
	go func() {
		defer s.wg.Done()
		s.control.flows.prune(s.ctx, s.cfg.FlowRetention, func() bool { return s.runsJob(jobFlowPrune) }, s.log)
	}()
	if r, ok := s.cfg.Auth.(Refresher); ok {
		s.wg.Add(1)
		go s.logins.refreshLoop(r)
	}
	return s, nil
}

// openStore opens PostgreSQL when cfg.DB names it, else SQLite in the data
// directory.
func openStore(ctx context.Context, cfg Config) (*store.SQLStore, error) {
	if cfg.DB != "" {
		return store.OpenPostgres(ctx, cfg.DB)
	}
	return store.Open(ctx, cfg.DataDir)
}

func (s *Server) init(ctx context.Context) error {
	users, err := s.st.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("load users: %w", err)
	}
	s.nm = newNetmap(s.cfg.DNSDomain)
	s.metrics.watchFleet(s.nm)
	s.metrics.watchGiveBacks()
	s.nm.recordUsers(users)
	rs, err := s.fleet.initialPolicy(ctx)
	if err != nil {
		return err
	}
	if err := s.nm.setPolicy(rs, time.Now()); err != nil {
		return err
	}
	if err := s.initialAlertRules(ctx); err != nil {
		return err
	}
	nodes, err := s.st.ListNodes(ctx)
	if err != nil {
		return fmt.Errorf("load nodes: %w", err)
	}
	if err := s.nm.load(nodes, time.Now()); err != nil {
		return err
	}
	if s.cfg.DB != "" {
		for _, n := range nodes { // held by other coordinators of the database
			if n.Online {
				s.nm.setOnline(n.ID, true, n.LastSeen)
			}
		}
	}
	if err := s.loadRequests(ctx); err != nil {
		return err
	}
	if err := s.initRelay(ctx); err != nil {
		return err
	}
	return s.fleet.bootstrapAPIKey(ctx)
}

// routes registers the coordinator's own endpoints on s.mux.
func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.control.controlRoutes(s.mux)
	s.logins.loginRoutes(s.mux)
	if !s.cfg.DisableRelay {
		s.mux.HandleFunc("GET "+wire.PathRelay, func(w http.ResponseWriter, r *http.Request) { s.relay.srv.ServeHTTP(w, r) })
	}
	s.mux.HandleFunc("POST "+wire.PathRelayToken, s.control.handleRelayToken)
	s.mux.HandleFunc("GET "+wire.PathRelayFeed, s.control.handleRelayFeed)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	s.adminMux = http.NewServeMux()
	s.adminMux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
}

// CompactHeld makes the peer sets the streams hold one slice per distinct
// content, with nothing beside it (after a registration each node's set
// is its class's base with its own joins beside it), and returns how
// many sets it changed. What it frees is garbage: run it just ahead of a
// memory give-back (ward coordinator does, giveback.Run).
func (s *Server) CompactHeld() int {
	return s.control.hub.compactHeld()
}

// AdminRoutes is where the admin API and UI are mounted (package web's
// Mount): on the admin listener when Config.AdminListen is set (and on the
// fleet's listener too only with Config.AdminOnListen), else on the
// fleet's listener, as Handle.
func (s *Server) AdminRoutes() interface{ Handle(string, http.Handler) } {
	return adminRoutes{s}
}

// adminRoutes mounts on the listeners that serve the admin API.
type adminRoutes struct{ s *Server }

// Handle serves h for pattern where the admin API is served.
func (a adminRoutes) Handle(pattern string, h http.Handler) {
	if a.s.cfg.AdminListen == "" || a.s.cfg.AdminOnListen {
		a.s.Handle(pattern, h)
	}
	if a.s.cfg.AdminListen != "" {
		a.s.adminMux.Handle(pattern, h)
	}
}

// AdminHandler returns the admin listener's handler: what AdminRoutes
// mounted, behind the same client-address resolution and per-source
// limits as Handler; no node route.
func (s *Server) AdminHandler() http.Handler {
	return s.withClientAddr(s.limitUnauthenticated(s.adminMux))
}

// Handle serves h for pattern (an http.ServeMux pattern) beside the
// coordinator's own endpoints, behind the same client-address resolution
// and per-source limits: the caller mounts the admin UI and, in dev mode,
// the development identity provider this way. Call it before serving; a
// pattern that conflicts with another panics, as http.ServeMux.Handle
// does, and so does a pattern naming a host, which http.ServeMux would
// prefer to the coordinator's own route of the same method and path.
func (s *Server) Handle(pattern string, h http.Handler) {
	path := pattern
	if i := strings.IndexAny(pattern, " \t"); i >= 0 { // "METHOD [HOST]/PATH"
		path = strings.TrimLeft(pattern[i:], " \t")
	}
	if !strings.HasPrefix(path, "/") {
		panic(fmt.Sprintf("coordinator: Handle(%q): a pattern with a host would take the place of the coordinator's own routes", pattern))
	}
	s.mux.Handle(pattern, h)
}

// Handler returns the coordinator's HTTP handler: the control API, the
// logins, and what Handle mounted.
func (s *Server) Handler() http.Handler {
	return s.withClientAddr(s.limitUnauthenticated(s.mux))
}

// Serve serves on ln until ctx ends or Close is called.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, s.Handler(), true)
}

// ServeAdmin serves the admin listener's handler (AdminHandler) on ln
// until ctx ends or Close is called.
func (s *Server) ServeAdmin(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, s.AdminHandler(), false)
}

// serve serves h on ln until ctx ends or Close is called; the fleet's
// listener (fleet) also closes the relay's connections then.
func (s *Server) serve(ctx context.Context, ln net.Listener, h http.Handler, fleet bool) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return withServedBy(s.ctx, s.core) }, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	if s.cfg.TLSCert != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS13}
	}
	srv.Protocols, srv.HTTP2 = s.protocols()
	if fleet {
		srv.ConnContext = withConnKeepAlive // the map streams' keep-alive phases
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-s.ctx.Done():
		case <-done:
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.cancel() // ends map streams so Shutdown need not wait for them
		if fleet && s.relay != nil {
			s.relay.srv.Close() // hijacked: Shutdown does not see them
		}
		srv.Shutdown(sctx)
	}()
	var err error
	if s.cfg.TLSCert != "" {
		err = srv.ServeTLS(ln, s.cfg.TLSCert, s.cfg.TLSKey)
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// protocols are the HTTP versions Serve speaks: HTTP/1.1, and HTTP/2
// (over TLS through ALPN; on plain HTTP with prior knowledge, h2c, which
// a load balancer that terminates TLS speaks to its upstreams), with
// Config.HTTP2MaxStreams streams per connection.
func (s *Server) protocols() (*http.Protocols, *http.HTTP2Config) {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	if s.cfg.TLSCert == "" {
		p.SetUnencryptedHTTP2(true)
	}
	// A connection nothing can be written to for as long as a stream's
	// write may wait is closed whole (a stream's own deadline resets only
	// that stream: see streamState.write).
	return p, &http.HTTP2Config{MaxConcurrentStreams: s.cfg.HTTP2MaxStreams,
		WriteByteTimeout: max(s.cfg.MapWriteTimeout, s.cfg.TargetWriteTimeout)}
}

// ListenAndServe listens on cfg.Listen, and on cfg.AdminListen and
// cfg.MetricsListen when set, and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if s.cfg.AdminListen != "" {
		al, err := net.Listen("tcp", s.cfg.AdminListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen for the admin API: %w", err)
		}
		s.log.Info("admin API listening", "addr", al.Addr().String(), "also_on_listen", s.cfg.AdminOnListen)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.ServeAdmin(ctx, al); err != nil {
				s.log.Error("admin listener failed", "err", err)
			}
		}()
	}
	if s.cfg.MetricsListen != "" {
		ml, err := net.Listen("tcp", s.cfg.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen for metrics: %w", err)
		}
		s.logMetricsListener(ml.Addr())
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.ServeMetrics(ctx, ml); err != nil {
				s.log.Error("metrics listener failed", "err", err)
			}
		}()
	}
	s.log.Info("coordinator listening", "addr", ln.Addr().String(), "tls", s.cfg.TLSCert != "")
	return s.Serve(ctx, ln)
}

// logMetricsListener says where metrics are served, with a warning when
// that is not a loopback address: they need no authentication.
func (s *Server) logMetricsListener(a net.Addr) {
	if isLoopback(a.String()) {
		s.log.Info("metrics listening", "addr", a.String(), "path", "/metrics")
		return
	}
	s.log.Warn("metrics listening on a non-loopback address: anyone who reaches it reads them without authentication",
		"addr", a.String(), "path", "/metrics")
}

// ServeMetrics serves GET /metrics (Prometheus) on ln until ctx ends or
// Close is called. The public handler does not serve them.
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.handler())
	if s.cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	stopS := context.AfterFunc(s.ctx, func() { srv.Close() })
	defer stopS()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Close stops background work and closes the store. It is idempotent.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		s.cancel()
		if s.relay != nil {
			s.relay.srv.Close()
		}
		s.wg.Wait()
		s.control.flushDenied(context.Background(), time.Now(), true)
		s.flushRefusals(context.Background(), time.Now(), true)
		err = s.st.Close()
	})
	return err
}

// housekeeping expires keys, deletes stale ephemeral nodes and sweeps
// sessions until the server closes.
func (s *Server) housekeeping() {
	defer s.wg.Done()
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			s.expireKeys(now)
			s.expireTimed(now)
			s.expireMFA(now)
			s.control.flushDenied(s.ctx, now, false)
			s.flushRefusals(s.ctx, now, false)
			s.sess.sweep(now)
			s.reapEphemeral(now)
		}
	}
}
