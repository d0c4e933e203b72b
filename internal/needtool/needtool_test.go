package needtool

import (
	"os"
	"path/filepath"
	"testing"
)

// verdictTB records whether a test was failed or skipped instead of ending
// it, so Executable's decision can be observed.
type verdictTB struct {
	testing.TB
	failed, skipped bool
}

func (v *verdictTB) Helper()               { v.TB.Helper() }
func (v *verdictTB) Fatalf(string, ...any) { v.failed = true }
func (v *verdictTB) Skip(...any)           { v.skipped = true }

// TestToolSkipFailsUnderCI: a missing program (here Chromium) skips the tests
// on a developer's machine but fails them when CI=true, so a CI run whose
// apt install failed cannot pass without them.
func TestToolSkipFailsUnderCI(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "chromium")
	if err := os.WriteFile(present, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	notExec := filepath.Join(dir, "chromium-noexec")
	if err := os.WriteFile(notExec, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "absent")
	for _, c := range []struct {
		path, ci              string
		wantFail, wantSkipped bool
	}{
		{present, "true", false, false},
		{present, "", false, false},
		{missing, "", false, true},
		{missing, "false", false, true},
		{missing, "yes", false, true}, // not a boolean: not CI
		{missing, "true", true, false},
		{missing, "TRUE", true, false},
		{missing, "1", true, false},
		{notExec, "", false, true},
		{notExec, "true", true, false},
	} {
		v := &verdictTB{TB: t}
		Executable(v, c.path, c.ci, "browser tests need chromium")
		if v.failed != c.wantFail || v.skipped != c.wantSkipped {
			t.Errorf("%s with CI=%q: failed %v skipped %v, want failed %v skipped %v",
				filepath.Base(c.path), c.ci, v.failed, v.skipped, c.wantFail, c.wantSkipped)
		}
	}
}
