package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardnet/ward/nodetest"
)

// TestAdminAlertRulesCommands drives `ward admin alerts rules` against a
// real coordinator: set refuses a file with problems, named in the file
// at line:col, then saves it fixed; get prints it; history lists the
// versions; rollback saves an old one as a new version.
func TestAdminAlertRulesCommands(t *testing.T) {
	c := nodetest.StartCoordinator(t, `{"tagOwners": {"tag:sensor": []}}`, nil)
	dir := t.TempDir()
	file := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const hook = `"webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/h", "secret": "0123456789abcdef"}],`
	bad := file("bad.hujson", "{"+hook+"\n  \"rules\": [{\"name\": \"joins\", \"kind\": \"joined\", \"to\": [\"ops\"]}]}")
	one := file("one.hujson", "{"+hook+"\n  \"rules\": [{\"name\": \"joins\", \"kind\": \"device_joined\", \"to\": [\"ops\"]}]}")
	two := file("two.hujson", "{"+hook+"\n  \"rules\": []}")
	if out, err := runAdminAt(t, c, "alerts", "rules", "set", bad); err == nil || !strings.Contains(out+err.Error(), bad+":2:39: kind \"joined\"") {
		t.Errorf("set with a problem: %v\n%s; want it named at %s:2:39", err, out, bad)
	}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"alerts", "rules", "set", one, "--comment", "joins"}, "alert rules version 1 is in force"},
		{[]string{"alerts", "rules", "set", two, "--parent", "1"}, "alert rules version 2 is in force"},
		{[]string{"alerts", "rules", "get"}, `"rules": []`},
		{[]string{"alerts", "rules", "rollback", "1"}, "alert rules version 3 is in force"},
		{[]string{"alerts", "rules", "get"}, `"kind": "device_joined"`},
		{[]string{"alerts", "rules", "history"}, "roll back to version 1"},
	}
	for _, s := range steps {
		out, err := runAdminAt(t, c, s.args...)
		if err != nil || !strings.Contains(out, s.want) {
			t.Fatalf("ward admin %s: %v\n%s\nwant %q", strings.Join(s.args, " "), err, out, s.want)
		}
	}
}
