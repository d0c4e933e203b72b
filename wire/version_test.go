package wire

import (
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSupports(t *testing.T) {
	tests := []struct {
		peer int
		f    Feature
		want bool
	}{
		{0, FeatureServerClock, false},
		{1, FeatureServerClock, false},
		{2, FeatureServerClock, true},
		{2, FeatureCoordinatorVersion, false},
		{3, FeatureCoordinatorVersion, true},
		{ProtocolVersion + 1, FeatureCoordinatorVersion, true},
		{-1, FeatureLoginCode, false},
	}
	for _, tt := range tests {
		if got := Supports(tt.peer, tt.f); got != tt.want {
			t.Errorf("Supports(%d, %d) = %v, want %v", tt.peer, tt.f, got, tt.want)
		}
	}
}

func TestCheckNodeVersion(t *testing.T) {
	tests := []struct {
		v    int
		want string // "" means accepted
	}{
		{MinProtocolVersion - 1, "node speaks protocol 0, coordinator needs >= 1"},
		{-7, "node speaks protocol -7, coordinator needs >= 1"},
		{MinProtocolVersion, ""},
		{ProtocolVersion, ""},
		{ProtocolVersion + 1, ""},
	}
	for _, tt := range tests {
		err := CheckNodeVersion(tt.v)
		if tt.want == "" {
			if err != nil {
				t.Errorf("CheckNodeVersion(%d) = %v, want nil", tt.v, err)
			}
			continue
		}
		if !errors.Is(err, ErrProtocolTooOld) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("CheckNodeVersion(%d) = %v, want ErrProtocolTooOld saying %q", tt.v, err, tt.want)
		}
	}
}

// TestCoordinatorVersion reads the coordinator's version from session
// answers of every version, as they arrive on the wire.
func TestCoordinatorVersion(t *testing.T) {
	tests := []struct {
		name, answer string
		want         int
	}{
		{"version 1", `{"token":"t","expires":"2026-12-06T10:00:00Z","registered":true}`, 1},
		{"version 2", `{"token":"t","expires":"2026-12-06T10:00:00Z","server_time":"2026-12-06T09:00:00Z"}`, 2},
		{"version 3", `{"token":"t","expires":"2026-12-06T10:00:00Z","server_time":"2026-12-06T09:00:00Z","protocol_version":3}`, 3},
		{"a newer one", `{"token":"t","server_time":"2026-12-06T09:00:00Z","protocol_version":9,"unknown_later_field":1}`, 9},
		{"a nonsense version", `{"token":"t","server_time":"2026-12-06T09:00:00Z","protocol_version":-4}`, 2},
	}
	for _, tt := range tests {
		var r SessionResponse
		if err := json.Unmarshal([]byte(tt.answer), &r); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := r.CoordinatorVersion(); got != tt.want {
			t.Errorf("%s: CoordinatorVersion() = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// historyLine is one version's line in ProtocolVersion's doc comment.
var historyLine = regexp.MustCompile(`^ {2}- (\d+) \((\d{4}-\d{2}-\d{2})[,)]`)

// TestProtocolHistoryCoversEveryVersion keeps the history next to
// ProtocolVersion whole: one dated line for every version from 1 to
// ProtocolVersion, in order, dates never going back; and a Feature for
// the newest version, none beyond it (a bump without a Feature, or a
// Feature without a bump, fails here).
func TestProtocolHistoryCoversEveryVersion(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "version.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var doc string
	newest := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if vs.Names[0].Name == "ProtocolVersion" {
				doc = g.Doc.Text()
			}
			if id, ok := vs.Type.(*ast.Ident); ok && id.Name == "Feature" {
				newest = max(newest, featureValue(t, vs))
			}
		}
	}
	var last time.Time
	v := 0
	for _, line := range strings.Split(doc, "\n") {
		m := historyLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v++
		day, err := time.Parse(time.DateOnly, m[2])
		if m[1] != strconv.Itoa(v) || err != nil || day.Before(last) {
			t.Errorf("history line %q: want version %d, dated no earlier than %s", line, v, last.Format(time.DateOnly))
		}
		last = day
	}
	if v != ProtocolVersion {
		t.Errorf("the history next to ProtocolVersion lists %d versions, want one line for each of 1..%d", v, ProtocolVersion)
	}
	if newest != ProtocolVersion {
		t.Errorf("the newest Feature is of version %d, want ProtocolVersion (%d)", newest, ProtocolVersion)
	}
}

// featureValue is the version a Feature constant's literal value names.
func featureValue(t *testing.T, vs *ast.ValueSpec) int {
	t.Helper()
	lit, ok := vs.Values[0].(*ast.BasicLit)
	if !ok {
		t.Fatalf("Feature %s: want a literal version number", vs.Names[0].Name)
	}
	n, err := strconv.Atoi(lit.Value)
	if err != nil {
		t.Fatalf("Feature %s: %v", vs.Names[0].Name, err)
	}
	return n
}
