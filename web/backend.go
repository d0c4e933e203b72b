package web

import (
	"context"
	"net/http"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/wire"
)

// Login runs the admins' SSO login (the coordinator passes its OIDC relying
// party). Its contract is the coordinator's Authenticator's.
type Login interface {
	// AuthURL starts a login carrying payload and returns the IdP page to
	// send the browser of r to. It may set cookies through w (the login's
	// state travels in the browser), so it is called before the response
	// is written.
	AuthURL(w http.ResponseWriter, r *http.Request, payload string) (string, error)
	// Complete returns the person and the payload; it refuses bad state,
	// replayed codes, invalid tokens, logins without a required second
	// factor, and people the backend refuses (disabled, or whose email is
	// bound to another account). It may clear cookies through w, before the
	// response is written.
	Complete(w http.ResponseWriter, r *http.Request) (who admin.Identity, payload string, err error)
}

// Backend is what the web UI and the admin JSON API need from the
// coordinator. Every method that changes something takes the actor for the
// audit log, or the whole principal where its role decides (an action on a
// person or their nodes needs a role that covers theirs); errors wrap this package's sentinel errors (ErrNotFound,
// ErrConflict, ErrBadRequest, ErrUnauthorized, ErrForbidden, ErrTooLarge)
// or carry acl problems, which StatusOf maps to HTTP statuses; any other
// error is a 500.
type Backend interface {
	// APIKey authenticates an API key secret: an unknown key wraps
	// ErrUnauthorized; an expired or revoked one, or one whose person is
	// disabled or gone, ErrForbidden. It is asked on every request.
	APIKey(ctx context.Context, secret string) (admin.Principal, error)

	// NodePage returns one page of the fleet: at most limit (1 to
	// wire.NodePageMax, else ErrBadRequest) nodes with an id above after
	// that match accepts (every node when nil), in id order, without
	// peers or paths, with the fleet's size (Total) and the cursor of the
	// next page (Next, empty at the end). Its cost is the nodes it reads,
	// not the fleet: it may read a bounded number of nodes and come back
	// short, with Next set, when match is selective.
	NodePage(ctx context.Context, after int64, limit int, match func(wire.AdminNode) bool) (wire.AdminNodePage, error)
	// Node returns one node with its latest path report (AdminNode.Paths,
	// nil when it sent none since the coordinator started).
	Node(ctx context.Context, ref string) (wire.AdminNode, error)
	// RemoveNode, ExpireNode, ApproveNode, SetNodeTags, SetNodeRiskClass and RenameNode act on by's
	// authority: on a person's node, by's role must cover the person's
	// (admin.Role.Covers), else the action is forbidden.
	RemoveNode(ctx context.Context, ref string, by admin.Principal) error
	// ExpireNode expires a node's key now, and with revokeAuthKey revokes
	// the pre-auth key it registered with.
	ExpireNode(ctx context.Context, ref string, by admin.Principal, revokeAuthKey bool) (wire.AdminNode, error)
	// ApproveNode lets a node whose key an admin revoked rotate to a new
	// key again; a node that is not revoked is ErrBadRequest.
	ApproveNode(ctx context.Context, ref string, by admin.Principal) (wire.AdminNode, error)
	SetNodeTags(ctx context.Context, ref string, tags []string, by admin.Principal) (wire.AdminNode, error)
	// SetNodeRiskClass sets the node's risk class (one the running
	// policy defines, else ErrBadRequest; empty: unclassified), audited
	// as node.classify.
	SetNodeRiskClass(ctx context.Context, ref, class string, by admin.Principal) (wire.AdminNode, error)
	// ListAlerts lists the stored alerts in state ("open", "firing",
	// "acknowledged", "resolved", "event" or "all"), newest first, at
	// most limit.
	ListAlerts(ctx context.Context, state string, limit int) ([]wire.AdminAlert, error)
	// AckAlert acknowledges a firing alert on by's authority (ErrNotFound;
	// ErrConflict when it is not firing).
	AckAlert(ctx context.Context, id int64, by admin.Principal) (wire.AdminAlert, error)
	// AlertRules returns the alert rules in force with their text
	// (version 0 when none is stored).
	AlertRules(ctx context.Context) (wire.PolicyVersion, error)
	AlertRulesVersions(ctx context.Context) ([]wire.PolicyVersion, error)
	AlertRulesVersion(ctx context.Context, id int64) (wire.PolicyVersion, error)
	// SetAlertRules checks, saves and puts in force new alert rules on
	// by's authority, audited as alerts.save: an error carrying an
	// alert.ErrorList (every problem at line:col) when invalid, a
	// conflict when parent is stale; nothing is saved then.
	SetAlertRules(ctx context.Context, text, comment string, parent int64, by admin.Principal) (wire.PolicyVersion, error)
	// RenameNode gives the node a new DNS name: a DNS label (else
	// ErrBadRequest) no other node holds (else a conflict), audited as
	// node.rename; a refusal changes nothing.
	RenameNode(ctx context.Context, ref, name string, by admin.Principal) (wire.AdminNode, error)
	// SetNodeRoutes approves (req.Approve) and rejects (req.Reject) the
	// node's subnet routes, on by's authority, audited as node.routes; a
	// route that is no subnet route is ErrBadRequest.
	SetNodeRoutes(ctx context.Context, ref string, req wire.RoutesRequest, by admin.Principal) (wire.AdminNode, error)
	// ListRequests lists the just-in-time access requests, newest first.
	ListRequests(ctx context.Context) ([]wire.AccessRequest, error)
	// DecideRequest approves, denies ("approve", "deny": by must be a
	// member of the request's approval groups and not its requester, else
	// ErrForbidden) or revokes ("revoke") request id.
	DecideRequest(ctx context.Context, id int64, decision string, by admin.Principal) (wire.AccessRequest, error)
	// ListRollouts lists the rollouts, newest first, without devices.
	ListRollouts(ctx context.Context) ([]wire.Rollout, error)
	// Rollout returns one rollout with its devices' states per wave.
	Rollout(ctx context.Context, id int64) (wire.Rollout, error)
	// CreateRollout validates req (ErrBadRequest), selects its devices
	// and starts the rollout's first wave, on by's authority.
	CreateRollout(ctx context.Context, req wire.RolloutCreate, by admin.Principal) (wire.Rollout, error)
	// ActOnRollout pauses, resumes or aborts ("pause", "resume",
	// "abort") rollout id; a rollout not in a status the action moves
	// from is ErrConflict.
	ActOnRollout(ctx context.Context, id int64, action string, by admin.Principal) (wire.Rollout, error)
	// NodeAccess lists who may reach the node and on which ports.
	NodeAccess(ctx context.Context, ref string) ([]acl.Access, error)

	ListUsers(ctx context.Context) ([]wire.AdminUser, error)
	User(ctx context.Context, ref string) (wire.AdminUser, error)
	// SetUserDisabled disables or enables a user; ref is an id or an
	// email (an email several users have is a conflict). Disabling ends
	// the user's admin sessions. SetUserDisabled, RebindUser and
	// MigrateIssuer act on by's authority: every person they change must
	// hold a role by's role covers (admin.Role.Covers), else nothing
	// changes and the action is forbidden.
	SetUserDisabled(ctx context.Context, ref string, disabled bool, by admin.Principal) (wire.AdminUser, error)
	// RebindUser binds email to the identity provider's subject in req,
	// unbinding (and disabling) its other holders.
	RebindUser(ctx context.Context, email string, req wire.RebindUserRequest, by admin.Principal) (wire.AdminUser, error)
	// MigrateIssuer moves every user of req.From to req.To, or with
	// req.DryRun says who would move; a subject To already has is a
	// conflict, and nothing moves.
	MigrateIssuer(ctx context.Context, req wire.MigrateIssuerRequest, by admin.Principal) (wire.MigrateIssuerResult, error)
	// SessionRole is asked on every request of an admin session started
	// by the admin.Identity with User user and Email email. It returns the
	// role the person holds now (from their groups as last recorded, the
	// running policy's groups and the role mapping): the session acts with
	// no more than it and than its role at login, and ends once that is
	// none. An error wrapping ErrForbidden ends it too (the person was
	// disabled, removed or lost the email); another error fails the
	// request only.
	SessionRole(ctx context.Context, user, email string) (admin.Role, error)

	// CreateAuthKey makes a pre-auth key on by's authority (by.User): it
	// registers no device while that person is disabled or gone.
	CreateAuthKey(ctx context.Context, req wire.CreateAuthKeyRequest, by admin.Principal) (wire.AuthKey, error)
	ListAuthKeys(ctx context.Context) ([]wire.AuthKey, error)
	RevokeAuthKey(ctx context.Context, id int64, actor string) error
	// CreateAPIKey makes an API key on by's authority (by.User): it acts
	// with that person's role, and not at all while they are disabled or
	// gone. by's role must have admin.PermAPIKeys (forbidden otherwise).
	CreateAPIKey(ctx context.Context, req wire.CreateAPIKeyRequest, by admin.Principal) (wire.APIKey, error)
	ListAPIKeys(ctx context.Context) ([]wire.APIKey, error)
	RevokeAPIKey(ctx context.Context, id int64, actor string) error
	// CreateRelay registers a standalone relay; its credential is in the
	// result only. A name taken is ErrConflict, a bad name or URL
	// ErrBadRequest.
	CreateRelay(ctx context.Context, req wire.CreateRelayRequest, actor string) (wire.AdminRelay, error)
	ListRelays(ctx context.Context) ([]wire.AdminRelay, error)
	// RemoveRelay removes the relay named name: its credential stops
	// working, its feed ends, and maps stop listing it.
	RemoveRelay(ctx context.Context, name, actor string) error

	// Policy returns the running version with its text.
	Policy(ctx context.Context) (wire.PolicyVersion, error)
	PolicyVersions(ctx context.Context) ([]wire.PolicyVersion, error)
	PolicyVersion(ctx context.Context, id int64) (wire.PolicyVersion, error)
	// CheckPolicy validates text and runs its tests; it changes nothing.
	CheckPolicy(ctx context.Context, text string) (acl.CheckResult, error)
	// PolicyImpact compares text with the running policy on the live
	// inventory; it changes nothing. A text with problems is an error.
	PolicyImpact(ctx context.Context, text string) (acl.Impact, error)
	// SetPolicy validates, tests and installs text on by's authority;
	// parent is the version the edit started from (-1: no check), refused
	// with a conflict error when stale. A change of the policy's groups
	// that changes who holds an admin role by's role does not cover (see
	// admin.Role.Covers) is refused as forbidden.
	SetPolicy(ctx context.Context, text, comment string, parent int64, by admin.Principal) (wire.PolicyVersion, error)

	Audit(ctx context.Context, q admin.AuditQuery) ([]wire.AuditEvent, error)
	// RecordAudit appends an event the web layer saw (admin.login,
	// admin.logout) to the audit log; ID is assigned by the backend.
	RecordAudit(ctx context.Context, e wire.AuditEvent) error

	// VerifyAudit checks the audit log's hash chain and signed
	// checkpoints and names the first entry that does not fit.
	VerifyAudit(ctx context.Context) (wire.AuditVerify, error)

	// Flows lists flow-log records q selects, newest first.
	Flows(ctx context.Context, q admin.FlowQuery) ([]wire.AdminFlow, error)

	// PublishRelease stores a publication of the TUF repository (issue
	// 16), audited as release.publish; names and paths that do not check
	// (wire.ReleasePublish.Check) are ErrBadRequest.
	PublishRelease(ctx context.Context, p wire.ReleasePublish, actor string) error
}
