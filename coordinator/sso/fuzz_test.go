package sso

import (
	"encoding/json"
	"slices"
	"testing"
)

// FuzzParseGroups checks that no groups claim from an IdP makes
// parseGroups panic, and that it returns sorted, unique, non-empty groups.
func FuzzParseGroups(f *testing.F) {
	for _, s := range []string{`["a","b"]`, `"a"`, `null`, `[1]`, `{}`, `["", "a", "a"]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		groups, err := parseGroups("groups", json.RawMessage(raw))
		if err != nil {
			return
		}
		if !slices.IsSorted(groups) || len(slices.Compact(slices.Clone(groups))) != len(groups) || slices.Contains(groups, "") {
			t.Fatalf("parseGroups(%q) = %q", raw, groups)
		}
	})
}
