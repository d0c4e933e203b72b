package acl

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrTestsFailed is wrapped by the error Check returns when the policy is
// well formed but one of its tests fails.
var ErrTestsFailed = errors.New("policy tests failed")

// ErrUnknownRiskClass is a risk class the policy does not define.
var ErrUnknownRiskClass = errors.New("unknown risk class")

// Pos is a position in the policy file (1-based line and column, counted in
// bytes).
type Pos struct {
	Line int `json:"line"`
	Col  int `json:"col"`
}

// String formats p as "line:col".
func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Problem is one error found in a policy, at a position.
type Problem struct {
	File string `json:"file"`
	Pos  Pos    `json:"pos"`
	Msg  string `json:"message"`
}

// String formats the problem as FILE:line:col: message.
func (p Problem) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Pos.Line, p.Pos.Col, p.Msg)
}

// ErrorList is every problem found in a policy, in file order. It is returned
// as an error by Parse and Check; a policy with any problem is rejected whole.
type ErrorList []Problem

// Error prints one problem per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, p := range l {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (l ErrorList) sorted() ErrorList {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Pos.Line != l[j].Pos.Line {
			return l[i].Pos.Line < l[j].Pos.Line
		}
		return l[i].Pos.Col < l[j].Pos.Col
	})
	return l
}

// Problems returns the problems in err when it is (or wraps) an ErrorList,
// else nil.
func Problems(err error) ErrorList {
	var l ErrorList
	if errors.As(err, &l) {
		return l
	}
	return nil
}

// reporter collects problems for one file.
type reporter struct {
	file  string
	lines []int // byte offset of the start of each line
	errs  ErrorList
}

func newReporter(file string, src []byte) *reporter {
	r := &reporter{file: file, lines: []int{0}}
	for i, b := range src {
		if b == '\n' {
			r.lines = append(r.lines, i+1)
		}
	}
	return r
}

// pos converts a byte offset into a line:col position.
func (r *reporter) pos(off int) Pos {
	i := sort.Search(len(r.lines), func(i int) bool { return r.lines[i] > off }) - 1
	if i < 0 {
		i = 0
	}
	return Pos{Line: i + 1, Col: off - r.lines[i] + 1}
}

func (r *reporter) errorf(p Pos, format string, args ...any) {
	r.errs = append(r.errs, Problem{File: r.file, Pos: p, Msg: fmt.Sprintf(format, args...)})
}

func (r *reporter) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return r.errs.sorted()
}
