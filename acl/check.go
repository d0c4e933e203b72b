package acl

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/wardnet/ward/filter"
)

// TestResult is the outcome of one destination of one policy test.
type TestResult struct {
	// Pos is the position of the destination in the file.
	Pos  Pos    `json:"pos"`
	Src  string `json:"src"`
	Dst  string `json:"dst"`
	Want string `json:"want"` // "accept" or "deny"
	Got  string `json:"got"`
	// Rule is the position of the rule that allowed the flow, if any.
	Rule *Pos `json:"rule,omitempty"`
	// DeniedBy is the position of the deny rule that refused the flow (or
	// part of it), if any.
	DeniedBy *Pos `json:"denied_by,omitempty"`
	Passed   bool `json:"passed"`
}

// Message describes a failed result for an admin.
func (t TestResult) Message() string {
	if t.Passed {
		return fmt.Sprintf("test passed: %s -> %s is %s", t.Src, t.Dst, t.Got)
	}
	msg := fmt.Sprintf("test failed: %s -> %s: expected %s, got %s", t.Src, t.Dst, t.Want, t.Got)
	switch {
	case t.Rule != nil:
		msg += fmt.Sprintf(" (allowed by the rule at %s)", t.Rule)
	case t.DeniedBy != nil:
		msg += fmt.Sprintf(" (refused by the deny rule at %s)", t.DeniedBy)
	}
	return msg
}

type query struct {
	tc   *testCase
	dst  testDst
	want bool
	src  []endpoint
	dsts [][]endpoint // per source
	err  error
}

// RunTests judges every policy test and returns one result per destination,
// in file order.
// A test with "approved": true is judged in a world of its own, where the
// approval grants are approved (Ruleset.withApprovals).
func (rs *Ruleset) RunTests() []TestResult {
	worlds := [2]*world{newWorld(rs)} // [1]: approved, made when a test needs it
	var qs []*query
	var in []*world
	for i := range rs.tests {
		tc := &rs.tests[i]
		k := 0
		if tc.approved {
			k = 1
			if worlds[1] == nil {
				worlds[1] = newWorld(rs.withApprovals())
			}
		}
		for _, d := range tc.accept {
			qs, in = append(qs, worlds[k].prepare(tc, d, true)), append(in, worlds[k])
		}
		for _, d := range tc.deny {
			qs, in = append(qs, worlds[k].prepare(tc, d, false)), append(in, worlds[k])
		}
	}
	for _, w := range worlds {
		if w == nil {
			continue
		}
		if err := w.compile(); err != nil {
			return []TestResult{{Got: err.Error()}}
		}
	}
	out := make([]TestResult, 0, len(qs))
	for i, q := range qs {
		out = append(out, in[i].run(q))
	}
	return out
}

func (w *world) prepare(tc *testCase, d testDst, want bool) *query {
	q := &query{tc: tc, dst: d, want: want, src: w.sources(tc.src)}
	for _, s := range q.src {
		ts, err := w.targets(d.alias, s)
		if err != nil {
			q.err = err
		}
		q.dsts = append(q.dsts, ts)
	}
	return q
}

func (w *world) run(q *query) TestResult {
	res := TestResult{Pos: q.dst.text.Pos, Src: q.tc.src.text, Dst: q.dst.text.S, Want: word(q.want)}
	if q.err != nil {
		res.Got = q.err.Error()
		return res
	}
	allowedAll, allowedAny := len(q.src) > 0, false
	for i, s := range q.src {
		if len(q.dsts[i]) == 0 {
			allowedAll = false
		}
		for _, d := range q.dsts[i] {
			v6 := d.dst.IsValid() && d.dst.Addr().Is6() || !d.dst.IsValid() && !s.v4.IsValid()
			for _, p := range protosFor(q.tc.protos, v6) {
				v := w.judge(s, d, p, q.dst.port)
				allowedAll = allowedAll && v.allow
				if v.deny && res.DeniedBy == nil {
					res.DeniedBy = v.rule
				}
				if v.allow {
					allowedAny = true
					if res.Rule == nil {
						res.Rule = v.rule
					}
				}
			}
		}
	}
	if q.want {
		res.Passed, res.Got = allowedAll, word(allowedAll)
	} else {
		res.Passed, res.Got = !allowedAny, word(allowedAny)
	}
	if !allowedAny {
		res.Rule = nil
	}
	return res
}

func word(allow bool) string {
	if allow {
		return "accept"
	}
	return "deny"
}

// Check parses and validates a policy and runs its tests. It returns the
// ruleset and the test results when the policy is valid and every test
// passes; otherwise an ErrorList with every problem (test failures included,
// each at its destination's position). When only tests failed, the error
// also wraps ErrTestsFailed.
func Check(file string, src []byte, opts Options) (*Ruleset, []TestResult, error) {
	p, perr := Parse(file, src)
	if p == nil {
		return nil, nil, perr
	}
	rs, err := Resolve(p, opts)
	if perr != nil || err != nil {
		// Report shape and meaning problems together, once each.
		all := append(Problems(perr), Problems(err)...)
		slices.SortStableFunc(all, func(a, b Problem) int { return cmp.Or(a.Pos.Line-b.Pos.Line, a.Pos.Col-b.Pos.Col) })
		return nil, nil, slices.Compact(all)
	}
	results := rs.RunTests()
	var errs ErrorList
	for _, r := range results {
		if !r.Passed {
			errs = append(errs, Problem{File: file, Pos: r.Pos, Msg: r.Message()})
		}
	}
	if len(errs) > 0 {
		return nil, results, testsFailed{errs.sorted()}
	}
	return rs, results, nil
}

// testsFailed is an ErrorList that also matches ErrTestsFailed.
type testsFailed struct{ ErrorList }

func (e testsFailed) Unwrap() []error { return []error{e.ErrorList, ErrTestsFailed} }

// Decision is the answer of Explain.
type Decision struct {
	Allow bool `json:"allow"`
	// Rule is the position of the deciding rule: the accept rule that
	// allowed the flow, or the deny rule that refused it (Deny is then
	// set); nil when refused by default (no rule decided).
	Rule *Pos `json:"rule,omitempty"`
	// Deny is set when a deny rule refused the flow.
	Deny   bool   `json:"deny,omitempty"`
	Reason string `json:"reason"`
}

// Explain says whether identity src (a user, group:, tag:, host, IP,
// autogroup:member or autogroup:tagged) may reach dst ("alias:port") over
// proto ("" = tcp), and which rule decides. An unknown identity or a bad
// destination is an error.
func (rs *Ruleset) Explain(src, dst, proto string) (Decision, error) {
	sc := scope{groups: map[string]bool{}, tags: rs.tags, hosts: rs.hosts, risks: map[string]bool{}}
	for g := range rs.groups {
		sc.groups[g] = true
	}
	for _, rc := range rs.risks {
		sc.risks[rc.Name] = true
	}
	a, err := sc.parseAlias(src, false)
	if err != nil {
		return Decision{}, fmt.Errorf("explain: unknown identity: %v", err)
	}
	protos, err := parseProto(proto)
	if err != nil {
		return Decision{}, fmt.Errorf("explain: %v", err)
	}
	if protos == nil {
		protos = []filter.Proto{filter.ProtoTCP}
	}
	r := &resolver{rs: rs, sc: sc, rep: newReporter("", nil)}
	d, err := r.testDst(Str{S: dst})
	if err != nil {
		return Decision{}, fmt.Errorf("explain: destination %q: %v", dst, err)
	}
	w := newWorld(rs)
	tc := &testCase{src: a, protos: protos}
	q := w.prepare(tc, d, true)
	if err := w.compile(); err != nil {
		return Decision{}, err
	}
	res := w.run(q)
	if q.err != nil {
		return Decision{}, fmt.Errorf("explain: %v", q.err)
	}
	out := Decision{Allow: res.Passed, Rule: res.Rule}
	switch {
	case res.Passed:
		out.Reason = fmt.Sprintf("allowed by the rule at %s", res.Rule)
	case res.DeniedBy != nil:
		out.Rule, out.Deny = res.DeniedBy, true
		out.Reason = fmt.Sprintf("denied by the deny rule at %s", res.DeniedBy)
	case res.Rule != nil:
		out.Reason = fmt.Sprintf("only partly allowed (the rule at %s covers part of %s)", res.Rule, dst)
	default:
		out.Reason = fmt.Sprintf("denied: no rule grants %s access to %s over %s (default deny)", src, dst, strings.Join(protoWords(protos), "/"))
	}
	return out, nil
}

func protoWords(ps []filter.Proto) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprint(uint8(p))
		for name, nums := range protoNames {
			if len(nums) == 1 && nums[0] == p && !strings.Contains(name, "-") && name != "icmpv6" && name != "ipv4" {
				out[i] = name
			}
		}
	}
	return out
}
