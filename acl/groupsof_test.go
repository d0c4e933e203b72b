package acl

import (
	"slices"
	"testing"
)

// TestPolicyGroupsOf: a policy's groups that list an email, in file
// order, matched exactly.
func TestPolicyGroupsOf(t *testing.T) {
	p, err := Parse("policy", []byte(`{
		"groups": {
			"group:ops": ["alice@example.com", "bob@example.com"],
			"group:eng": ["bob@example.com"],
			"group:audit": ["Alice@example.com", "alice@example.com"],
		},
	}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		email string
		want  []string
	}{
		{"alice@example.com", []string{"group:ops", "group:audit"}},
		{"bob@example.com", []string{"group:ops", "group:eng"}},
		{"carol@example.com", nil},
		{"", nil},
	}
	for _, tt := range tests {
		if got := p.GroupsOf(tt.email); !slices.Equal(got, tt.want) {
			t.Errorf("GroupsOf(%q) = %v, want %v", tt.email, got, tt.want)
		}
	}
	if got := (*Policy)(nil).GroupsOf("alice@example.com"); got != nil {
		t.Errorf("nil policy: %v", got)
	}
}
