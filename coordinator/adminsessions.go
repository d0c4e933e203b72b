package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/store"
)

// adminSessionStore keeps the admin UI's sessions in the coordinator's
// database (admin.SessionStore), so that every coordinator on it knows
// them: a person logged in stays logged in when the coordinator that
// served the login dies.
type adminSessionStore struct{ st store.AdminSessions }

var _ admin.SessionStore = adminSessionStore{}

// AdminSessionStore returns the store for the admin UI's sessions (package
// web's Config.Sessions).
func (s *Server) AdminSessionStore() admin.SessionStore { return adminSessionStore{s.st} }

// sessionRecord is what the database holds of a session besides its key,
// user and email.
type sessionRecord struct {
	Principal admin.Principal `json:"principal"`
	Groups    []string        `json:"groups,omitempty"`
	CSRF      string          `json:"csrf"`
}

// PutSession implements admin.SessionStore.
func (a adminSessionStore) PutSession(ctx context.Context, k admin.SessionKey, s admin.Session) error {
	rec, err := json.Marshal(sessionRecord{Principal: s.Principal, Groups: s.Groups, CSRF: s.CSRF})
	if err != nil {
		return fmt.Errorf("encode admin session: %w", err)
	}
	return a.st.PutAdminSession(ctx, store.AdminSession{Key: k, User: s.User, Email: s.Principal.Email,
		Record: rec, Expires: s.Expires}, time.Now())
}

// Session implements admin.SessionStore.
func (a adminSessionStore) Session(ctx context.Context, k admin.SessionKey, now time.Time) (admin.Session, bool, error) {
	row, err := a.st.AdminSession(ctx, k, now)
	if errors.Is(err, store.ErrNotFound) {
		return admin.Session{}, false, nil
	}
	if err != nil {
		return admin.Session{}, false, err
	}
	var rec sessionRecord
	if err := json.Unmarshal(row.Record, &rec); err != nil {
		return admin.Session{}, false, fmt.Errorf("decode admin session: %w", err)
	}
	return admin.Session{Principal: rec.Principal, User: row.User, Groups: rec.Groups, CSRF: rec.CSRF,
		Expires: row.Expires}, true, nil
}

// DeleteSession implements admin.SessionStore.
func (a adminSessionStore) DeleteSession(ctx context.Context, k admin.SessionKey) error {
	return a.st.DeleteAdminSession(ctx, k)
}

// DeleteSessionsOf implements admin.SessionStore.
func (a adminSessionStore) DeleteSessionsOf(ctx context.Context, user, email string) (int, error) {
	return a.st.DeleteAdminSessionsOf(ctx, user, email)
}
