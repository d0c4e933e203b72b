package localapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxLoginRequest bounds a LoginRequest body.
const maxLoginRequest = 64 << 10

// desktop returns the Logins behind the login routes, or answers 404 and
// returns nil on a device's agent.
func (s *server) desktop(w http.ResponseWriter) Logins {
	if s.logins == nil {
		writeError(w, StatusOf(errNotDesktop), errNotDesktop)
	}
	return s.logins
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	l := s.desktop(w)
	if l == nil {
		return
	}
	var req LoginRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxLoginRequest)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, fmt.Errorf("decode login request: %w", err))
		return
	}
	res, err := l.StartLogin(r.Context(), req)
	if err != nil {
		writeError(w, http.StatusBadGateway, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *server) waitLogin(w http.ResponseWriter, r *http.Request) {
	l := s.desktop(w)
	if l == nil {
		return
	}
	res, err := l.WaitLogin(r.Context(), r.URL.Query().Get("id"))
	switch {
	case errors.Is(err, ErrUnknownLogin):
		writeError(w, http.StatusNotFound, err)
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err)
	default:
		writeJSON(w, http.StatusOK, res)
	}
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	if l := s.desktop(w); l != nil {
		writeJSON(w, http.StatusOK, l.Logout(r.Context()))
	}
}

func (s *server) quit(w http.ResponseWriter, r *http.Request) {
	if l := s.desktop(w); l != nil {
		w.WriteHeader(http.StatusNoContent)
		l.Quit()
	}
}
