package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// ssoPolicy grants the IdP group ops one port on cameras.
func ssoPolicy(port uint16) string {
	return strings.Replace(fleetPolicy(port), `"tagOwners"`, `"groups": {"group:ops": []}, "tagOwners"`, 1) // group:ops comes from the IdP
}

// loginMachine runs the node side of an interactive login over the wire and
// a person's browser through the coordinator's built-in OIDC provider's
// real login form. It returns the result the node receives.
func loginMachine(t *testing.T, f *fleet, creds devidptest.Credentials) (wire.LoginResult, error) {
	t.Helper()
	mk, _ := wire.NewMachinePrivate()
	wk, _ := wire.NewWGPrivate()
	post := func(path, tok string, in, out any) int {
		b, _ := json.Marshal(in)
		req, _ := http.NewRequest("POST", f.url()+path, bytes.NewReader(b))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		json.Unmarshal(body, out)
		return resp.StatusCode
	}
	var ch wire.ChallengeResponse
	post(wire.PathChallenge, "", wire.ChallengeRequest{MachineKey: mk.Public()}, &ch)
	var ss wire.SessionResponse
	post(wire.PathSession, "", wire.SessionRequest{MachineKey: mk.Public(), Challenge: ch.Challenge,
		Signature: mk.Sign(wire.SessionMessage(ch.Challenge, mk.Public())), ProtocolVersion: wire.ProtocolVersion}, &ss)
	f.secrets = append(f.secrets, ss.Token)
	var lr wire.LoginResponse
	if code := post(wire.PathLogin, ss.Token, wire.LoginRequest{WGKey: wk.Public(), Hostname: creds.Username + "-laptop", OS: "linux"}, &lr); code != 200 {
		t.Fatalf("start login: %d", code)
	}
	_, ferr := signInAndConnect(context.Background(), lr.URL, creds, lr.Code)
	if _, ok := ferr.(*devidptest.FormError); ok {
		return wire.LoginResult{}, ferr // the form refused: the IdP never redirects back
	}
	req, _ := http.NewRequest("GET", f.url()+wire.PathLoginWait+"?id="+lr.ID, nil)
	req.Header.Set("Authorization", "Bearer "+ss.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res wire.LoginResult
	json.NewDecoder(resp.Body).Decode(&res)
	return res, ferr
}

func TestSSOLoginThroughDevProvider(t *testing.T) {
	ssh := echoServer(t)
	f := newFleet(t, ssoPolicy(ssh), func(c *assembly.Config) { c.DevMFAGroups = []string{"ops"} })
	// alice (group ops, MFA with a one-time code) logs in through the form.
	res, err := loginMachine(t, f, devidptest.Credentials{Username: "alice", Password: "alice", OTP: "123456"})
	if err != nil || !res.Done || res.Node == nil || res.Node.User != "alice@example.com" {
		t.Fatalf("alice's login: %+v %v", res, err)
	}
	var users []wire.AdminUser
	f.Admin("GET", wire.PathAdminUsers, nil, &users)
	if len(users) != 1 || users[0].Email != "alice@example.com" || strings.Join(users[0].Groups, ",") != "ops" {
		t.Fatalf("users after login: %+v", users)
	}
	// carol is in ops too but her login has no second factor: refused, and
	// the node is told why.
	res, _ = loginMachine(t, f, devidptest.Credentials{Username: "carol", Password: "carol"})
	if !res.Done || res.Node != nil || !strings.Contains(res.Error, "MFA") {
		t.Fatalf("carol without MFA: %+v", res)
	}
	// A wrong password never reaches the coordinator: the form refuses it.
	if _, err := loginMachine(t, f, devidptest.Credentials{Username: "bob", Password: "nope"}); err == nil {
		t.Fatal("wrong password accepted by the form")
	}
	var evs []wire.AuditEvent
	f.Admin("GET", wire.PathAdminAudit+"?action=user.login", nil, &evs)
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Action+" "+e.Actor)
	}
	joined := strings.Join(kinds, "; ")
	if !strings.Contains(joined, "user.login user:alice@example.com") || !strings.Contains(joined, "user.login_refused") {
		t.Fatalf("audit log: %s", joined)
	}
}
