package coordinator

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// secretName matches the names of values that prove who a caller is: a
// cookie's value, nonces, CSRF tokens, tokens, secrets, PKCE verifiers.
var secretName = regexp.MustCompile(`(?i)nonce|csrf|token|secret|verifier|^state$`)

// TestCookieSecretsComparedInConstantTime pins "the login nonce cookie is
// compared with !=": in the coordinator, its OIDC relying party and the
// admin UI, no cookie value, nonce, state, CSRF token or secret is compared
// with == or != (which returns at the first differing byte) against
// anything but a literal; crypto/subtle does it in constant time.
func TestCookieSecretsComparedInConstantTime(t *testing.T) {
	var files []string
	for _, dir := range []string{".", "sso", "../web"} {
		m, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			if !strings.HasSuffix(f, "_test.go") {
				files = append(files, f)
			}
		}
	}
	if len(files) < 20 {
		t.Fatalf("found only %d source files: %v", len(files), files)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			b, ok := n.(*ast.BinaryExpr)
			if !ok || (b.Op != token.EQL && b.Op != token.NEQ) || isLiteral(b.X) || isLiteral(b.Y) {
				return true
			}
			if looksSecret(b.X) || looksSecret(b.Y) {
				t.Errorf("%s: a secret compared with %s; use crypto/subtle.ConstantTimeCompare", fset.Position(b.Pos()), b.Op)
			}
			return true
		})
	}
}

// isLiteral reports whether e is a basic literal or nil.
func isLiteral(e ast.Expr) bool {
	switch e := ast.Unparen(e).(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return e.Name == "nil"
	}
	return false
}

// looksSecret reports whether e names a cookie's value (x.Value) or a
// value whose name says it is a secret.
func looksSecret(e ast.Expr) bool {
	switch e := ast.Unparen(e).(type) {
	case *ast.SelectorExpr:
		return e.Sel.Name == "Value" || secretName.MatchString(e.Sel.Name)
	case *ast.Ident:
		return secretName.MatchString(e.Name)
	case *ast.CallExpr: // r.FormValue("csrf"), c.Cookie(...)
		if s, ok := e.Fun.(*ast.SelectorExpr); ok && strings.HasSuffix(s.Sel.Name, "Value") && len(e.Args) == 1 {
			return true
		}
	}
	return false
}
