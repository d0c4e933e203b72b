package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// requestAccess stores the request of the person owning node from for
// time-bound access, once the policy's approval grants cover it and its
// duration is within their limit; audited as the person's.
func (s *core) requestAccess(ctx context.Context, from store.Node, req wire.AccessRequestCreate) (wire.AccessRequest, error) {
	if len(from.Tags) > 0 || from.UserID == 0 {
		return wire.AccessRequest{}, fmt.Errorf("%w: only a person's node may request access", errForbidden)
	}
	email := s.nm.emailOf(from.UserID)
	dev, err := s.st.NodeByName(ctx, req.Device)
	if err != nil {
		return wire.AccessRequest{}, fmt.Errorf("request access to %q: %w", req.Device, err)
	}
	proto, err := acl.ParseRequestProto(req.Proto)
	if err != nil {
		return wire.AccessRequest{}, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	dur, err := time.ParseDuration(req.Duration)
	if err != nil || dur <= 0 || req.Port == 0 {
		return wire.AccessRequest{}, fmt.Errorf("%w: a request names a port and a positive duration like 2h", errBadRequest)
	}
	q, err := s.requirement(email, dev, proto, req.Port)
	if err != nil {
		return wire.AccessRequest{}, err
	}
	if dur > q.MaxDuration {
		return wire.AccessRequest{}, fmt.Errorf("%w: %s is longer than the %s the policy allows for this access", errBadRequest, dur, q.MaxDuration)
	}
	r, err := s.st.CreateAccessRequest(ctx, store.NewAccessRequest{UserID: from.UserID, NodeID: dev.ID, Proto: uint8(proto),
		Port: req.Port, Duration: dur, Reason: req.Reason})
	if err != nil {
		return wire.AccessRequest{}, err
	}
	s.audit(ctx, "user:"+email, "request.create", requestTarget(r.ID), "",
		map[string]any{"device": dev.Name, "port": req.Port, "proto": proto.Name(), "duration": dur.String(), "reason": req.Reason})
	s.requestAlert(ctx, "requested", r, "user:"+email)
	if err := s.loadRequests(ctx); err != nil {
		return wire.AccessRequest{}, err
	}
	return s.wireRequest(ctx, r), nil
}

// requirement is what the running policy asks of a request, or
// errForbidden when no approval grant covers it.
func (s *core) requirement(email string, dev store.Node, proto filter.Proto, port uint16) (acl.Requirement, error) {
	q, err := s.nm.ruleset().Requestable(email, s.nm.aclNode(dev), proto, port)
	if errors.Is(err, acl.ErrNotRequestable) {
		return acl.Requirement{}, fmt.Errorf("%w: %v", errForbidden, err)
	}
	return q, err
}

// decideRequest approves or denies a pending request, or revokes an
// approved one, on by's authority: approving and denying take a member
// of the approval groups other than the requester; an approval opens the
// access in every affected map at once, a revocation ends it (and its
// flows) at once.
func (s *core) decideRequest(ctx context.Context, id int64, status store.RequestStatus, by admin.Principal) (wire.AccessRequest, error) {
	r, err := s.st.AccessRequest(ctx, store.AccessRequestID(id))
	if err != nil {
		return wire.AccessRequest{}, err
	}
	if status != store.RequestRevoked {
		q, err := s.mayDecide(ctx, r, by)
		if err != nil {
			return wire.AccessRequest{}, err
		}
		if status == store.RequestApproved && r.Duration > q.MaxDuration {
			return wire.AccessRequest{}, fmt.Errorf("%w: request %d asks for %s, longer than the %s the policy now allows; the requester must ask again",
				errBadRequest, r.ID, r.Duration, q.MaxDuration)
		}
	}
	now := time.Now().UTC()
	r, err = s.st.DecideAccessRequest(ctx, r.ID, store.RequestDecision{Status: status, By: by.Actor, At: now, Expires: now.Add(r.Duration)})
	if err != nil {
		return wire.AccessRequest{}, err
	}
	if err := s.loadRequests(ctx); err != nil {
		return wire.AccessRequest{}, err
	}
	s.audit(ctx, by.Actor, "request."+decisionVerb[status], requestTarget(r.ID), "", map[string]any{"expires": r.Expires})
	s.requestAlert(ctx, string(status), r, by.Actor)
	return s.wireRequest(ctx, r), nil
}

// decisionVerb names a decision in the audit log.
var decisionVerb = map[store.RequestStatus]string{store.RequestApproved: "approve", store.RequestDenied: "deny", store.RequestRevoked: "revoke"}

// mayDecide refuses a decider who is the requester or not a member of
// the approval groups the running policy names for r; it returns what
// the running policy requires of r.
func (s *core) mayDecide(ctx context.Context, r store.AccessRequest, by admin.Principal) (acl.Requirement, error) {
	dev, err := s.st.Node(ctx, r.NodeID)
	if err != nil {
		return acl.Requirement{}, err
	}
	requester := s.nm.emailOf(r.UserID)
	q, err := s.requirement(requester, dev, filter.Proto(r.Proto), r.Port)
	if err != nil {
		return acl.Requirement{}, err
	}
	email, err := s.principalEmail(ctx, by)
	if err != nil {
		return acl.Requirement{}, err
	}
	if email == requester || !s.nm.ruleset().MayApprove(q, email) {
		return acl.Requirement{}, fmt.Errorf("%w: %s may not decide request %d (approvers: %s %s; never the requester)", errForbidden, by.Actor, r.ID, q.Approval, q.ClassApproval)
	}
	return q, nil
}

// principalEmail is the email of the person behind by: a UI session's,
// or the person who made the API key; empty for the system's keys.
func (s *core) principalEmail(ctx context.Context, by admin.Principal) (string, error) {
	if by.Email != "" {
		return by.Email, nil
	}
	uid, err := creatorOf(by)
	if err != nil || uid == 0 {
		return "", err
	}
	u, err := s.st.User(ctx, uid)
	if err != nil {
		return "", err
	}
	return u.Email, nil
}

// loadRequests reads the access requests again: the approved, unended
// ones become the running maps' timed accesses, and each person's newest
// ones (wire.MaxSelfRequests) their nodes' Self, so the requester learns
// a decision at once. It wakes only the streams of the nodes whose maps
// that changes: the people's whose requests changed, and those of the
// people and devices of the accesses that began or ended.
func (s *core) loadRequests(ctx context.Context) error {
	s.reloadMu.Lock() // an older read must not land after a newer one
	defer s.reloadMu.Unlock()
	rs, err := s.st.ListAccessRequests(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	var ts []acl.TimedAccess
	mine := map[store.UserID][]wire.AccessRequest{}
	for _, r := range rs { // newest first
		if len(mine[r.UserID]) < wire.MaxSelfRequests {
			mine[r.UserID] = append(mine[r.UserID], s.wireRequest(ctx, r))
		}
		if r.Status != store.RequestApproved || !now.Before(r.Expires) {
			continue
		}
		dev, err := s.st.Node(ctx, r.NodeID)
		if errors.Is(err, store.ErrNotFound) {
			continue // the device is gone
		}
		if err != nil {
			return err
		}
		ts = append(ts, acl.TimedAccess{User: s.nm.emailOf(r.UserID), Addrs: addrsOf(dev), Proto: filter.Proto(r.Proto), Port: r.Port, Expires: r.Expires})
	}
	touched, err := s.nm.setTimed(ts, now)
	if err != nil {
		return fmt.Errorf("apply approved requests: %w", err)
	}
	if ids := slices.Concat(touched, s.nm.setRequests(mine)); len(ids) > 0 {
		s.hub.notify(ids)
	}
	return nil
}

// expireTimed ends the approved requests whose time is up, in the maps
// of their people and devices.
func (s *core) expireTimed(now time.Time) {
	ended, err := s.nm.expireTimed(now)
	if err != nil {
		s.log.Error("recompile after an access request ended", "err", err)
	}
	if len(ended) > 0 {
		s.hub.notify(ended)
	}
}

// listRequests lists every request, newest first; mine (non-zero) keeps
// only that person's.
func (s *core) listRequests(ctx context.Context, mine store.UserID) ([]wire.AccessRequest, error) {
	rs, err := s.st.ListAccessRequests(ctx)
	if err != nil {
		return nil, err
	}
	out := []wire.AccessRequest{}
	for _, r := range rs {
		if mine == 0 || r.UserID == mine {
			out = append(out, s.wireRequest(ctx, r))
		}
	}
	return out, nil
}

func (s *core) wireRequest(ctx context.Context, r store.AccessRequest) wire.AccessRequest {
	w := wire.AccessRequest{ID: int64(r.ID), Requester: s.nm.emailOf(r.UserID), Proto: filter.Proto(r.Proto).Name(), Port: r.Port,
		DurationMillis: r.Duration.Milliseconds(), Reason: r.Reason, Status: string(r.Status), CreatedAt: r.CreatedAt,
		DecidedBy: r.DecidedBy, DecidedAt: r.DecidedAt, Expires: r.Expires}
	if dev, err := s.st.Node(ctx, r.NodeID); err == nil {
		w.Device = dev.Name
		if q, err := s.requirement(w.Requester, dev, filter.Proto(r.Proto), r.Port); err == nil {
			w.Approvers = []string{q.Approval}
			if q.ClassApproval != "" {
				w.Approvers = append(w.Approvers, q.ClassApproval)
			}
		}
	}
	return w
}

func requestTarget(id store.AccessRequestID) string {
	return "request:" + strconv.FormatInt(int64(id), 10)
}
