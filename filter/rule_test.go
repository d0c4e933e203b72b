package filter

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenRules covers every field and form of Rule's JSON: IPv4 and IPv6
// prefixes, one port, a range, all ports, explicit protocols and none.
var goldenRules = []Rule{
	{
		Src: []netip.Prefix{netip.MustParsePrefix("100.64.0.1/32"), netip.MustParsePrefix("fd7a:115c:a1e0::1/128")},
		Dst: []DstNet{
			{Net: netip.MustParsePrefix("100.64.0.2/32"), Ports: []PortRange{{First: 22, Last: 22}, {First: 8000, Last: 8100}}},
			{Net: netip.MustParsePrefix("fd7a:115c:a1e0::2/128"), Ports: []PortRange{{First: 0, Last: 65535}}},
		},
		Protos: []Proto{ProtoTCP, ProtoUDP},
	},
	{
		Src:    []netip.Prefix{netip.MustParsePrefix("100.64.0.0/10")},
		Dst:    []DstNet{{Net: netip.MustParsePrefix("100.64.0.3/32"), Ports: []PortRange{{First: 0, Last: 65535}}}},
		Protos: []Proto{ProtoICMP, ProtoICMPv6, ProtoSCTP, 47},
	},
	{
		Src: []netip.Prefix{netip.MustParsePrefix("100.64.0.4/32")},
		Dst: []DstNet{{Net: netip.MustParsePrefix("100.64.0.5/32"), Ports: []PortRange{{First: 443, Last: 443}}}},
	},
}

// TestRuleJSONGolden pins Rule's JSON, which nodes receive over the wire
// (wire.MapResponse.Filter), to testdata/rules.golden.json, both ways. A
// difference means the wire format changed: that needs a protocol version
// bump (wire.ProtocolVersion) before rerunning with -update.
func TestRuleJSONGolden(t *testing.T) {
	got, err := json.MarshalIndent(goldenRules, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "rules.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("Rule's JSON differs from %s (-want +got): this is the wire format; bump wire.ProtocolVersion, then rerun with -update:\n%s", golden, diff)
	}
	var back []Rule
	dec := json.NewDecoder(bytes.NewReader(want))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Fatalf("decode %s: %v", golden, err)
	}
	if diff := cmp.Diff(goldenRules, back, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("%s decodes differently (-want +got):\n%s", golden, diff)
	}
}

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
