package devidp

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

const (
	totpStep   = 30 * time.Second
	totpDigits = 6
)

// checkOTP reports whether code is the user's one-time code at now: the
// fixed OTP, or a TOTP code of the current, previous or next time step.
func (u User) checkOTP(code string, now time.Time) bool {
	code = strings.TrimSpace(code)
	if u.TOTPSecret == "" {
		return u.OTP != "" && subtle.ConstantTimeCompare([]byte(code), []byte(u.OTP)) == 1
	}
	key, err := decodeTOTPSecret(u.TOTPSecret)
	if err != nil {
		return false
	}
	ok := 0
	for _, skew := range []time.Duration{-totpStep, 0, totpStep} {
		want := TOTP(key, now.Add(skew))
		ok |= subtle.ConstantTimeCompare([]byte(code), []byte(want))
	}
	return ok == 1
}

// TOTP returns the RFC 6238 code (HMAC-SHA-1, 30 s steps, 6 digits) of key
// at t. Tests use it to answer the login form of a user with a TOTPSecret.
func TOTP(key []byte, t time.Time) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(t.Unix())/uint64(totpStep/time.Second))
	mac := hmac.New(sha1.New, key)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", totpDigits, v%1_000_000)
}

// TOTPKey decodes a base32 TOTP secret as found in a users file.
func TOTPKey(secret string) ([]byte, error) {
	return decodeTOTPSecret(secret)
}

func decodeTOTPSecret(s string) ([]byte, error) {
	s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("decode totp secret: %w", err)
	}
	if len(key) < 10 {
		return nil, errors.New("decode totp secret: shorter than 80 bits")
	}
	return key, nil
}
