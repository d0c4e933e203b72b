package sso

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"
)

func newOfflineRP(t testing.TB, redirect string) *RP {
	t.Helper()
	rp, err := New(Config{Issuer: "https://idp.example", ClientID: "ward", ClientSecret: "s", RedirectURL: redirect})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

func TestLoginCookieAttributes(t *testing.T) {
	now := time.Now()
	p := Pending{State: strings.Repeat("A", stateLen), Expires: now.Add(time.Minute)}
	tests := []struct {
		redirect, name string
		secure         bool
	}{
		{"https://ward.example/ui/callback", "__Host-ward_login_" + p.State, true},
		{"http://127.0.0.1:8080/ui/callback", "ward_login_" + p.State, false},
	}
	for _, tt := range tests {
		t.Run(tt.redirect, func(t *testing.T) {
			c := newOfflineRP(t, tt.redirect).cookie(p, now)
			if c.Name != tt.name || c.Secure != tt.secure || c.Path != "/" || c.Domain != "" || !c.HttpOnly ||
				c.SameSite != http.SameSiteLaxMode || c.MaxAge != 60 {
				t.Fatalf("cookie %+v", c)
			}
			if c.String() == "" {
				t.Fatal("net/http refuses the cookie")
			}
		})
	}
}

func TestLoginCookieIsBoundToItsRP(t *testing.T) {
	a := newOfflineRP(t, "https://ward.example/ui/callback")
	p := Pending{State: strings.Repeat("B", stateLen), Verifier: "v", Nonce: "n", Payload: "x", Expires: time.Now().Add(time.Minute).UTC().Round(0)}
	sealed := a.sealer.seal(p)
	if got, err := a.sealer.open(sealed); err != nil || got != p {
		t.Fatalf("open: %+v, %v; want %+v", got, err, p)
	}
	// Another RP (another callback, or this one after a restart) cannot
	// open it.
	for _, other := range []*RP{newOfflineRP(t, "https://ward.example/ward/v1/oidc/callback"), newOfflineRP(t, "https://ward.example/ui/callback")} {
		if _, err := other.sealer.open(sealed); err == nil {
			t.Fatal("another RP opened the cookie")
		}
	}
}

func TestValidState(t *testing.T) {
	for s, want := range map[string]bool{
		strings.Repeat("A", 26): true, "ABCDEFGHIJKLMNOPQRSTUVWXYZ": true, "234567ABCDEFGHIJKLMNOPQRST": true,
		"": false, strings.Repeat("A", 25): false, strings.Repeat("a", 26): false, "ABCDEFGHIJKLMNOPQRSTUVWXY1": false,
		"ABCDEFGHIJKLMNOPQRSTUVWXY;": false,
	} {
		if validState(s) != want {
			t.Errorf("validState(%q) = %v", s, !want)
		}
	}
}

// FuzzLoginCookie feeds arbitrary cookie values and states to the callback's
// decoding: nothing may panic, and nothing but the cookie the RP made may
// be accepted.
func FuzzLoginCookie(f *testing.F) {
	rp := newOfflineRP(f, "https://ward.example/ui/callback")
	state := strings.Repeat("C", stateLen)
	good := rp.sealer.seal(Pending{State: state, Expires: time.Now().Add(time.Hour)})
	f.Add(good, state)
	f.Add(good[:len(good)-1], state)
	f.Add("", "")
	f.Add("AAAA", "x")
	f.Fuzz(func(t *testing.T, sealed, state string) {
		p, err := rp.sealer.open(sealed)
		if err == nil && sealed != good {
			t.Fatalf("accepted a cookie it did not make: %q", sealed)
		}
		if validState(state) {
			_ = rp.cookieName(state)
		}
		if _, err := rp.take(sealed, state); err == nil && (sealed != good || state != p.State) {
			t.Fatalf("take accepted cookie %q for state %q", sealed, state)
		}
	})
}

// TestLoginCookieSharedKey: RPs given one CookieKey (coordinators on one
// database) open each other's login cookies when they are the same RP
// (client and callback), and still not another RP's; a key of the wrong
// size is refused.
func TestLoginCookieSharedKey(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	seal, err := newSealer(key, "ward", "https://ward.example/ui/callback")
	if err != nil {
		t.Fatal(err)
	}
	p := Pending{State: strings.Repeat("C", stateLen), Verifier: "v", Nonce: "n", Payload: "x", Expires: time.Now().Add(time.Minute).UTC().Round(0)}
	sealed := seal.seal(p)
	for _, tc := range []struct {
		redirect string
		ok       bool
	}{{"https://ward.example/ui/callback", true}, {"https://ward.example/ward/v1/oidc/callback", false}} {
		other, err := newSealer(key, "ward", tc.redirect)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := other.open(sealed); (err == nil) != tc.ok || tc.ok && got != p {
			t.Errorf("%s: open = %+v, %v; want ok %v", tc.redirect, got, err, tc.ok)
		}
	}
	if _, err := newSealer(key[:16], "ward", "https://ward.example/ui/callback"); err == nil {
		t.Error("a 16-byte cookie key was taken")
	}
}
