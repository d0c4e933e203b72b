package archtest

import (
	"bytes"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// module is Ward's module path.
const module = "github.com/wardnet/ward"

// pkg is one package of the module as `go list` sees it.
type pkg struct {
	path string // import path without the module prefix ("coordinator/sso"; "" is the root)
	name string // package name
	dir  string
	doc  string   // the package comment's first sentence, from the non-test files
	deps []string // Ward packages it depends on, directly or not (module prefix removed), tests excluded
	// tests are its _test.go files (both packages), for a package of tests only.
	tests []string
}

// listPackages runs `go list` over the module.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to read the import graph: %v", err)
	}
	const sep = "\x1f"
	format := strings.Join([]string{"{{.ImportPath}}", "{{.Name}}", "{{.Dir}}", "{{.Doc}}",
		"{{join .Deps \" \"}}", "{{join .GoFiles \" \"}}", "{{join .TestGoFiles \" \"}} {{join .XTestGoFiles \" \"}}"}, sep)
	cmd := exec.Command(gobin, "list", "-e", "-f", format, module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, sep)
		if len(f) != 7 {
			t.Fatalf("go list: unexpected line %q", line)
		}
		p := pkg{path: rel(f[0]), name: f[1], dir: f[2], doc: f[3]}
		for _, d := range strings.Fields(f[4]) {
			if d == module || strings.HasPrefix(d, module+"/") {
				p.deps = append(p.deps, rel(d))
			}
		}
		if strings.TrimSpace(f[5]) == "" {
			p.tests = strings.Fields(f[6])
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func rel(path string) string {
	return strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
}

// under reports whether path is pattern or, for "x/...", x or below it.
func under(path, pattern string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

func underAny(path string, patterns []string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return under(path, p) })
}

// edges are the import rules: the packages matching pkgs must not depend,
// directly or through others, on a Ward package matching forbid, or, when
// only is set, on any Ward package outside only.
var edges = []struct {
	why    string
	pkgs   []string
	forbid []string
	only   []string
}{
	{why: "the coordinator is a domain service; cmd (package assembly) mounts the UI and the dev IdP on it",
		pkgs: []string{"coordinator/..."}, forbid: []string{"web/...", "devidp/...", "assembly"}},
	{why: "leaves stay leaves (a leaf may share a helper that is a leaf itself)", pkgs: []string{"filter", "netstack"}, only: []string{"internal/copygrow"}},
	{why: "the leaves' shared helpers are leaves", pkgs: []string{"internal/copygrow"}, only: []string{}},
	{why: "a device's node never pulls in a person's client", pkgs: []string{"node/..."}, forbid: []string{"client/..."}},
	{why: "the policy's tests run on the data plane's own matcher", pkgs: []string{"acl"}, only: []string{"filter"}},
	{why: "the wire types are a leaf but for filter's Rule", pkgs: []string{"wire"}, only: []string{"filter"}},
	{why: "a relay (in the coordinator or standalone) knows frames, tokens and keys, not the control plane",
		pkgs: []string{"relay"}, only: []string{"wire", "filter", "ratelimit"}},
	{why: "a standalone relay learns everything from its coordinator's feed, over the wire types",
		pkgs: []string{"relay/relayd"}, only: []string{"relay", "wire", "filter", "ratelimit"}},
	{why: "the shared vocabularies are leaves", pkgs: []string{"admin", "fault", "auditchain", "alert"}, only: []string{}},
	{why: "the admin UI runs over web.Backend, not on the coordinator's insides",
		pkgs: []string{"web/..."}, forbid: []string{"coordinator/...", "assembly"}},
}

// TestImportGraph pins the edges of the import graph (see edges).
func TestImportGraph(t *testing.T) {
	pkgs := listPackages(t)
	for _, e := range edges {
		matched := false
		for _, p := range pkgs {
			if !underAny(p.path, e.pkgs) {
				continue
			}
			matched = true
			for _, d := range p.deps {
				if underAny(d, e.forbid) || (e.only != nil && !underAny(d, e.only)) {
					t.Errorf("%s depends on %s: %s", p.path, d, e.why)
				}
			}
		}
		if !matched {
			t.Errorf("no package matches %v: update the rule (%s)", e.pkgs, e.why)
		}
	}
}

// TestEveryPackageHasDocComment: every package has a package comment that
// starts "Package <name>" ("Command <name>" for a command); a package of
// tests only has it in one of its test files.
func TestEveryPackageHasDocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		doc := p.doc
		if doc == "" && len(p.tests) > 0 {
			doc = testFilesDoc(t, p)
		}
		want := "Package " + p.name + " "
		if p.name == "main" {
			want = "Command " + filepath.Base(p.dir) + " "
		}
		if !strings.HasPrefix(doc, want) {
			t.Errorf("package %s (%s) has no package comment starting %q: got %q", p.path, p.dir, want, doc)
		}
	}
}

// testFilesDoc returns the package comment of p's test files, if any.
func testFilesDoc(t *testing.T, p pkg) string {
	t.Helper()
	fset := token.NewFileSet()
	for _, name := range p.tests {
		f, err := parser.ParseFile(fset, filepath.Join(p.dir, name), nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil {
			return f.Doc.Text()
		}
	}
	return ""
}
