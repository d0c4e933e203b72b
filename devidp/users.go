package devidp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/tailscale/hujson"
)

// DefaultOTP is the one-time code of a user with MFA whose entry names
// neither an OTP nor a TOTP secret.
const DefaultOTP = "123456"

// User is a demo account. The JSON names are those of the users file.
type User struct {
	// Username is what the person types on the login form. Required, unique.
	Username string `json:"username"`
	// Password is the demo password, kept in clear: this provider is for
	// development only. Required.
	Password string `json:"password"`
	// Subject is the stable "sub" claim. Empty means the username.
	Subject string `json:"subject,omitempty"`
	// Email is the "email" claim. Required.
	Email string `json:"email"`
	// EmailVerified is the "email_verified" claim. Nil means true.
	EmailVerified *bool `json:"email_verified,omitempty"`
	// OmitEmailVerified leaves the email_verified claim out, as some IdPs
	// do; EmailVerified must then be unset.
	OmitEmailVerified bool `json:"omit_email_verified,omitempty"`
	// Name is the "name" claim. Empty means the username.
	Name string `json:"name,omitempty"`
	// Groups is the groups claim. May be empty.
	Groups []string `json:"groups,omitempty"`
	// MFA makes the login form ask for a one-time code after the password;
	// the tokens then carry amr ["pwd","otp"] instead of ["pwd"].
	MFA bool `json:"mfa,omitempty"`
	// OTP is a fixed one-time code (6 to 8 digits) for a user with MFA.
	// Empty, with no TOTPSecret, means DefaultOTP.
	OTP string `json:"otp,omitempty"`
	// TOTPSecret is a base32 RFC 6238 seed (SHA-1, 30 s, 6 digits), so an
	// authenticator app can be used; it replaces OTP.
	TOTPSecret string `json:"totp_secret,omitempty"`
}

// usersFile is the layout of a users file.
type usersFile struct {
	Users []User `json:"users"`
}

// DefaultUsers returns the built-in demo accounts: alice (group ops, MFA
// with code 123456), bob (no group, no MFA) and carol (groups ops and
// admins, no MFA), each with the username as password and an
// @example.com address.
func DefaultUsers() []User {
	return []User{
		{Username: "alice", Password: "alice", Email: "alice@example.com", Name: "Alice Example", Groups: []string{"ops"}, MFA: true, OTP: DefaultOTP},
		{Username: "bob", Password: "bob", Email: "bob@example.com", Name: "Bob Example"},
		{Username: "carol", Password: "carol", Email: "carol@example.com", Name: "Carol Example", Groups: []string{"admins", "ops"}},
	}
}

// LoadUsers reads a users file (JSON or HuJSON) and returns its users,
// validated.
func LoadUsers(path string) ([]User, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read users file: %w", err)
	}
	users, err := ParseUsers(b)
	if err != nil {
		return nil, fmt.Errorf("parse users file %s: %w", path, err)
	}
	return users, nil
}

// ParseUsers parses the contents of a users file: HuJSON (JSON with comments
// and trailing commas) of the form {"users": [{"username": ..., ...}]}.
// Unknown fields are refused. The users are validated and defaults filled.
func ParseUsers(src []byte) ([]User, error) {
	std, err := hujson.Standardize(src)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidUsers, err)
	}
	dec := json.NewDecoder(bytes.NewReader(std))
	dec.DisallowUnknownFields()
	var f usersFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidUsers, err)
	}
	if len(f.Users) == 0 {
		return nil, fmt.Errorf("%w: no users", ErrInvalidUsers)
	}
	return normalizeUsers(f.Users)
}

// normalizeUsers validates users and returns copies with defaults filled.
func normalizeUsers(in []User) ([]User, error) {
	out := make([]User, 0, len(in))
	names := map[string]bool{}
	subjects := map[string]bool{}
	for i, u := range in {
		u, err := u.normalize()
		if err != nil {
			return nil, fmt.Errorf("user %d: %w", i+1, err)
		}
		if names[u.Username] || subjects[u.Subject] {
			return nil, fmt.Errorf("%w: user %q or subject %q appears twice", ErrInvalidUsers, u.Username, u.Subject)
		}
		names[u.Username], subjects[u.Subject] = true, true
		out = append(out, u)
	}
	return out, nil
}

func (u User) normalize() (User, error) {
	switch {
	case u.Username == "" || strings.TrimSpace(u.Username) != u.Username:
		return u, fmt.Errorf("%w: username %q must be non-empty, without surrounding spaces", ErrInvalidUsers, u.Username)
	case u.Password == "":
		return u, fmt.Errorf("%w: user %q has no password", ErrInvalidUsers, u.Username)
	case strings.Count(u.Email, "@") != 1 || strings.HasPrefix(u.Email, "@") || strings.HasSuffix(u.Email, "@"):
		return u, fmt.Errorf("%w: user %q: email %q is not an address", ErrInvalidUsers, u.Username, u.Email)
	}
	for _, g := range u.Groups {
		if g == "" {
			return u, fmt.Errorf("%w: user %q has an empty group", ErrInvalidUsers, u.Username)
		}
	}
	if u.Subject == "" {
		u.Subject = u.Username
	}
	if u.Name == "" {
		u.Name = u.Username
	}
	if u.OmitEmailVerified && u.EmailVerified != nil {
		return u, fmt.Errorf("%w: user %q: give email_verified or omit_email_verified, not both", ErrInvalidUsers, u.Username)
	}
	if u.EmailVerified == nil {
		t := true
		u.EmailVerified = &t
	}
	u.Groups = append([]string{}, u.Groups...)
	return u.normalizeMFA()
}

func (u User) normalizeMFA() (User, error) {
	if !u.MFA {
		if u.OTP != "" || u.TOTPSecret != "" {
			return u, fmt.Errorf("%w: user %q has a one-time code but no mfa", ErrInvalidUsers, u.Username)
		}
		return u, nil
	}
	if u.OTP != "" && u.TOTPSecret != "" {
		return u, fmt.Errorf("%w: user %q: give otp or totp_secret, not both", ErrInvalidUsers, u.Username)
	}
	if u.TOTPSecret != "" {
		if _, err := decodeTOTPSecret(u.TOTPSecret); err != nil {
			return u, fmt.Errorf("%w: user %q: %w", ErrInvalidUsers, u.Username, err)
		}
		return u, nil
	}
	if u.OTP == "" {
		u.OTP = DefaultOTP
	}
	if !isDigits(u.OTP) || len(u.OTP) < 6 || len(u.OTP) > 8 {
		return u, fmt.Errorf("%w: user %q: otp must be 6 to 8 digits", ErrInvalidUsers, u.Username)
	}
	return u, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
