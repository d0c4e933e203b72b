package coordinator

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/wardnet/ward/coordinator/store"
)

// retryAfterError is errRateLimited with the wait the caller must keep.
type retryAfterError struct {
	what  string
	after time.Duration
}

func (e *retryAfterError) Error() string {
	return fmt.Sprintf("%s: %v; retry in %v", errRateLimited, e.what, max(time.Second, e.after.Round(time.Second)))
}

// Unwrap makes the error errRateLimited (and so of its kind).
func (e *retryAfterError) Unwrap() error { return errRateLimited }

// setRetryAfter sets the Retry-After header for a rate-limited error.
func setRetryAfter(w http.ResponseWriter, err error) {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		w.Header().Set("Retry-After", strconv.Itoa(int(max(time.Second, ra.after.Round(time.Second))/time.Second)))
	}
}

// rotateLimited takes one of node id's rotation tokens, or says when the
// next one comes. It runs before the checks that audit a refusal, so a
// refused node cannot fill the audit log either. Only registered nodes
// have buckets, so strangers with self-made machine keys cannot push a
// node's bucket out of the table.
func (s *control) rotateLimited(id store.NodeID, now time.Time) error {
	if ok, after := s.rotations.Allow(id, now); !ok {
		return &retryAfterError{what: "key rotations", after: after}
	}
	return nil
}

// mayRotate says whether node n may replace its WireGuard key by proof of
// its machine key alone. Only devices may, and only while authorized: a
// person's key lives and dies with their SSO session, so only a new login
// gives them a new one; a device whose key an admin revoked needs the
// admin's approval or a new pre-auth key first. A device whose key lapsed
// on its own (it was offline past its expiry) is still authorized and may.
func mayRotate(n store.Node) error {
	switch {
	case len(n.Tags) == 0:
		return fmt.Errorf("%w: %s is a person's node: its key is renewed only by a new login through the identity provider (ward login)",
			errForbidden, n.Name)
	case !n.KeyRevokedAt.IsZero():
		return fmt.Errorf("%w: an admin revoked the key of %s at %s: it comes back only with an admin's approval (ward admin nodes approve %s) or a new pre-auth key",
			errForbidden, n.Name, n.KeyRevokedAt.UTC().Format(time.RFC3339), n.Name)
	}
	return nil
}

// refuseRotate audits a refused rotation and answers it.
func (s *control) refuseRotate(w http.ResponseWriter, r *http.Request, actor, target string, err error) {
	s.audit(r.Context(), actor, "node.rotate_refused", target, remoteIP(r), map[string]any{"reason": err.Error()})
	s.writeError(w, r, err)
}
