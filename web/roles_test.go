package web

import (
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
)

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{Roles: map[string]admin.Role{"idp:ops": "superuser"}}, "unknown role"},
		{Config{Roles: map[string]admin.Role{"idp:ops": admin.RoleNone}}, "unknown role"},
		{Config{Roles: map[string]admin.Role{"idp: ": admin.RoleAdmin}}, "empty group"},
		{Config{Roles: map[string]admin.Role{"ops": admin.RoleAdmin}}, "want idp:GROUP"},
		{Config{SessionTTL: time.Second}, "session TTL"},
		{Config{SessionTTL: 30 * 24 * time.Hour}, "session TTL"},
	} {
		s, err := c.cfg.validate()
		if c.want == "" {
			if err != nil || s.ttl != DefaultSessionTTL || s.log == nil || s.now == nil {
				t.Errorf("validate(%+v) = %+v, %v", c.cfg, s, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("validate(%+v) error = %v, want %q", c.cfg, err, c.want)
		}
	}
	if _, err := New(Config{}, nil, nil); err == nil {
		t.Error("New with a nil Backend succeeded")
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                    "/ui/devices",
		"/ui/policy":          "/ui/policy",
		"/ui/audit?actor=x":   "/ui/audit?actor=x",
		"https://evil/ui/":    "/ui/devices",
		"//evil/ui/":          "/ui/devices",
		"/ui/\\evil":          "/ui/devices",
		"/ui/login?next=/ui/": "/ui/devices",
		"/ward/v1/admin/":     "/ui/devices",
		"/ui/audit?actor=" + strings.Repeat("x", maxNext): "/ui/devices", // would not fit the login cookie
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDiffLines(t *testing.T) {
	render := func(ds []diffLine) string {
		var b strings.Builder
		for _, d := range ds {
			b.WriteString(d.Op + d.Text + "\n")
		}
		return b.String()
	}
	for _, c := range []struct{ a, b, want string }{
		{"", "", ""},
		{"a\nb\n", "a\nb\n", " a\n b\n"},
		{"a\nb\nc\n", "a\nB\nc\n", " a\n-b\n+B\n c\n"},
		{"", "x\n", "+x\n"},
		{"x\ny\n", "", "-x\n-y\n"},
		{"a\nb\nc\nd\n", "a\nc\nd\ne\n", " a\n-b\n c\n d\n+e\n"},
	} {
		if got := render(diffLines(c.a, c.b)); got != c.want {
			t.Errorf("diff(%q, %q) =\n%s\nwant\n%s", c.a, c.b, got, c.want)
		}
	}
}

func TestCSVSafe(t *testing.T) {
	for in, want := range map[string]string{"=cmd()": "'=cmd()", "+1": "'+1", "@x": "'@x", "user:a": "user:a", "": ""} {
		if got := csvSafe(in); got != want {
			t.Errorf("csvSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
