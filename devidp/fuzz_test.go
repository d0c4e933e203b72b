package devidp_test

import (
	"testing"

	"github.com/wardnet/ward/devidp"
)

// FuzzParseUsers checks that no users file makes ParseUsers panic, and
// that what it accepts is valid.
func FuzzParseUsers(f *testing.F) {
	f.Add([]byte(`{"users": [{"username": "a", "password": "p", "email": "a@x", "mfa": true}]}`))
	f.Add([]byte(`{"users": [{"username": "a", "password": "p", "email": "a@x", "mfa": true, "totp_secret": "JBSWY3DPEHPK3PXP"},]}`))
	f.Add([]byte(`// c
{"users": []}`))
	f.Fuzz(func(t *testing.T, src []byte) {
		users, err := devidp.ParseUsers(src)
		if err != nil {
			return
		}
		for _, u := range users {
			if u.Username == "" || u.Password == "" || u.Subject == "" || u.EmailVerified == nil {
				t.Fatalf("accepted user without defaults: %+v", u)
			}
			if u.MFA && u.OTP == "" && u.TOTPSecret == "" {
				t.Fatalf("accepted MFA user without a code: %+v", u)
			}
		}
	})
}
