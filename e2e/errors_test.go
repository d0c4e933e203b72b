package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wardnet/ward/coordinator"
)

// repeatedPhrase returns a phrase of two or more words that msg says
// twice ("bad request: bad request", "register node: ... register node"),
// or "".
func repeatedPhrase(msg string) string {
	words := regexp.MustCompile(`[a-z0-9]+`).FindAllString(strings.ToLower(msg), -1)
	seen := map[string]bool{}
	for i := 0; i+1 < len(words); i++ {
		p := words[i] + " " + words[i+1]
		if seen[p] {
			return p
		}
		seen[p] = true
	}
	return ""
}

// TestErrorsPrintOnce runs typical failing commands of the real binary
// against a real coordinator and checks that each error says what failed
// once: no layer repeats the one below ("bad request: bad request",
// "register: register node"), and none names a key it never made.
func TestErrorsPrintOnce(t *testing.T) {
	f := newFleet(t, fleetPolicy(1), nil)
	keyFile := filepath.Join(f.Config.DataDir, coordinator.BootstrapKeyFile)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	admin := func(url string) []string {
		return []string{"admin", "--coordinator", url, "--api-key-file", keyFile}
	}
	tests := []struct {
		args []string
		want string
	}{
		{append(admin(f.url()), "keys", "create", "--tags", "tag:nope"), `tag "tag:nope" has no entry`},
		{append(admin(f.url()), "keys", "create"), "--tags is required"},
		{append(admin(f.url()), "keys", "revoke", "99"), "not found"},
		{append(admin(f.url()), "apikey", "revoke", "99"), "not found"},
		{append(admin(f.url()), "nodes", "show", "nope"), "not found"},
		{append(admin(f.url()), "users", "disable", "nope@example.com"), "not found"},
		{append(admin(f.url()), "audit", "list", "--since", "yesterday"), `"yesterday"`},
		{append(admin(down), "nodes", "list"), "connection refused"},
		{[]string{"node", "--coordinator", f.url(), "--dev-insecure-http", "--auth-key", "wpk_made_up", "--state-dir", t.TempDir()}, "auth key not found"},
	}
	for _, tt := range tests {
		cmd := exec.Command(binary(t), tt.args...)
		cmd.Env = append(os.Environ(), "WARD_API_KEY=")
		out, err := cmd.CombinedOutput()
		msg := string(out)
		if i := strings.LastIndex(msg, "ward: "); i >= 0 {
			msg = msg[i:] // the error line, after any logs
		}
		if err == nil || !strings.Contains(msg, tt.want) {
			t.Errorf("ward %s: %v %q, want an error with %q", strings.Join(tt.args, " "), err, msg, tt.want)
			continue
		}
		if p := repeatedPhrase(msg); p != "" {
			t.Errorf("ward %s says %q twice: %s", strings.Join(tt.args[:3], " "), p, msg)
		}
		if strings.Contains(msg, "wpk_") && !strings.Contains(strings.Join(tt.args, " "), "wpk_") {
			t.Errorf("ward %s names a key: %s", strings.Join(tt.args, " "), msg)
		}
	}
}

// TestPolicySetErrorsNameTheFile: `ward admin policy set FILE` reports the
// coordinator's problems as FILE:line:col, for a syntax error and for a
// reference the policy does not define, and the policy stays as it was.
func TestPolicySetErrorsNameTheFile(t *testing.T) {
	f := newFleet(t, fleetPolicy(1), nil)
	keyFile := filepath.Join(f.Config.DataDir, coordinator.BootstrapKeyFile)
	dir := t.TempDir()
	for name, text := range map[string]string{
		"syntax.hujson": "{\n  \"acls\": [\n",
		"undef.hujson":  "{\n  \"acls\": [{\"action\": \"accept\", \"src\": [\"group:x\"], \"dst\": [\"*:*\"]}],\n}\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(binary(t), "admin", "--coordinator", f.url(), "--api-key-file", keyFile, "policy", "set", path).CombinedOutput()
		if err == nil || !regexp.MustCompile(regexp.QuoteMeta(path)+`:\d+:\d+: `).Match(out) {
			t.Errorf("policy set %s: %v %s; want problems as %s:LINE:COL", name, err, out, path)
		}
		if strings.Contains(string(out), "\npolicy:") {
			t.Errorf("policy set %s still names the text \"policy\": %s", name, out)
		}
	}
}
