package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// Backend is the coordinator as the admin front ends see it: fleet
// operations on nodes, keys, users, the policy and the audit log, by name
// or id. Its errors carry a fault.Kind (see domainErr). Package web's
// Backend interface is what it implements.
type Backend struct{ f *fleet }

// Backend returns the coordinator's fleet operations for the admin front
// ends.
func (s *Server) Backend() Backend { return Backend{s.fleet} }

// RecordAudit appends an event the web layer saw.
func (b Backend) RecordAudit(ctx context.Context, e wire.AuditEvent) error {
	se := store.AuditEvent{Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target, Source: e.Source}
	if e.Detail != nil {
		d, err := json.Marshal(e.Detail)
		if err != nil {
			return domainErr(fmt.Errorf("%w: audit detail: %v", errBadRequest, err))
		}
		se.Detail = d
	}
	_, err := b.f.st.AppendAudit(ctx, se)
	if err == nil {
		b.f.eventAlert(context.WithoutCancel(ctx), e.Actor, e.Action, e.Target, nil)
	}
	return domainErr(err)
}

// APIKey authenticates an API key. The system's keys act as owners; a
// person's key acts with their current role, and is refused while they are
// disabled or gone (see apiKeyPrincipal).
func (b Backend) APIKey(ctx context.Context, secret string) (admin.Principal, error) {
	k, err := b.f.st.APIKeyByHash(ctx, hashSecret(secret), time.Now())
	if errors.Is(err, store.ErrNotFound) {
		return admin.Principal{}, domainErr(errBadToken)
	}
	if err != nil {
		return admin.Principal{}, domainErr(err)
	}
	p, err := b.f.apiKeyPrincipal(ctx, k)
	if err != nil {
		return admin.Principal{}, domainErr(err)
	}
	if now := time.Now().UTC(); now.Sub(k.LastUsed) >= apiKeyTouchEvery || now.Before(k.LastUsed) {
		if err := b.f.st.TouchAPIKey(ctx, k.ID, now); err != nil {
			// Only the "last used" time is lost; the call itself may go on.
			b.f.log.Warn("record api key use", "key", k.Prefix, "err", err)
		}
	}
	return p, nil
}

// apiKeyTouchEvery is how stale an API key's recorded "last used" time may
// get: a call records it only when the last record is older. Recording it
// is a write to the database, which on SQLite waits for the one writer
// behind every write in progress: at every call, an admin's or a
// monitoring script's reads waited seconds behind a fleet's reconnecting
// nodes (a restart storm), and a script polling every second wrote
// 86,400 times a day to say when it was last seen.
const apiKeyTouchEvery = time.Minute

// nodePageScan is how many nodes one call of NodePage reads at most (or
// its limit, when larger): with a selective filter a page may come back
// short, with a cursor to go on, rather than one call reading the fleet.
var nodePageScan = 5000 // a variable for tests

// nodeFilterChunk is how many nodes NodePage reads from the store at a
// time when a filter may drop some (without one it reads the page's worth).
const nodeFilterChunk = 500

// NodePage returns one page of the fleet: at most limit (1 to
// wire.NodePageMax) nodes with an id above after that match accepts (all
// when nil), in id order, without peers or paths. It costs the nodes it
// reads, never the whole fleet: they are read by id from the store
// (NodesAfter), each made an AdminNode from the netmap's records, and at
// most max(nodePageScan, limit+1) are read per call. Next is set whenever
// more nodes may follow.
func (b Backend) NodePage(ctx context.Context, after int64, limit int, match func(wire.AdminNode) bool) (wire.AdminNodePage, error) {
	if limit < 1 || limit > wire.NodePageMax {
		return wire.AdminNodePage{}, domainErr(fmt.Errorf("%w: limit %d is not between 1 and %d", errBadRequest, limit, wire.NodePageMax))
	}
	if after < 0 {
		return wire.AdminNodePage{}, domainErr(fmt.Errorf("%w: cursor %d is negative", errBadRequest, after))
	}
	page := wire.AdminNodePage{Nodes: make([]wire.AdminNode, 0, min(limit, nodeFilterChunk)), Total: b.f.nm.nodeCount()}
	cursor, budget, scanned := store.NodeID(after), max(nodePageScan, limit+1), 0
	for {
		want := limit + 1 - len(page.Nodes) // one more than the page: is there a next?
		if match != nil {
			want = max(want, nodeFilterChunk)
		}
		want = min(want, budget-scanned)
		ns, err := b.f.st.NodesAfter(ctx, cursor, want)
		if err != nil {
			return wire.AdminNodePage{}, domainErr(err)
		}
		scanned += len(ns)
		for i, an := range b.f.adminListNodes(ns) {
			n := ns[i]
			if match != nil && !match(an) {
				cursor = n.ID
				continue
			}
			if len(page.Nodes) == limit {
				page.Next = strconv.FormatInt(int64(page.Nodes[limit-1].ID), 10)
				return page, nil
			}
			page.Nodes = append(page.Nodes, an)
			cursor = n.ID
		}
		switch {
		case len(ns) < want: // the end of the fleet
			return page, nil
		case scanned >= budget:
			page.Next = strconv.FormatInt(int64(cursor), 10)
			return page, nil
		}
	}
}

// Node returns one node by id or name.
func (b Backend) Node(ctx context.Context, ref string) (wire.AdminNode, error) {
	n, err := b.f.lookupNode(ctx, ref)
	if err != nil {
		return wire.AdminNode{}, domainErr(err)
	}
	an := b.f.adminNode(n)
	an.Paths = b.f.adminPaths(n.ID)
	return an, nil
}

// RemoveNode removes a node on by's authority; a person's node only when
// by's role covers theirs (see cover.go).
func (b Backend) RemoveNode(ctx context.Context, ref string, by admin.Principal) error {
	n, err := b.f.lookupNode(ctx, ref)
	if err == nil {
		err = b.f.mayActOnNode(ctx, by, "node.remove", n)
	}
	if err != nil {
		return domainErr(err)
	}
	_, err = b.f.removeNode(ctx, n.ID, by.Actor, "removed by admin")
	return domainErr(err)
}

// ExpireNode expires a node's key now (and its pre-auth key with
// revokeAuthKey) on by's authority; a person's node only when by's role
// covers theirs (see cover.go). The answer says whether that key can
// still register.
func (b Backend) ExpireNode(ctx context.Context, ref string, by admin.Principal, revokeAuthKey bool) (wire.AdminNode, error) {
	n, err := b.f.lookupNode(ctx, ref)
	if err == nil {
		err = b.f.mayActOnNode(ctx, by, "node.expire", n)
	}
	if err != nil {
		return wire.AdminNode{}, domainErr(err)
	}
	if n, err = b.f.ExpireNode(ctx, n.ID, by.Actor, revokeAuthKey); err != nil {
		return wire.AdminNode{}, domainErr(err)
	}
	an := b.f.adminNode(n)
	an.AuthKeyUsable = b.f.authKeyUsable(ctx, n.AuthKeyID, time.Now())
	return an, nil
}

// ApproveNode lets a device whose key an admin revoked rotate again, on
// by's authority.
func (b Backend) ApproveNode(ctx context.Context, ref string, by admin.Principal) (wire.AdminNode, error) {
	n, err := b.f.lookupNode(ctx, ref)
	if err == nil {
		err = b.f.mayActOnNode(ctx, by, "node.approve", n)
	}
	if err != nil {
		return wire.AdminNode{}, domainErr(err)
	}
	if n, err = b.f.ApproveNode(ctx, n.ID, by.Actor); err != nil {
		return wire.AdminNode{}, domainErr(err)
	}
	return b.f.adminNode(n), nil
}

// SetNodeTags replaces a node's tags on by's authority; a person's node
// only when by's role covers theirs (see cover.go).
func (b Backend) SetNodeTags(ctx context.Context, ref string, tags []string, by admin.Principal) (wire.AdminNode, error) {
	n, err := b.f.lookupNode(ctx, ref)
	if err == nil {
		err = b.f.mayActOnNode(ctx, by, "node.tags", n)
	}
	if err != nil {
		return wire.AdminNode{}, domainErr(err)
	}
	if n, err = b.f.SetNodeTags(ctx, n.ID, tags, by.Actor); err != nil {
		return wire.AdminNode{}, domainErr(err)
	}
	return b.f.adminNode(n), nil
}

// RenameNode gives a node a new DNS name on by's authority; a person's
// node only when by's role covers theirs (see cover.go).
func (b Backend) RenameNode(ctx context.Context, ref, name string, by admin.Principal) (wire.AdminNode, error) {
	n, err := b.f.lookupNode(ctx, ref)
	if err == nil {
		err = b.f.mayActOnNode(ctx, by, "node.rename", n)
	}
	if err != nil {
		return wire.AdminNode{}, domainErr(err)
	}
	if n, err = b.f.RenameNode(ctx, n.ID, name, by.Actor); err != nil {
		return wire.AdminNode{}, domainErr(err)
	}
	return b.f.adminNode(n), nil
}

// SetNodeRiskClass sets a node's risk class on by's authority; a person's
// node only when by's role covers theirs (see cover.go).
func (b Backend) SetNodeRiskClass(ctx context.Context, ref, class string, by admin.Principal) (wire.AdminNode, error) {
	n, err := b.f.lookupNode(ctx, ref)
	if err == nil {
		err = b.f.mayActOnNode(ctx, by, "node.classify", n)
	}
	if err != nil {
		return wire.AdminNode{}, domainErr(err)
	}
	if n, err = b.f.SetNodeRiskClass(ctx, n.ID, class, by.Actor); err != nil {
		return wire.AdminNode{}, domainErr(err)
	}
	return b.f.adminNode(n), nil
}

// SetNodeRoutes approves and rejects a node's subnet routes on by's
// authority; a person's node only when by's role covers theirs.
func (b Backend) SetNodeRoutes(ctx context.Context, ref string, req wire.RoutesRequest, by admin.Principal) (wire.AdminNode, error) {
	n, err := b.f.lookupNode(ctx, ref)
	if err == nil {
		err = b.f.mayActOnNode(ctx, by, "node.routes", n)
	}
	if err != nil {
		return wire.AdminNode{}, domainErr(err)
	}
	if n, err = b.f.SetRoutes(ctx, n.ID, req.Approve, req.Reject, by.Actor); err != nil {
		return wire.AdminNode{}, domainErr(err)
	}
	return b.f.adminNode(n), nil
}

// NodeAccess lists who may reach a node, and on which ports.
func (b Backend) NodeAccess(ctx context.Context, ref string) ([]acl.Access, error) {
	n, err := b.f.lookupNode(ctx, ref)
	if err != nil {
		return nil, domainErr(err)
	}
	gs, err := b.f.nm.access(n.Name)
	return gs, domainErr(err)
}

// ListUsers lists every user.
func (b Backend) ListUsers(ctx context.Context) ([]wire.AdminUser, error) {
	users, err := b.f.st.ListUsers(ctx)
	if err != nil {
		return nil, domainErr(err)
	}
	out := make([]wire.AdminUser, 0, len(users))
	for _, u := range users {
		au, err := b.f.adminUser(ctx, u)
		if err != nil {
			return nil, domainErr(err)
		}
		out = append(out, au)
	}
	return out, nil
}

// User returns one user by id or email.
func (b Backend) User(ctx context.Context, ref string) (wire.AdminUser, error) {
	u, err := b.f.lookupUser(ctx, ref)
	if err != nil {
		return wire.AdminUser{}, domainErr(err)
	}
	au, err := b.f.adminUser(ctx, u)
	return au, domainErr(err)
}

// SetUserDisabled disables or enables a user on by's authority (see
// fleet.SetUserDisabled).
func (b Backend) SetUserDisabled(ctx context.Context, ref string, disabled bool, by admin.Principal) (wire.AdminUser, error) {
	u, err := b.f.lookupUser(ctx, ref)
	if err != nil {
		return wire.AdminUser{}, domainErr(err)
	}
	if err := b.f.SetUserDisabled(ctx, u.ID, disabled, by); err != nil {
		return wire.AdminUser{}, domainErr(err)
	}
	u.Disabled = disabled
	au, err := b.f.adminUser(ctx, u)
	return au, domainErr(err)
}

// RebindUser binds email to the subject req names on by's authority (see
// fleet.RebindEmail).
func (b Backend) RebindUser(ctx context.Context, email string, req wire.RebindUserRequest, by admin.Principal) (wire.AdminUser, error) {
	u, err := b.f.RebindEmail(ctx, email, req.Issuer, req.Subject, by)
	if err != nil {
		return wire.AdminUser{}, domainErr(err)
	}
	au, err := b.f.adminUser(ctx, u)
	return au, domainErr(err)
}

// MigrateIssuer moves the users of req.From to req.To on by's authority
// (see fleet.MigrateIssuer).
func (b Backend) MigrateIssuer(ctx context.Context, req wire.MigrateIssuerRequest, by admin.Principal) (wire.MigrateIssuerResult, error) {
	users, err := b.f.MigrateIssuer(ctx, req.From, req.To, req.DryRun, by)
	if err != nil {
		return wire.MigrateIssuerResult{}, domainErr(err)
	}
	res := wire.MigrateIssuerResult{DryRun: req.DryRun, Users: make([]wire.AdminUser, 0, len(users))}
	for _, u := range users {
		au, err := b.f.adminUser(ctx, u)
		if err != nil {
			return wire.MigrateIssuerResult{}, domainErr(err)
		}
		res.Users = append(res.Users, au)
	}
	return res, nil
}

// SessionRole keeps an admin session while its user exists, is enabled
// and still holds the session's email, and returns the role they hold now
// (see fleet.sessionRole).
func (b Backend) SessionRole(ctx context.Context, user, email string) (admin.Role, error) {
	r, err := b.f.sessionRole(ctx, user, email)
	return r, domainErr(err)
}

// CreateAuthKey creates a pre-auth key on by's authority; the secret is in
// the result only.
func (b Backend) CreateAuthKey(ctx context.Context, req wire.CreateAuthKeyRequest, by admin.Principal) (wire.AuthKey, error) {
	creator, err := creatorOf(by)
	if err != nil {
		return wire.AuthKey{}, domainErr(err)
	}
	k, err := b.f.createAuthKey(ctx, req, by.Actor, creator, "")
	return k, domainErr(err)
}

// ListAuthKeys lists pre-auth keys.
func (b Backend) ListAuthKeys(ctx context.Context) ([]wire.AuthKey, error) {
	keys, err := b.f.st.ListAuthKeys(ctx)
	if err != nil {
		return nil, domainErr(err)
	}
	out := make([]wire.AuthKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, wireAuthKey(k))
	}
	return out, nil
}

// RevokeAuthKey revokes a pre-auth key.
func (b Backend) RevokeAuthKey(ctx context.Context, id int64, actor string) error {
	if err := b.f.st.RevokeAuthKey(ctx, store.AuthKeyID(id), time.Now().UTC()); err != nil {
		return domainErr(err) // the store names the key
	}
	b.f.audit(ctx, actor, "authkey.revoke", fmt.Sprintf("authkey:%d", id), "", nil)
	return nil
}

// CreateAPIKey creates an API key on by's authority, whose role must have
// admin.PermAPIKeys (see keycreator.go); the secret is in the result
// only.
func (b Backend) CreateAPIKey(ctx context.Context, req wire.CreateAPIKeyRequest, by admin.Principal) (wire.APIKey, error) {
	if !by.Role.Can(admin.PermAPIKeys) {
		return wire.APIKey{}, domainErr(fmt.Errorf("%w: the role %s may not %s", errForbidden, by.Role.Name(), admin.PermAPIKeys))
	}
	exp, err := parseExpiry(req.Expiry, 0, time.Now().UTC())
	if err != nil {
		return wire.APIKey{}, domainErr(err)
	}
	creator, err := creatorOf(by)
	if err != nil {
		return wire.APIKey{}, domainErr(err)
	}
	scopes, err := admin.CheckScopes(req.Scopes)
	if err != nil {
		return wire.APIKey{}, domainErr(fmt.Errorf("%w: %w", errBadRequest, err))
	}
	if !admin.ScopesWithin(scopes, by.Scopes) {
		return wire.APIKey{}, domainErr(fmt.Errorf("%w: a key with scopes %q may not make one with scopes %q", errForbidden, by.Scopes, scopes))
	}
	secret, k, err := b.f.createAPIKey(ctx, req.Description, by.Actor, creator, exp, scopes)
	if err != nil {
		return wire.APIKey{}, domainErr(err)
	}
	out := wireAPIKey(k)
	out.Key = secret
	return out, nil
}

// ListAPIKeys lists API keys.
func (b Backend) ListAPIKeys(ctx context.Context) ([]wire.APIKey, error) {
	keys, err := b.f.st.ListAPIKeys(ctx)
	if err != nil {
		return nil, domainErr(err)
	}
	out := make([]wire.APIKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, wireAPIKey(k))
	}
	return out, nil
}

// RevokeAPIKey revokes an API key.
func (b Backend) RevokeAPIKey(ctx context.Context, id int64, actor string) error {
	if err := b.f.st.RevokeAPIKey(ctx, store.APIKeyID(id), time.Now().UTC()); err != nil {
		return domainErr(err) // the store names the key
	}
	b.f.audit(ctx, actor, "apikey.revoke", fmt.Sprintf("apikey:%d", id), "", nil)
	return nil
}

// Policy returns the running policy version.
func (b Backend) Policy(ctx context.Context) (wire.PolicyVersion, error) {
	p, err := b.f.st.LatestPolicy(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return wire.PolicyVersion{Text: DefaultPolicy, Author: "default"}, nil
	}
	if err != nil {
		return wire.PolicyVersion{}, domainErr(err)
	}
	return wirePolicy(p, true), nil
}

// PolicyVersions lists every version, newest first.
func (b Backend) PolicyVersions(ctx context.Context) ([]wire.PolicyVersion, error) {
	ps, err := b.f.st.ListPolicies(ctx)
	if err != nil {
		return nil, domainErr(err)
	}
	out := make([]wire.PolicyVersion, 0, len(ps))
	for _, p := range ps {
		out = append(out, wirePolicy(p, false))
	}
	return out, nil
}

// PolicyVersion returns one version with its text.
func (b Backend) PolicyVersion(ctx context.Context, id int64) (wire.PolicyVersion, error) {
	p, err := b.f.st.Policy(ctx, store.PolicyID(id))
	if err != nil {
		return wire.PolicyVersion{}, domainErr(err)
	}
	return wirePolicy(p, true), nil
}

// CheckPolicy validates text and runs its tests.
func (b Backend) CheckPolicy(_ context.Context, text string) (acl.CheckResult, error) {
	_, results, err := acl.Check("policy", []byte(text), acl.Options{ExternalGroups: b.f.nm.externalGroups()})
	out := acl.CheckResult{OK: err == nil, Problems: acl.Problems(err), Tests: results}
	if err != nil && out.Problems == nil {
		return out, domainErr(err)
	}
	if out.Problems == nil {
		out.Problems = []acl.Problem{}
	}
	if out.Tests == nil {
		out.Tests = []acl.TestResult{}
	}
	return out, nil
}

// PolicyImpact lists the grants text would add and remove.
func (b Backend) PolicyImpact(_ context.Context, text string) (acl.Impact, error) {
	rs, err := b.f.checkPolicy("policy", text)
	if err != nil {
		return acl.Impact{}, domainErr(err)
	}
	imp, err := b.f.nm.impact(rs)
	return imp, domainErr(err)
}

// SetPolicy installs a new policy version on by's authority.
func (b Backend) SetPolicy(ctx context.Context, text, comment string, parent int64, by admin.Principal) (wire.PolicyVersion, error) {
	p, err := b.f.setPolicyAs(ctx, policyEdit{text: text, author: by.Actor, comment: comment, parent: parent, name: "policy", role: by.Role})
	if err != nil {
		return wire.PolicyVersion{}, domainErr(err)
	}
	return wirePolicy(p, false), nil
}

// Audit lists audit events, oldest first.
func (b Backend) Audit(ctx context.Context, q admin.AuditQuery) ([]wire.AuditEvent, error) {
	order := store.OldestFirst
	switch {
	case q.After:
		order = store.ByID
	case q.NewestFirst:
		order = store.NewestFirst
	}
	evs, err := b.f.st.ListAudit(ctx, store.AuditFilter{Since: q.Since, Until: q.Until, Actor: q.Actor,
		ActionPrefix: q.ActionPrefix, Target: q.Target, Limit: q.Limit, Order: order, AfterID: store.AuditID(q.AfterID)})
	if err != nil {
		return nil, domainErr(err)
	}
	out := make([]wire.AuditEvent, 0, len(evs))
	for _, e := range evs {
		we := wire.AuditEvent{ID: int64(e.ID), Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target, Source: e.Source,
			PrevHash: e.PrevHash, Hash: e.Hash}
		if len(e.Detail) > 0 {
			we.Detail = json.RawMessage(e.Detail)
		}
		out = append(out, we)
	}
	return out, nil
}

// CreateRelay registers a standalone relay; the credential is in the
// result only.
func (b Backend) CreateRelay(ctx context.Context, req wire.CreateRelayRequest, actor string) (wire.AdminRelay, error) {
	secret, r, err := b.f.createRelay(ctx, req, actor)
	if err != nil {
		return wire.AdminRelay{}, domainErr(err)
	}
	out := b.f.wireRelay(r)
	out.Secret = secret
	return out, nil
}

// ListRelays lists the registered relays.
func (b Backend) ListRelays(ctx context.Context) ([]wire.AdminRelay, error) {
	rs, err := b.f.st.ListRelays(ctx)
	if err != nil {
		return nil, domainErr(err)
	}
	out := make([]wire.AdminRelay, 0, len(rs))
	for _, r := range rs {
		out = append(out, b.f.wireRelay(r))
	}
	return out, nil
}

// RemoveRelay removes the relay named name.
func (b Backend) RemoveRelay(ctx context.Context, name, actor string) error {
	return domainErr(b.f.removeRelay(ctx, name, actor))
}

// Flows lists flow-log records, newest first.
func (b Backend) Flows(ctx context.Context, q admin.FlowQuery) ([]wire.AdminFlow, error) {
	rs, err := b.f.st.ListFlows(ctx, store.FlowFilter{Node: q.Node, Since: q.Since, Until: q.Until,
		DeniedOnly: q.DeniedOnly, Limit: q.Limit})
	if err != nil {
		return nil, domainErr(err)
	}
	out := make([]wire.AdminFlow, len(rs))
	for i, r := range rs {
		out[i] = wireFlow(r)
	}
	return out, nil
}

// wireFlow is r as the admin API shows it.
func wireFlow(r store.FlowRecord) wire.AdminFlow {
	f := wire.AdminFlow{ID: int64(r.ID), Reporter: r.NodeName, Src: r.Src, SrcNode: r.SrcNode, SrcWho: r.SrcWho,
		Dst: r.Dst, DstNode: r.DstNode, DstWho: r.DstWho, Proto: r.Proto, Port: r.Port, Direction: "out",
		Verdict: "accepted", Rule: r.Rule, Start: r.Start, End: r.End, BytesSent: r.BytesSent, BytesRecv: r.BytesRecv, Count: r.Count}
	if r.Inbound {
		f.Direction = "in"
	}
	if r.Denied {
		f.Verdict = "denied"
	}
	return f
}

// VerifyAudit checks the stored audit log's hash chain and checkpoints.
func (b Backend) VerifyAudit(ctx context.Context) (wire.AuditVerify, error) {
	v, err := b.f.verifyAudit(ctx, time.Now())
	return v, domainErr(err)
}

// alertStates are the stored states each alerts filter names.
var alertStates = map[string][]store.AlertState{
	"open":         {store.AlertFiring, store.AlertAcknowledged},
	"firing":       {store.AlertFiring},
	"acknowledged": {store.AlertAcknowledged},
	"resolved":     {store.AlertResolved},
	"event":        {store.AlertEvent},
	"all":          nil,
}

// maxAlertsListed bounds one alerts listing.
const maxAlertsListed = 10000

// ListAlerts lists the stored alerts in state, newest first.
func (b Backend) ListAlerts(ctx context.Context, state string, limit int) ([]wire.AdminAlert, error) {
	states, ok := alertStates[state]
	if !ok {
		return nil, domainErr(fmt.Errorf("%w: alert state %q (open, firing, acknowledged, resolved, event, all)", errBadRequest, state))
	}
	if limit <= 0 || limit > maxAlertsListed {
		return nil, domainErr(fmt.Errorf("%w: limit %d outside 1..%d", errBadRequest, limit, maxAlertsListed))
	}
	as, err := b.f.st.ListAlerts(ctx, states, limit)
	if err != nil {
		return nil, domainErr(err)
	}
	out := make([]wire.AdminAlert, len(as))
	for i, a := range as {
		out[i] = adminAlert(a)
	}
	return out, nil
}

// AckAlert acknowledges a firing alert; audited as alert.ack.
func (b Backend) AckAlert(ctx context.Context, id int64, by admin.Principal) (wire.AdminAlert, error) {
	a, err := b.f.st.AckAlert(ctx, store.AlertID(id), by.Actor, time.Now())
	if err != nil {
		return wire.AdminAlert{}, domainErr(err)
	}
	b.f.alertAcknowledged(int64(a.ID))
	b.f.audit(ctx, by.Actor, "alert.ack", a.Subject, "", map[string]any{"alert": a.ID, "rule": a.Rule})
	return adminAlert(a), nil
}

// adminAlert is a stored alert as the admin API shows it.
func adminAlert(a store.AlertRecord) wire.AdminAlert {
	return wire.AdminAlert{ID: int64(a.ID), Rule: a.Rule, Kind: a.Kind, Severity: a.Severity, Subject: a.Subject,
		Summary: a.Summary, State: string(a.State), StartsAt: a.StartsAt.UTC(), EndsAt: utcOrZero(a.EndsAt),
		AckedBy: a.AckedBy, AckedAt: utcOrZero(a.AckedAt), NotifiedAt: utcOrZero(a.NotifiedAt), Inhibited: a.Inhibited}
}

// utcOrZero returns t in UTC, zero staying zero.
func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// ListRequests lists every access request, newest first.
func (b Backend) ListRequests(ctx context.Context) ([]wire.AccessRequest, error) {
	rs, err := b.f.listRequests(ctx, 0)
	return rs, domainErr(err)
}

// DecideRequest approves, denies or revokes an access request on by's
// authority (see fleet.decideRequest).
func (b Backend) DecideRequest(ctx context.Context, id int64, decision string, by admin.Principal) (wire.AccessRequest, error) {
	status, ok := map[string]store.RequestStatus{"approve": store.RequestApproved, "deny": store.RequestDenied, "revoke": store.RequestRevoked}[decision]
	if !ok {
		return wire.AccessRequest{}, domainErr(fmt.Errorf("%w: decision %q", errBadRequest, decision))
	}
	r, err := b.f.decideRequest(ctx, id, status, by)
	return r, domainErr(err)
}

// ListRollouts lists every rollout, newest first, without devices.
func (b Backend) ListRollouts(ctx context.Context) ([]wire.Rollout, error) {
	rs, err := b.f.ro.list(ctx)
	return rs, domainErr(err)
}

// Rollout returns one rollout with its devices' states per wave.
func (b Backend) Rollout(ctx context.Context, id int64) (wire.Rollout, error) {
	r, err := b.f.ro.show(ctx, id)
	return r, domainErr(err)
}

// CreateRollout validates req and starts its rollout on by's authority.
func (b Backend) CreateRollout(ctx context.Context, req wire.RolloutCreate, by admin.Principal) (wire.Rollout, error) {
	r, err := b.f.ro.createRollout(ctx, req, by)
	return r, domainErr(err)
}

// ActOnRollout pauses, resumes or aborts a rollout on by's authority.
func (b Backend) ActOnRollout(ctx context.Context, id int64, action string, by admin.Principal) (wire.Rollout, error) {
	r, err := b.f.ro.act(ctx, id, action, by)
	return r, domainErr(err)
}

// PublishRelease stores the admin's publication of the TUF repository.
func (b Backend) PublishRelease(ctx context.Context, p wire.ReleasePublish, actor string) error {
	return domainErr(b.f.publishRelease(ctx, p, actor))
}
