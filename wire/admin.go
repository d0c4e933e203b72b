package wire

import (
	"net/netip"
	"time"
)

// Admin API paths (authenticated with an API key as a bearer token).
const (
	PathAdminAuthKeys = "/ward/v1/admin/authkeys"
	PathAdminAPIKeys  = "/ward/v1/admin/apikeys"
	PathAdminNodes    = "/ward/v1/admin/nodes"
	PathAdminPolicy   = "/ward/v1/admin/policy"
	PathAdminAudit    = "/ward/v1/admin/audit"
)

// CreateAuthKeyRequest asks for a pre-auth key.
type CreateAuthKeyRequest struct {
	// Tags the key applies to nodes it registers; each needs a tagOwners
	// entry in the running policy.
	Tags      []string `json:"tags"`
	Reusable  bool     `json:"reusable"`
	Ephemeral bool     `json:"ephemeral"`
	// Expiry is a Go duration ("24h"); empty means 24h.
	Expiry string `json:"expiry,omitempty"`
	// RiskClass (issue 17) is the risk class of the nodes the key
	// registers; it must be one the running policy defines. Empty leaves
	// them unclassified (the policy's default class).
	RiskClass string `json:"risk_class,omitempty"`
}

// AuthKey describes a pre-auth key. Key (the secret) is set only in the
// response that created it.
type AuthKey struct {
	ID        int64     `json:"id"`
	Key       string    `json:"key,omitempty"`
	Prefix    string    `json:"prefix"`
	Tags      []string  `json:"tags"`
	Reusable  bool      `json:"reusable"`
	Ephemeral bool      `json:"ephemeral"`
	Expiry    time.Time `json:"expiry,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	UseCount  int       `json:"use_count"`
	Revoked   bool      `json:"revoked"`
	// RiskClass is as in CreateAuthKeyRequest; empty when unclassified.
	RiskClass string `json:"risk_class,omitempty"`
}

// CreateAPIKeyRequest asks for an API key.
type CreateAPIKeyRequest struct {
	Description string `json:"description"`
	// Expiry is a Go duration; empty means never.
	Expiry string `json:"expiry,omitempty"`
	// Scopes narrow what the key may do below its maker's role (package
	// admin's ScopeRead, ScopePolicy, ScopeFleet, ScopeAPIKeys,
	// ScopeAdmin); empty means read only. A key made with an API key gets
	// no scope its maker lacks. Since protocol version 16.
	Scopes []string `json:"scopes,omitempty"`
}

// APIKey describes an API key. Key is set only when created.
type APIKey struct {
	ID          int64     `json:"id"`
	Key         string    `json:"key,omitempty"`
	Prefix      string    `json:"prefix"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	CreatedBy   string    `json:"created_by"`
	Expiry      time.Time `json:"expiry,omitzero"`
	LastUsed    time.Time `json:"last_used,omitzero"`
	Revoked     bool      `json:"revoked"`
	// Scopes are the key's scopes (see CreateAPIKeyRequest); keys made
	// before scopes existed have "admin". Since protocol version 16.
	Scopes []string `json:"scopes,omitempty"`
}

// AdminNode is a node as admins see it.
type AdminNode struct {
	Node
	Hostname  string    `json:"hostname"`
	OS        string    `json:"os"`
	Version   string    `json:"version"`
	Ephemeral bool      `json:"ephemeral"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	Expired   bool      `json:"expired"`
	// KeyRevoked tells that an admin revoked the node's key: it needs an
	// admin's approval or a new pre-auth key to come back.
	KeyRevoked bool `json:"key_revoked,omitempty"`
	// AuthKeyID is the pre-auth key the node registered with; 0 for a
	// person's node.
	AuthKeyID int64 `json:"auth_key_id,omitempty"`
	// AuthKeyUsable tells, in the answer to an expire, that AuthKeyID can
	// still register nodes (reusable, unexpired, unrevoked): if it was on
	// the device, whoever holds the device can register a new node with it.
	AuthKeyUsable bool `json:"auth_key_usable,omitempty"`
	// Node.Routes are the node's subnet routes in use: advertised and
	// approved, by an admin or by the policy's autoApprovers (issue 14).
	// AdvertisedRoutes are the routes the node offers (--advertise-routes).
	AdvertisedRoutes []netip.Prefix `json:"advertised_routes,omitempty"`
	// ApprovedRoutes are the routes an admin approved (approval outlives
	// the advertisement: a route advertised again is in use at once).
	ApprovedRoutes []netip.Prefix `json:"approved_routes,omitempty"`
	// PrimaryRoutes are the Routes for which the node is the router in
	// use; a route another router serves too is primary on one only.
	PrimaryRoutes []netip.Prefix `json:"primary_routes,omitempty"`
	// Peers are the names of the node's live peers, in the answer for
	// one node only (since protocol 25: computing them for every node
	// made the list cost more than the fleet's size).
	Peers     []string         `json:"peers,omitempty"`
	Endpoints []netip.AddrPort `json:"endpoints,omitempty"`
	// KeyLifetimeMillis (2026-12-06) is how long the coordinator makes the
	// node's keys live: a device's key lifetime, or a person's key TTL
	// with their groups' limits (the end of their IdP session may cut a
	// key shorter). Zero when unknown (an older coordinator). The admin UI
	// calls a key "expiring soon" against it.
	KeyLifetimeMillis int64 `json:"key_lifetime_ms,omitempty"`
	// Paths is the node's latest path report (protocol 9), in the answer
	// for one node only; nil when the node has sent none since the
	// coordinator started.
	Paths *AdminPaths `json:"paths,omitempty"`
	// RiskClass (issue 17) is the node's effective risk class: the one its
	// pre-auth key or an admin gave it, or the policy's default class.
	RiskClass string `json:"risk_class,omitempty"`
	// RiskClassSet is the class an admin or the key set; empty when
	// unclassified (RiskClass is then the default).
	RiskClassSet string `json:"risk_class_set,omitempty"`
}

// Paging of GET PathAdminNodes (protocol 25). A call with a limit or a
// cursor answers an AdminNodePage; one with neither answers the bare JSON
// array of every node (the answer before version 25, kept for old scripts:
// its cost grows with the fleet).
const (
	// NodePageLimitParam is the query parameter for a page's size:
	// 1 to NodePageMax nodes; NodePageDefault when only NodePageAfterParam
	// is given.
	NodePageLimitParam = "limit"
	// NodePageAfterParam is the query parameter for the cursor: a node
	// id (the Next of the page before); the page holds nodes with larger
	// ids only.
	NodePageAfterParam = "after"
	// NodePageDefault is a page's size when none is asked.
	NodePageDefault = 500
	// NodePageMax is the largest page an admin may ask for.
	NodePageMax = 5000
)

// AdminNodePage is one page of the node list: nodes in the order of
// their ids, without Peers (GET the node for those) or Paths. A page may
// hold fewer than the limit even before the end when a filter is
// selective (the coordinator reads a bounded number of nodes per call);
// Next is empty only at the end of the fleet. A node present from the
// first page to the last is in exactly one page; one that joins or leaves
// meanwhile may or may not be.
type AdminNodePage struct {
	Nodes []AdminNode `json:"nodes"`
	// Next is the cursor for the page after this one (pass it as
	// NodePageAfterParam); empty at the end.
	Next string `json:"next,omitempty"`
	// Total is how many nodes the fleet has, unfiltered.
	Total int `json:"total"`
}

// KeyLifetime is KeyLifetimeMillis as a duration; zero when unknown.
func (n AdminNode) KeyLifetime() time.Duration { return millis(n.KeyLifetimeMillis) }

// SetRiskClassRequest sets a node's risk class (PUT PathAdminNodes/{id}/risk);
// an empty Class makes it unclassified.
type SetRiskClassRequest struct {
	Class string `json:"class"`
}

// RenameNodeRequest gives a node a new DNS name (POST or PUT
// PathAdminNodes/{id}/rename, protocol 15): a DNS label (1 to 63 of a-z,
// 0-9 and '-', no '-' at either end) that no other node holds. A refusal
// (400 for an invalid label, 409 for a taken one) changes nothing.
type RenameNodeRequest struct {
	Name string `json:"name"`
}

// RoutesRequest approves and rejects subnet routes of a node (POST
// PathAdminNodes/{id}/routes, protocol 18): Approve are added to the
// node's approved routes, Reject removed from them. Either may be empty;
// at most store.MaxRoutes each.
type RoutesRequest struct {
	Approve []netip.Prefix `json:"approve,omitempty"`
	Reject  []netip.Prefix `json:"reject,omitempty"`
}

// SetTagsRequest replaces a node's tags.
type SetTagsRequest struct {
	Tags []string `json:"tags"`
}

// PolicyVersion is one saved version of the policy.
type PolicyVersion struct {
	ID        int64     `json:"id"`
	ParentID  int64     `json:"parent_id"`
	Text      string    `json:"text,omitempty"`
	Author    string    `json:"author"`
	Comment   string    `json:"comment"`
	CreatedAt time.Time `json:"created_at"`
}

// SetPolicyRequest replaces the running policy.
type SetPolicyRequest struct {
	Text    string `json:"text"`
	Comment string `json:"comment"`
	// ParentID is the version the edit started from; the save is refused
	// with 409 when another version was saved since. -1 skips the check.
	ParentID int64 `json:"parent_id"`
}

// PolicyError is the body of a refused policy: every problem, each with
// "FILE:line:col: message".
type PolicyError struct {
	Error    string   `json:"error"`
	Problems []string `json:"problems"`
}

// AuditEvent is one audit log entry.
type AuditEvent struct {
	ID     int64     `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Source string    `json:"source,omitempty"`
	Detail any       `json:"detail,omitempty"`
	// PrevHash and Hash place the event in the audit log's hash chain
	// (package auditchain); empty for events from before it began.
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// PathAdminUsers lists users; /{id or email}, /{id}/disable, /{id}/enable,
// /{email}/rebind (RebindUserRequest).
const PathAdminUsers = "/ward/v1/admin/users"

// AdminUser is a user as admins see it.
type AdminUser struct {
	ID      int64    `json:"id"`
	Email   string   `json:"email"`
	Name    string   `json:"name,omitempty"`
	Issuer  string   `json:"issuer"`
	Subject string   `json:"subject"`
	Groups  []string `json:"groups"`
	// PolicyGroups are the groups of the running policy's "groups" that
	// list the user's email (added 2026-12-06; empty from older
	// coordinators).
	PolicyGroups []string  `json:"policy_groups,omitempty"`
	Disabled     bool      `json:"disabled"`
	CreatedAt    time.Time `json:"created_at"`
	LastLogin    time.Time `json:"last_login,omitzero"`
	// Nodes are the names of the user's nodes.
	Nodes []string `json:"nodes"`
}

// RebindUserRequest is the body of POST PathAdminUsers/{email}/rebind
// (2026-12-06): it binds the email to the identity provider's subject,
// which may then log in with it; every other user holding the email loses
// it and is disabled. A login by a second subject claiming a bound email
// is refused until an admin does this.
type RebindUserRequest struct {
	// Issuer is the subject's issuer; empty means that of the email's
	// current holder.
	Issuer string `json:"issuer,omitempty"`
	// Subject is the IdP's sub claim (the audit event user.login_refused
	// of the refused login names it). Required.
	Subject string `json:"subject"`
}

// PathAdminMigrateIssuer (POST, MigrateIssuerRequest, 2026-12-06) moves
// every user of one issuer to another, when the identity provider's issuer
// URL changed but its subjects are the same people.
const PathAdminMigrateIssuer = PathAdminUsers + "/migrate-issuer"

// MigrateIssuerRequest is the body of POST PathAdminMigrateIssuer. The
// migration is refused (409), changing nothing, when a user of To already
// has the subject of a user of From.
type MigrateIssuerRequest struct {
	// From is the old issuer, exactly as users have it. Required.
	From string `json:"from"`
	// To is the new issuer. Required, not From.
	To string `json:"to"`
	// DryRun changes nothing and answers what would move.
	DryRun bool `json:"dry_run,omitempty"`
}

// MigrateIssuerResult answers PathAdminMigrateIssuer.
type MigrateIssuerResult struct {
	// DryRun echoes the request: when true, nothing moved.
	DryRun bool `json:"dry_run"`
	// Users are the users moved (or that would move), as they are after.
	Users []AdminUser `json:"users"`
}

// Admin API paths added with the web admin UI (2026-11-25). Each also
// accepts an admin's session cookie (with its CSRF token on writes).
const (
	// PathAdminPolicyCheck validates a PolicyTextRequest and runs its
	// tests; it changes nothing.
	PathAdminPolicyCheck = "/ward/v1/admin/policy/check"
	// PathAdminPolicyImpact lists the grants a PolicyTextRequest would add
	// and remove on the live inventory; it changes nothing.
	PathAdminPolicyImpact = "/ward/v1/admin/policy/impact"
	// PathAdminPolicyVersions lists versions; /{id} is one version with
	// its text.
	PathAdminPolicyVersions = "/ward/v1/admin/policy/versions"
	// PathAdminAuditExport exports audit events (?format=jsonl|csv).
	PathAdminAuditExport = "/ward/v1/admin/audit/export"
	// PathAdminWhoami describes the caller: actor, email and role.
	PathAdminWhoami = "/ward/v1/admin/whoami"
)

// PolicyTextRequest carries a policy text to check or to preview.
type PolicyTextRequest struct {
	// Text is the HuJSON policy; may be empty (then it is invalid).
	Text string `json:"text"`
}

// PathAdminFlows lists flow-log records (AdminFlow, newest first):
// ?node=NAME&since=1h&until=RFC3339&denied=1&limit=N;
// ?format=jsonl streams them as JSON lines.
const PathAdminFlows = "/ward/v1/admin/flows"

// AdminFlow is one stored flow-log record: one flow a node carried in one
// window. Its JSON shape is the flow-log export's (stable field names,
// RFC 3339 times in UTC).
type AdminFlow struct {
	ID int64 `json:"id"`
	// Reporter is the node that carried and reported the flow (from its
	// authentication).
	Reporter string `json:"reporter"`
	// Src opened the flow toward Dst; SrcNode/DstNode name their nodes
	// and SrcWho/DstWho their owner ("user:EMAIL") or tags, when the
	// address belonged to a node at ingest.
	Src     netip.Addr `json:"src"`
	SrcNode string     `json:"src_node,omitempty"`
	SrcWho  string     `json:"src_who,omitempty"`
	Dst     netip.Addr `json:"dst"`
	DstNode string     `json:"dst_node,omitempty"`
	DstWho  string     `json:"dst_who,omitempty"`
	// Proto is the IP protocol number; Port the destination port.
	Proto uint8  `json:"proto"`
	Port  uint16 `json:"port"`
	// Direction is "in" (Src opened it toward the reporter) or "out".
	Direction string `json:"direction"`
	// Verdict is "accepted" or "denied"; Rule what decided.
	Verdict string `json:"verdict"`
	Rule    string `json:"rule,omitempty"`
	// Start and End bound the window's packets.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// BytesSent are the bytes Src sent, BytesRecv those Dst sent.
	BytesSent uint64 `json:"bytes_sent"`
	BytesRecv uint64 `json:"bytes_recv"`
	// Count is the connections (accepted) or attempts (denied) the record
	// stands for.
	Count int `json:"count"`
}

// PathAdminAuditVerify checks the stored audit log's hash chain and
// signed checkpoints (AuditVerify).
const PathAdminAuditVerify = "/ward/v1/admin/audit/verify"

// AuditVerify is what a check of the audit log found.
type AuditVerify struct {
	// OK is set when every entry fits the chain, every checkpoint's
	// signature verifies and (for the live log) the last checkpoint is
	// recent.
	OK bool `json:"ok"`
	// Entries were read; Legacy of them predate the chain.
	Entries int `json:"entries"`
	Legacy  int `json:"legacy,omitempty"`
	// Checkpoints verified; LastCheckpoint is the last one's time.
	Checkpoints    int       `json:"checkpoints"`
	LastCheckpoint time.Time `json:"last_checkpoint,omitzero"`
	// Key is the checkpoints' Ed25519 public key (hex).
	Key string `json:"key,omitempty"`
	// BadID is the first entry that does not fit; Problem says how.
	BadID   int64  `json:"bad_id,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// PathAdminAlerts lists the alerts the rules fired (AdminAlert, newest
// first): ?state=open (firing or acknowledged, the default), firing,
// acknowledged, resolved, event or all, &limit=N (default 200);
// PathAdminAlerts/{id}/ack acknowledges a firing one (POST).
const PathAdminAlerts = "/ward/v1/admin/alerts"

// PathAdminAlertRules is the alert rules in force (GET: a PolicyVersion
// with its text; version 0 when none is stored) and saves new ones (PUT a
// SetPolicyRequest; 400 with a PolicyError naming each problem at
// line:col, 409 for a stale parent; the fleet permission).
// PathAdminAlertRulesVersions lists the versions; /{id} is one with its
// text. A rollback is a save of an old version's text.
// PathAdminAlertRulesCheck checks a draft without saving it (POST a
// PolicyTextRequest; 200 with {"ok", "problems": [{"file", "pos":
// {"line", "col"}, "message"}]}, the policy check's shape; the fleet
// permission, as saving).
const (
	PathAdminAlertRules         = "/ward/v1/admin/alerts/rules"
	PathAdminAlertRulesVersions = "/ward/v1/admin/alerts/rules/versions"
	PathAdminAlertRulesCheck    = "/ward/v1/admin/alerts/rules/check"
)

// AdminAlert is one alert as the coordinator stored it.
type AdminAlert struct {
	ID       int64  `json:"id"`
	Rule     string `json:"rule"`
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	Subject  string `json:"subject"`
	Summary  string `json:"summary"`
	// State is "firing", "acknowledged", "resolved" or "event" (an event
	// rule's alert, which has no recovery).
	State    string    `json:"state"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at,omitzero"`
	AckedBy  string    `json:"acked_by,omitempty"`
	AckedAt  time.Time `json:"acked_at,omitzero"`
	// NotifiedAt is when it last went out to its destinations (zero:
	// never); Inhibited says an inhibit rule mutes it now.
	NotifiedAt time.Time `json:"notified_at,omitzero"`
	Inhibited  bool      `json:"inhibited,omitempty"`
}
