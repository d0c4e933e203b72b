package wire

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/wardnet/ward/filter"
)

// SrcDelta turns the source list a rule of a delta takes from the filter
// the node held (MapResponse.FilterSrcFrom) into its own: Add inserted,
// Del removed (each sorted by filter.ComparePrefix, without repeats, as
// the lists are), giving a list whose filter.SrcSum is Sum (16 hex
// digits). A delta that does not fit the list held (a prefix to remove
// that is not there, one to add that is, another sum) is refused whole,
// and the node asks for a full map (filter.ApplySrcDelta).
type SrcDelta struct {
	// Rule is the index of the rule in MapResponse.Filter.
	Rule int            `json:"rule"`
	Add  []netip.Prefix `json:"add,omitempty"`
	Del  []netip.Prefix `json:"del,omitempty"`
	Sum  string         `json:"sum"`
}

// RulesFrom returns the filter m carries (m.Filter, with m.Full or
// m.FilterChanged), each rule whose sources are by reference
// (m.FilterSrcFrom) given those of the rule of prev (the filter the node
// held until m) it names, changed by its m.FilterSrcDelta. Any reference
// or delta that does not fit prev is an error, and nothing of m should
// then be applied: a node must not run with a filter other than the one
// the coordinator computed (it is the security boundary). The result
// shares no list with m that a later RulesFrom could change, and prev is
// never changed.
func RulesFrom(m MapResponse, prev []filter.Rule) ([]filter.Rule, error) {
	if len(m.FilterSrcFrom) == 0 {
		if len(m.FilterSrcDelta) > 0 {
			return nil, fmt.Errorf("filter_src_delta without filter_src_from")
		}
		return m.Filter, nil
	}
	if m.Full || len(m.FilterSrcFrom) != len(m.Filter) {
		return nil, fmt.Errorf("filter_src_from: %d entries for %d rules (full %v)", len(m.FilterSrcFrom), len(m.Filter), m.Full)
	}
	rules := slices.Clone(m.Filter)
	for i, j := range m.FilterSrcFrom {
		switch {
		case j < 0:
			continue
		case j >= len(prev):
			return nil, fmt.Errorf("filter rule %d: sources of rule %d of %d held", i, j, len(prev))
		case rules[i].Src != nil:
			return nil, fmt.Errorf("filter rule %d: both its own sources and rule %d's", i, j)
		}
		rules[i].Src = prev[j].Src
	}
	last := -1
	for _, d := range m.FilterSrcDelta {
		if d.Rule <= last || d.Rule >= len(rules) {
			return nil, fmt.Errorf("filter_src_delta: rule %d out of order or of %d", d.Rule, len(rules))
		}
		last = d.Rule
		if m.FilterSrcFrom[d.Rule] < 0 {
			return nil, fmt.Errorf("filter rule %d: a source delta without a held list", d.Rule)
		}
		sum, err := strconv.ParseUint(d.Sum, 16, 64)
		if err != nil || len(d.Sum) != 16 {
			return nil, fmt.Errorf("filter rule %d: source delta sum %q", d.Rule, d.Sum)
		}
		src, err := filter.ApplySrcDelta(rules[d.Rule].Src, d.Add, d.Del, sum)
		if err != nil {
			return nil, fmt.Errorf("filter rule %d: sources of rule %d held: %w", d.Rule, m.FilterSrcFrom[d.Rule], err)
		}
		rules[d.Rule].Src = src
	}
	return rules, nil
}

// FormatSrcSum formats a filter.SrcSum as SrcDelta.Sum.
func FormatSrcSum(sum uint64) string { return fmt.Sprintf("%016x", sum) }

// SwapGrants returns the grants peer grants g become under swaps
// (MapResponse.PeersGrantsSwap): the To of the first swap whose From
// equals g, or g. Nil grants (a peer the policy does not know) and a swap
// to nil never match.
func SwapGrants(g []filter.PortGrant, swaps []GrantsSwap) []filter.PortGrant {
	if g == nil {
		return nil
	}
	for _, s := range swaps {
		if s.From != nil && s.To != nil && slices.EqualFunc(g, s.From, func(a, b filter.PortGrant) bool {
			return a.Proto == b.Proto && slices.Equal(a.Ports, b.Ports)
		}) {
			return s.To
		}
	}
	return g
}
