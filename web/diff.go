package web

import "strings"

// maxDiffCells bounds the LCS table of diffLines; past it the changed
// middle is shown as all removed then all added.
const maxDiffCells = 4 << 20

// diffLine is one line of a line diff: Op is ' ' (same), '-' or '+'.
type diffLine struct {
	Op   string
	Text string
	// Old and New are 1-based line numbers; 0 where the line is absent.
	Old, New int
}

// diffLines returns the line diff from a to b: common prefix and suffix
// kept, the middle by longest common subsequence.
func diffLines(a, b string) []diffLine {
	x, y := splitLines(a), splitLines(b)
	pre := 0
	for pre < len(x) && pre < len(y) && x[pre] == y[pre] {
		pre++
	}
	suf := 0
	for suf < len(x)-pre && suf < len(y)-pre && x[len(x)-1-suf] == y[len(y)-1-suf] {
		suf++
	}
	var out []diffLine
	for i := 0; i < pre; i++ {
		out = append(out, diffLine{Op: " ", Text: x[i], Old: i + 1, New: i + 1})
	}
	out = append(out, diffMiddle(x[pre:len(x)-suf], y[pre:len(y)-suf], pre)...)
	for i := 0; i < suf; i++ {
		xi, yi := len(x)-suf+i, len(y)-suf+i
		out = append(out, diffLine{Op: " ", Text: x[xi], Old: xi + 1, New: yi + 1})
	}
	return out
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// diffMiddle diffs x and y, whose first lines are line off+1 of each text.
func diffMiddle(x, y []string, off int) []diffLine {
	var out []diffLine
	if len(x)*len(y) > maxDiffCells {
		for i, s := range x {
			out = append(out, diffLine{Op: "-", Text: s, Old: off + i + 1})
		}
		for j, s := range y {
			out = append(out, diffLine{Op: "+", Text: s, New: off + j + 1})
		}
		return out
	}
	// lcs[i][j] is the LCS length of x[i:] and y[j:].
	lcs := make([][]int32, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			out = append(out, diffLine{Op: " ", Text: x[i], Old: off + i + 1, New: off + j + 1})
			i, j = i+1, j+1
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			out = append(out, diffLine{Op: "-", Text: x[i], Old: off + i + 1})
			i++
		default:
			out = append(out, diffLine{Op: "+", Text: y[j], New: off + j + 1})
			j++
		}
	}
	return out
}
