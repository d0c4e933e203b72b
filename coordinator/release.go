package coordinator

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// The fleet's TUF repository (issue 16). The admin signs it offline
// (`ward release`) and publishes it through the admin API; the
// coordinator stores it in the database, so every coordinator on a
// PostgreSQL database serves the same files, and serves it to nodes with
// their control session. It verifies nothing and signs nothing: the
// devices trust only the root they were provisioned with.

// targetRetryAfter is what a node past Config.MaxTargetDownloads is told
// to wait.
const targetRetryAfter = "5"

// publishRelease stores a publication of the repository, audited as
// release.publish with the names and paths it carried.
func (s *fleet) publishRelease(ctx context.Context, p wire.ReleasePublish, actor string) error {
	if err := p.Check(); err != nil {
		return fmt.Errorf("%w: %w", errBadRequest, err)
	}
	if err := s.st.PutRelease(ctx, p.Metadata, p.Targets, time.Now().UTC()); err != nil {
		return err
	}
	s.audit(ctx, actor, "release.publish", "tuf", "", map[string]any{
		"metadata": sortedKeys(p.Metadata), "targets": sortedKeys(p.Targets)})
	return nil
}

// sortedKeys returns m's keys in order.
func sortedKeys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// updateCaller is the node of r's control session, once it took one of
// the node's update tokens (Config.UpdateBurst): its polls and TUF
// fetches share one bucket, past which it is answered 429.
func (s *control) updateCaller(r *http.Request) (store.Node, error) {
	n, err := s.nodeOf(r)
	if err == nil {
		err = s.nodeLimited(s.updates, "update", "update calls from this node", n.ID, s.ro.clock())
	}
	return n, err
}

// handleTUFMetadata serves one metadata file of the repository to a node.
func (s *control) handleTUFMetadata(w http.ResponseWriter, r *http.Request) {
	if _, err := s.updateCaller(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	name := r.PathValue("name")
	if err := wire.CheckTUFMetadataName(name); err != nil {
		s.writeError(w, r, fmt.Errorf("%w: %w", store.ErrNotFound, err))
		return
	}
	b, err := s.st.ReleaseMetadata(r.Context(), name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

// handleTUFTarget serves a target to a node, honouring Range so that a
// download resumes; past Config.MaxTargetDownloads at once it answers 503
// with Retry-After, and so is a node's second download while its first
// is served (targetSlots).
func (s *control) handleTUFTarget(w http.ResponseWriter, r *http.Request) {
	n, err := s.updateCaller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	path := r.PathValue("path")
	if err := wire.CheckTUFTargetPath(path); err != nil {
		s.writeError(w, r, fmt.Errorf("%w: %w", store.ErrNotFound, err))
		return
	}
	if !s.downloads.acquire(n.ID) {
		w.Header().Set("Retry-After", targetRetryAfter)
		writeJSON(w, http.StatusServiceUnavailable, wire.Error{Error: "too many update downloads at once; retry later"})
		return
	}
	defer s.downloads.release(n.ID)
	tr, err := s.st.ReleaseTarget(r.Context(), path)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w),
		idle: s.cfg.TargetWriteTimeout, end: time.Now().Add(s.cfg.TargetServeTimeout)}
	http.ServeContent(dw, r, "", time.Time{}, tr)
}

// deadlineWriter bounds how long a response may take: each write must
// finish within idle, and the whole response by end, so a node that
// stops reading, or reads a trickle, gives its download slot back. The
// device resumes from what it has with a Range request.
type deadlineWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
	end  time.Time
}

// Write implements io.Writer, with a write deadline set first.
func (d *deadlineWriter) Write(p []byte) (int, error) {
	dl := time.Now().Add(d.idle)
	if dl.After(d.end) {
		dl = d.end
	}
	if err := d.rc.SetWriteDeadline(dl); err != nil {
		return 0, fmt.Errorf("set write deadline: %w", err)
	}
	return d.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// targetSlots bounds the TUF targets served at once: max in all, and one
// per node, so that a node that opens downloads and never reads them
// holds one slot, not every slot of the fleet.
type targetSlots struct {
	max  int
	mu   sync.Mutex                // mu guards busy
	busy map[store.NodeID]struct{} // nodes being served a target
}

func newTargetSlots(max int) *targetSlots {
	return &targetSlots{max: max, busy: make(map[store.NodeID]struct{})}
}

// acquire takes a slot for node; false when every slot is taken or the
// node holds one already.
func (t *targetSlots) acquire(node store.NodeID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.busy[node]; ok || len(t.busy) >= t.max {
		return false
	}
	t.busy[node] = struct{}{}
	return true
}

// release gives node's slot back.
func (t *targetSlots) release(node store.NodeID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.busy, node)
}
