package acl

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wardnet/ward/filter"
)

// testCase is a resolved entry of "tests".
type testCase struct {
	pos    Pos
	src    alias
	protos []filter.Proto
	accept []testDst
	deny   []testDst
	// approved judges the test with the approval grants approved.
	approved bool
}

// testDst is one "alias:port" of a test's accept or deny list.
type testDst struct {
	text  Str
	alias alias
	port  uint16
}

func (r *resolver) tests(ts []Test) {
	for _, t := range ts {
		tc := testCase{pos: t.Pos, approved: t.Approved}
		ok := true
		a, err := r.sc.parseAlias(t.Src.S, false)
		if err != nil {
			// A missing src (zero position) was reported by Parse.
			if t.Src.Pos != (Pos{}) {
				r.rep.errorf(t.Src.Pos, "test src %v", err)
			}
			ok = false
		}
		tc.src = a
		if tc.protos, err = parseProto(t.Proto.S); err != nil {
			r.rep.errorf(t.Proto.Pos, "test %v", err)
			ok = false
		}
		if tc.protos == nil {
			tc.protos = []filter.Proto{filter.ProtoTCP}
		}
		tc.accept, ok = r.testDsts(t.Accept, ok)
		tc.deny, ok = r.testDsts(t.Deny, ok)
		if ok && len(tc.accept)+len(tc.deny) == 0 {
			// Parse reported a test with neither key.
			if t.HasAccept || t.HasDeny {
				r.rep.errorf(t.Pos, "test lists no destination to accept or deny")
			}
			ok = false
		}
		if ok {
			r.rs.tests = append(r.rs.tests, tc)
		}
	}
}

func (r *resolver) testDsts(list []Str, ok bool) ([]testDst, bool) {
	var out []testDst
	for _, d := range list {
		td, err := r.testDst(d)
		if err == nil {
			err = r.oneHost(td.alias)
		}
		if err != nil {
			r.rep.errorf(d.Pos, "test destination %q: %v", d.S, err)
			ok = false
			continue
		}
		out = append(out, td)
	}
	return out, ok
}

func (r *resolver) testDst(d Str) (testDst, error) {
	host, port, err := splitHostPort(d.S)
	if err != nil {
		return testDst{}, err
	}
	a, err := r.sc.parseAlias(host, true)
	if err != nil {
		return testDst{}, err
	}
	if a.kind == kindInternet {
		return testDst{}, fmt.Errorf("autogroup:internet cannot be tested: Ward has no exit nodes")
	}
	if strings.ContainsAny(port, "*,-") {
		return testDst{}, fmt.Errorf("a test names exactly one port, not %q", port)
	}
	n, err := parsePort(port)
	if err != nil {
		return testDst{}, err
	}
	return testDst{text: d, alias: a, port: n}, nil
}

// oneHost refuses a test destination that names a CIDR, directly (even a
// /32) or through a hosts name defined as one: as in Tailscale, a test's
// destination is one host and one port.
func (r *resolver) oneHost(a alias) error {
	if a.kind != kindPrefix {
		return nil
	}
	if strings.Contains(a.text, "/") {
		return fmt.Errorf("a test names one host and one port, not the CIDR %s: name one address", a.text)
	}
	if r.sc.cidrHosts[a.text] {
		return fmt.Errorf("a test names one host and one port, but hosts name %s is the CIDR %s: name one address", a.text, a.prefix)
	}
	return nil
}

// withApprovals returns a copy of rs in which every approval grant is
// also an accept rule, as if each request it allows had been approved:
// the world a test with "approved": true is judged in. rs is unchanged.
func (rs *Ruleset) withApprovals() *Ruleset {
	cp := *rs
	cp.rules = append(slices.Clone(rs.rules), rs.requestable...)
	return &cp
}
