package coordinator

import (
	"net/http"

	"github.com/wardnet/ward/wire"
)

// handleRequestCreate is a person's node asking for time-bound access on
// its owner's behalf (POST wire.PathRequests).
func (s *control) handleRequestCreate(w http.ResponseWriter, r *http.Request) {
	n, err := s.nodeOf(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req wire.AccessRequestCreate
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.requestAccess(r.Context(), n, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

// handleRequestList lists the requests of the node's owner (GET
// wire.PathRequests), so the requester sees each decision.
func (s *control) handleRequestList(w http.ResponseWriter, r *http.Request) {
	n, err := s.nodeOf(r)
	if err == nil && (len(n.Tags) > 0 || n.UserID == 0) {
		err = errForbidden
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.listRequests(r.Context(), n.UserID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
