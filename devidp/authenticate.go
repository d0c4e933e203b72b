package devidp

import "crypto/subtle"

// loginStep says what the form must ask next.
type loginStep int

const (
	stepDone loginStep = iota // the login is complete
	stepOTP                   // the password was right; a one-time code is due
)

// checkPassword checks username and password for the request id, from the
// browser holding binding. It returns stepOTP when the user has MFA.
func (s *storage) checkPassword(id, binding, username, password string) (loginStep, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.liveLoginLocked(id, binding)
	if err != nil {
		return 0, err
	}
	u, ok := s.cfg.users[username]
	// Compare even for an unknown user so timing tells nothing.
	want := u.Password
	if !ok {
		want = "\x00never"
	}
	if subtle.ConstantTimeCompare([]byte(password), []byte(want)) != 1 || !ok {
		return 0, s.failLocked(a, errBadCredentials)
	}
	if u.MFA {
		a.pwdUser = u.Username
		return stepOTP, nil
	}
	s.completeLocked(a, u, []string{amrPassword})
	return stepDone, nil
}

// checkOTP checks the one-time code of the user whose password was right
// for the request id.
func (s *storage) checkOTP(id, binding, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.liveLoginLocked(id, binding)
	if err != nil {
		return err
	}
	u, ok := s.cfg.users[a.pwdUser]
	if a.pwdUser == "" || !ok {
		return errUnknownRequest
	}
	if !u.checkOTP(code, s.now()) {
		return s.failLocked(a, errBadOTP)
	}
	s.completeLocked(a, u, []string{amrPassword, amrOTP})
	return nil
}

// liveLoginLocked returns the request id if it is still waiting for a login
// and binding is the cookie of the browser its form was shown to.
func (s *storage) liveLoginLocked(id, binding string) (*authRequest, error) {
	a, err := s.requestLocked(id)
	if err != nil || a.done {
		return nil, errUnknownRequest
	}
	if a.binding == "" || subtle.ConstantTimeCompare([]byte(a.binding), []byte(binding)) != 1 {
		return nil, errNotThisBrowser
	}
	return a, nil
}

// failLocked counts a failed attempt and, past the limit, drops the request.
func (s *storage) failLocked(a *authRequest, err error) error {
	a.attempts++
	if a.attempts >= maxLoginFailure {
		delete(s.requests, a.id)
		return errTooManyAttempts
	}
	return err
}

func (s *storage) completeLocked(a *authRequest, u User, amr []string) {
	a.pwdUser = ""
	a.subject = u.Subject
	a.amr = amr
	a.authTime = s.now()
	a.done = true
}

// wantsOTP reports whether the request id waits for a one-time code.
func (s *storage) wantsOTP(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.requestLocked(id)
	return err == nil && !a.done && a.pwdUser != ""
}
