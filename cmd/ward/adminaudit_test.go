//go:build !ward_omit_admin

package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardnet/ward/nodetest"
	"github.com/wardnet/ward/wire"
)

// runVerify runs `ward admin audit verify` with args against c, and
// returns its output and error.
func runVerify(t *testing.T, c *nodetest.Coordinator, args ...string) (string, error) {
	t.Helper()
	return runAdminAt(t, c, append([]string{"audit", "verify"}, args...)...)
}

// TestAuditVerifyExportNamesTheFirstBadEntry: `ward admin audit verify`
// passes the live log and its JSON-lines export, and on an export with one
// line edited or one line removed names the first entry that does not
// fit, also when the verifier pins the coordinator's key.
func TestAuditVerifyExportNamesTheFirstBadEntry(t *testing.T) {
	c := nodetest.StartCoordinator(t, `{"tagOwners": {"tag:camera": []}}`, nil)
	c.AuthKey("tag:camera") // an audited action after the first checkpoint
	out, err := runVerify(t, c)
	if err != nil || !strings.Contains(out, "ok:") {
		t.Fatalf("live: %v\n%s", err, out)
	}
	code, export := c.Admin("GET", wire.PathAdminAuditExport+"?format=jsonl", nil, nil)
	if code != 200 {
		t.Fatalf("export: %d", code)
	}
	lines := strings.Split(strings.TrimSpace(export), "\n")
	if len(lines) < 2 || !strings.Contains(lines[1], `"hash":`) || !strings.Contains(lines[1], `"prev_hash"`) {
		t.Fatalf("export: %s", export)
	}
	var live wire.AuditVerify
	c.Admin("GET", wire.PathAdminAuditVerify, nil, &live)
	write := func(ls []string) string {
		p := filepath.Join(t.TempDir(), "audit.jsonl")
		os.WriteFile(p, []byte(strings.Join(ls, "\n")+"\n"), 0o600)
		return p
	}
	if out, err := runVerify(t, c, "--file", write(lines), "--public-key", live.Key); err != nil {
		t.Fatalf("valid export: %v\n%s", err, out)
	}
	edited := append([]string(nil), lines...)
	edited[1] = strings.Replace(edited[1], `"actor":"`, `"actor":"x`, 1)
	out, err = runVerify(t, c, "--file", write(edited))
	if !errors.Is(err, errAuditBroken) || !strings.Contains(out, "FIRST BAD ENTRY: 2:") {
		t.Errorf("edited line 2: %v\n%s", err, out)
	}
	removed := append(append([]string(nil), lines[:1]...), lines[2:]...)
	if len(lines) > 2 {
		out, err = runVerify(t, c, "--file", write(removed))
		if !errors.Is(err, errAuditBroken) || !strings.Contains(out, "FIRST BAD ENTRY: 3:") {
			t.Errorf("removed line 2: %v\n%s", err, out)
		}
	}
}
