package desktop

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"
)

// env returns a getenv over vars.
func env(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

func TestStateDirPerOS(t *testing.T) {
	tests := []struct {
		name string
		e    Env
		want string
	}{
		{"linux user", Env{GOOS: "linux", UID: 1000, Home: "/home/ann"}, "/home/ann/.local/state/ward"},
		{"linux user: XDG_STATE_HOME is not followed", Env{GOOS: "linux", UID: 1000, Home: "/home/ann", Getenv: env(map[string]string{"XDG_STATE_HOME": "/srv/state"})}, "/home/ann/.local/state/ward"},
		{"linux root", Env{GOOS: "linux", UID: 0, Home: "/root"}, "/var/lib/ward"},
		{"linux without home", Env{GOOS: "linux", UID: 1000}, "ward-state"},
		{"freebsd as linux", Env{GOOS: "freebsd", UID: 1000, Home: "/home/ann"}, "/home/ann/.local/state/ward"},
		{"macos user", Env{GOOS: "darwin", UID: 501, Home: "/Users/ann"}, "/Users/ann/Library/Application Support/Ward"},
		{"macos root", Env{GOOS: "darwin", UID: 0, Home: "/var/root"}, "/Library/Application Support/Ward"},
		{"windows", Env{GOOS: "windows", UID: -1, Home: `C:\Users\ann`, Getenv: env(map[string]string{"LOCALAPPDATA": `C:\Users\ann\AppData\Local`})}, `C:\Users\ann\AppData\Local\Ward`},
		{"windows without LOCALAPPDATA", Env{GOOS: "windows", UID: -1, Home: `C:\Users\ann`}, `C:\Users\ann\AppData\Local\Ward`},
		{"windows uid 0 is no root", Env{GOOS: "windows", UID: 0, Home: `C:\Users\ann`}, `C:\Users\ann\AppData\Local\Ward`},
	}
	for _, tt := range tests {
		if got := tt.e.StateDir(); got != tt.want {
			t.Errorf("%s: StateDir() = %q, want %q", tt.name, got, tt.want)
		}
	}
	for goos, want := range map[string]string{"linux": "/var/lib/ward", "darwin": "/Library/Application Support/Ward", "windows": ""} {
		if got := (Env{GOOS: goos, UID: 1000, Home: "/h"}).RootStateDir(); got != want {
			t.Errorf("%s: RootStateDir() = %q, want %q", goos, got, want)
		}
	}
}

func TestOpenCommandPerOS(t *testing.T) {
	const u = "https://ward.example/login?id=a&b=c"
	tests := []struct {
		goos string
		want []string
	}{
		{"darwin", []string{"open", u}},
		{"windows", []string{"rundll32", "url.dll,FileProtocolHandler", u}},
		{"linux", []string{"xdg-open", u}},
		{"openbsd", []string{"xdg-open", u}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Env{GOOS: tt.goos}.OpenCommand(u)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.goos, diff)
		}
	}
	canOpen := []struct {
		e    Env
		want bool
	}{
		{Env{GOOS: "darwin"}, true},
		{Env{GOOS: "windows"}, true},
		{Env{GOOS: "linux"}, false},
		{Env{GOOS: "linux", Getenv: env(map[string]string{"DISPLAY": ":0"})}, true},
		{Env{GOOS: "linux", Getenv: env(map[string]string{"WAYLAND_DISPLAY": "wayland-0"})}, true},
	}
	for _, tt := range canOpen {
		if got := tt.e.CanOpen(); got != tt.want {
			t.Errorf("CanOpen(%+v) = %v", tt.e, got)
		}
	}
}

// TestKeyExpiryNotificationPerOS pins the notification command of each
// system, with a title and body that would break naive quoting.
func TestKeyExpiryNotificationPerOS(t *testing.T) {
	const title, body = `Ward: "laptop"`, `key expires in 10 minutes, log in again: it's \ward login`
	tests := []struct {
		goos string
		want []string
	}{
		{"darwin", []string{"osascript", "-e", `display notification "key expires in 10 minutes, log in again: it's \\ward login" with title "Ward: \"laptop\""`}},
		{"linux", []string{"notify-send", "--app-name=Ward", title, body}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Env{GOOS: tt.goos}.NotifyCommand(title, body)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.goos, diff)
		}
	}
	win := Env{GOOS: "windows"}.NotifyCommand(title, body)
	if diff := cmp.Diff([]string{"powershell", "-NoProfile", "-NonInteractive", "-WindowStyle", "Hidden", "-EncodedCommand"}, win[:6]); diff != "" || len(win) != 7 {
		t.Fatalf("windows (-want +got):\n%s%q", diff, win)
	}
	script := decodePS(t, win[6])
	for _, want := range []string{
		`CreateTextNode('Ward: "laptop"')`,
		`CreateTextNode('key expires in 10 minutes, log in again: it''s \ward login')`,
		"ToastNotificationManager]::CreateToastNotifier(",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("windows script lacks %q:\n%s", want, script)
		}
	}
}

// decodePS undoes psEncode.
func decodePS(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%2 != 0 {
		t.Fatalf("not base64 UTF-16: %v", err)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func TestWinCommandLine(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"daemon", "--state-dir", `C:\Users\ann\AppData\Local\Ward`}, `daemon --state-dir C:\Users\ann\AppData\Local\Ward`},
		{[]string{"--state-dir", `C:\Users\Ann Lee\Ward`}, `--state-dir "C:\Users\Ann Lee\Ward"`},
		{[]string{`C:\a b\`}, `"C:\a b\\"`},
		{[]string{`say "hi"`}, `"say \"hi\""`},
		{[]string{`a\"b`}, `"a\\\"b"`},
		{[]string{""}, `""`},
	}
	for _, tt := range tests {
		if got := winCommandLine(tt.args); got != tt.want {
			t.Errorf("winCommandLine(%q) = %s, want %s", tt.args, got, tt.want)
		}
	}
}

func TestExecLine(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"/usr/bin/ward", "daemon", "--state-dir", "/home/ann/.local/state/ward"}, "/usr/bin/ward daemon --state-dir /home/ann/.local/state/ward"},
		{[]string{"/opt/my apps/ward"}, `"/opt/my apps/ward"`},
		{[]string{"100%", "$HOME"}, "100%% $$HOME"},
		{[]string{`a"b\c`}, `"a\"b\\c"`},
		{[]string{""}, `""`},
	}
	for _, tt := range tests {
		if got := execLine(tt.args); got != tt.want {
			t.Errorf("execLine(%q) = %s, want %s", tt.args, got, tt.want)
		}
	}
}
