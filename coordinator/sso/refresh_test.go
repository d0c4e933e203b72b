package sso

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wardnet/ward/devidp"
)

func withRefresh(c *Config) { c.Refresh = true }

// TestRefresh logs in with Config.Refresh and redeems the refresh token
// twice (the IdP rotates it), getting the verified identity each time.
func TestRefresh(t *testing.T) {
	h := newHarness(t, devidp.Config{}, withRefresh)
	o := h.login(t, "", alice)
	if o.err != nil {
		t.Fatalf("FinishRequest: %v", o.err)
	}
	tok := o.res.RefreshToken
	if tok == "" {
		t.Fatal("no refresh token with Config.Refresh")
	}
	want := Identity{Issuer: h.idp.Issuer(), Subject: "alice", Email: "alice@example.com", Name: "Alice Example", Groups: []string{"ops"}, AMR: []string{"pwd", "otp"}, MFA: true}
	for i := range 2 {
		id, next, err := h.rp.Refresh(t.Context(), tok)
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		if diff := cmp.Diff(want, id, cmpopts.IgnoreFields(Identity{}, "Expiry", "AuthTime")); diff != "" {
			t.Errorf("refresh %d identity (-want +got):\n%s", i, diff)
		}
		if next == "" || next == tok {
			t.Errorf("refresh %d did not return a new token", i)
		}
		tok = next
	}
}

func TestNoRefreshTokenByDefault(t *testing.T) {
	h := newHarness(t, devidp.Config{}, nil)
	o := h.login(t, "", bob)
	if o.err != nil || o.res.RefreshToken != "" {
		t.Errorf("login without Config.Refresh: err %v, refresh token given %v", o.err, o.res.RefreshToken != "")
	}
	if _, _, err := h.rp.Refresh(t.Context(), ""); !errors.Is(err, ErrRefreshRefused) {
		t.Errorf("Refresh(\"\") = %v, want ErrRefreshRefused", err)
	}
}

// TestRefreshRefused checks that a user the IdP revoked gets
// ErrRefreshRefused, and that the token never prints.
func TestRefreshRefused(t *testing.T) {
	h := newHarness(t, devidp.Config{}, withRefresh)
	o := h.login(t, "", bob)
	if o.err != nil {
		t.Fatalf("FinishRequest: %v", o.err)
	}
	if s := fmt.Sprintf("%v %+v", o.res, o.res.RefreshToken); strings.Contains(s, string(o.res.RefreshToken)) {
		t.Errorf("printing the result shows the refresh token: %s", s)
	}
	if err := h.idp.RevokeUser("bob"); err != nil {
		t.Fatal(err)
	}
	_, _, err := h.rp.Refresh(t.Context(), o.res.RefreshToken)
	if !errors.Is(err, ErrRefreshRefused) {
		t.Errorf("refresh of a revoked user = %v, want ErrRefreshRefused", err)
	}
}

// TestRefreshProviderDown checks an unreachable IdP is ErrProvider, not a
// refusal.
func TestRefreshProviderDown(t *testing.T) {
	h := newHarness(t, devidp.Config{}, withRefresh)
	o := h.login(t, "", bob)
	if o.err != nil {
		t.Fatalf("FinishRequest: %v", o.err)
	}
	h.rp.cfg.HTTPClient = &http.Client{Transport: down{}}
	_, _, err := h.rp.Refresh(t.Context(), o.res.RefreshToken)
	if !errors.Is(err, ErrProvider) || errors.Is(err, ErrRefreshRefused) {
		t.Errorf("refresh with the IdP down = %v, want ErrProvider", err)
	}
}

// down is a transport to an unreachable IdP.
type down struct{}

func (down) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("connection refused")
}

// tokenAnswer is a transport that answers the IdP's token endpoint with a
// fixed error, as another IdP would, and passes everything else on.
type tokenAnswer struct {
	status int
	body   string
	next   http.RoundTripper
}

func (a tokenAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || !strings.Contains(r.URL.Path, "token") {
		return a.next.RoundTrip(r)
	}
	return &http.Response{StatusCode: a.status, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(a.body)), Request: r}, nil
}

// TestRefreshRefusedTheWayDexSaysIt: Dex answers a revoked or unknown
// refresh token with 400 invalid_request, not invalid_grant; that is a
// refusal too. Our own bad client credentials and a failing IdP are not.
func TestRefreshRefusedTheWayDexSaysIt(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		refused    bool
		// want is the error of a non-refusal.
		want error
	}{
		{"dex invalid_request", `{"error":"invalid_request","error_description":"Refresh token is invalid or has already been claimed by another client."}`, 400, true, nil},
		{"invalid_grant", `{"error":"invalid_grant"}`, 400, true, nil},
		{"invalid_grant with 401", `{"error":"invalid_grant"}`, 401, true, nil},
		{"our client credentials", `{"error":"invalid_client"}`, 401, false, ErrClientRejected},
		{"our client credentials, 400", `{"error":"invalid_client"}`, 400, false, ErrClientRejected},
		{"our client credentials, bare 401", ``, 401, false, ErrClientRejected},
		{"idp failing", `{"error":"server_error"}`, 500, false, ErrProvider},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, devidp.Config{}, withRefresh)
			o := h.login(t, "", bob)
			if o.err != nil {
				t.Fatalf("FinishRequest: %v", o.err)
			}
			h.rp.cfg.HTTPClient = &http.Client{Transport: tokenAnswer{status: tt.status, body: tt.body, next: http.DefaultTransport}}
			_, _, err := h.rp.Refresh(t.Context(), o.res.RefreshToken)
			if got := errors.Is(err, ErrRefreshRefused); got != tt.refused {
				t.Fatalf("refresh answered %d %s: %v; refused = %v, want %v", tt.status, tt.body, err, got, tt.refused)
			}
			if !tt.refused && !errors.Is(err, tt.want) {
				t.Fatalf("refresh answered %d %s: %v, want %v", tt.status, tt.body, err, tt.want)
			}
		})
	}
}
