//go:build !ward_omit_admin

package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/nodetest"
)

// TestAuditExportFollowJSONLines: `ward admin audit export --follow`
// writes the audit log as JSON lines and then each new event as it is
// appended, until interrupted; what it wrote passes `ward admin audit
// verify --file` (the chain's hashes came through unchanged); --after
// starts after an event.
func TestAuditExportFollowJSONLines(t *testing.T) {
	c := nodetest.StartCoordinator(t, `{"tagOwners": {"tag:camera": []}}`, nil)
	t.Setenv("WARD_API_KEY", c.APIKey)
	ctx, cancel := context.WithCancel(t.Context())
	var out nodetest.LockedBuffer
	cmd := adminCmd(&adminFlags{})
	cmd.SetArgs([]string{"--coordinator", c.URL(), "audit", "export", "--follow", "--json", "--every", "50ms"})
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	waitOut := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("%s never came out:\n%s", want, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitOut(`{"id":1,`)
	c.AuthKey("tag:camera") // audited as authkey.create, after the export began
	waitOut(`"action":"authkey.create"`)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("export --follow ended with %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], `{"id":1,"time":"`) || !strings.Contains(lines[0], `"prev_hash":"","hash":"`) {
		t.Fatalf("export:\n%s", out.String())
	}
	p := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(p, []byte(out.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if v, err := runAdminAt(t, c, "audit", "verify", "--file", p); err != nil {
		t.Fatalf("verify the followed export: %v\n%s", err, v)
	}
	rest, err := runAdminAt(t, c, "audit", "export", "--after", "1")
	if err != nil || !strings.HasPrefix(rest, `{"id":2,`) || strings.Count(rest, "\n") < len(lines)-1 {
		t.Fatalf("export --after 1: %v\n%s", err, rest)
	}
}
