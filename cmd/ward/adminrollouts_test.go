//go:build !ward_omit_admin

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/nodetest"
	"github.com/wardnet/ward/wire"
)

// runAdminAt runs `ward admin` with args against c and returns its output.
func runAdminAt(t *testing.T, c *nodetest.Coordinator, args ...string) (string, error) {
	t.Helper()
	t.Setenv("WARD_API_KEY", c.APIKey)
	var out bytes.Buffer
	cmd := adminCmd(&adminFlags{})
	cmd.SetArgs(append([]string{"--coordinator", c.URL()}, args...))
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

// TestAdminRolloutsCommands drives a rollout with `ward admin rollouts`
// against a real coordinator: create (refused when it selects nothing),
// list, show with the device's state, pause with its reason, resume and
// abort.
func TestAdminRolloutsCommands(t *testing.T) {
	c := nodetest.StartCoordinator(t, `{"tagOwners": {"tag:sensor": [], "tag:camera": []}}`, nil)
	mk, _ := wire.NewMachinePrivate()
	wk, _ := wire.NewWGPrivate()
	cl, err := control.New(control.Config{URL: c.URL(), AllowInsecureHTTP: true, MachineKey: mk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Register(t.Context(), wire.RegisterRequest{AuthKey: c.AuthKey("tag:sensor"), WGKey: wk.Public(), Hostname: "s1"}); err != nil {
		t.Fatal(err)
	}
	create := []string{"rollouts", "create", "--target", "app/linux-amd64/app-2.0", "--version", "2.0", "--waves", "100%"}
	if out, err := runAdminAt(t, c, append(create, "--tag", "tag:camera")...); err == nil || !strings.Contains(out+err.Error(), "select no device") {
		t.Errorf("a rollout selecting nothing: %v\n%s", err, out)
	}
	steps := []struct {
		args []string
		want string
	}{
		{append(create, "--tag", "tag:sensor"), "rollout 1: artifact app/linux-amd64/app-2.0 (2.0) running, wave 1 of 1"},
		{[]string{"rollouts", "list"}, "rollout 1: artifact"},
		{[]string{"rollouts", "show", "1"}, "wave 1: s1=assigned"},
		{[]string{"rollouts", "pause", "1"}, "paused, wave 1 of 1, by apikey:"},
		{[]string{"rollouts", "resume", "1"}, "running"},
		{[]string{"rollouts", "abort", "1"}, "aborted"},
	}
	for _, s := range steps {
		out, err := runAdminAt(t, c, s.args...)
		if err != nil || !strings.Contains(out, s.want) {
			t.Errorf("ward admin %s: %v\n%s\nwant %q", strings.Join(s.args, " "), err, out, s.want)
		}
	}
}
