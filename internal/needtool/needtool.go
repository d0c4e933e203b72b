// Package needtool decides what a test does when an external program it
// needs (Chromium, nft) is missing: skip, saying why, on a developer's
// machine; fail under CI, so that a CI run whose install failed cannot pass
// without those tests.
package needtool

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Executable skips t, or under CI (ci, the CI environment variable's
// value, parses as true) fails it, when path is not an executable file.
// what names the tests and the program, e.g. "browser tests need Debian's
// chromium".
func Executable(t testing.TB, path, ci, what string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err == nil && fi.Mode()&0o111 == 0 {
		err = fmt.Errorf("%s is not executable", path)
	}
	if err == nil {
		return
	}
	Missing(t, ci, fmt.Sprintf("%s at %s (make test installs it): %v", what, path, err))
}

// Missing skips t with msg, or under CI (ci parses as true) fails it: for
// a test whose outside part (a program, a server) is not there.
func Missing(t testing.TB, ci, msg string) {
	t.Helper()
	if mustRun(ci) {
		t.Fatalf("%s; CI=%s forbids skipping them", msg, ci)
	} else {
		t.Skip(msg)
	}
}

// mustRun tells whether the value of the CI environment variable forbids
// skipping: any value strconv.ParseBool reads as true.
func mustRun(ci string) bool {
	on, err := strconv.ParseBool(strings.TrimSpace(ci))
	return err == nil && on
}
