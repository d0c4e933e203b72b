package filter

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDefaultProtosAreFreshCopies: a caller that edits the protocols of a
// rule that names none (sorts them in place, overwrites one) changes its
// own copy only, never the defaults of every other rule.
func TestDefaultProtosAreFreshCopies(t *testing.T) {
	want := []Proto{ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6}
	tests := []struct {
		name string
		edit func([]Proto)
	}{
		{"overwrite", func(p []Proto) { p[0] = 99 }},
		{"sort in place", func(p []Proto) { slices.Sort(p) }},
		{"append into spare room", func(p []Proto) { _ = append(p[:1], 99) }},
	}
	for _, tt := range tests {
		tt.edit(Rule{}.EffectiveProtos())
		tt.edit(DefaultProtos())
		if got := (Rule{}).EffectiveProtos(); !cmp.Equal(got, want) {
			t.Errorf("%s: EffectiveProtos of a rule naming none = %v, want %v", tt.name, got, want)
		}
	}
	if got := AllPorts(); got != (PortRange{First: 0, Last: 65535}) {
		t.Errorf("AllPorts() = %v", got)
	}
}
