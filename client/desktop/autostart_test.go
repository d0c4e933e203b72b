package desktop

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAutostartPerOS(t *testing.T) {
	tests := []struct {
		name        string
		e           Env
		cfg         AutostartConfig
		wantPath    string
		wantEnable  [][]string
		wantDisable [][]string
		wantCleanup [][]string
	}{
		{"macos", Env{GOOS: "darwin", UID: 501, Home: "/Users/ann"},
			AutostartConfig{Args: []string{"/usr/local/bin/ward", "daemon"}, LogFile: "/Users/ann/Library/Application Support/Ward/daemon.log"},
			"/Users/ann/Library/LaunchAgents/net.wardnet.ward.plist",
			[][]string{{"launchctl", "bootstrap", "gui/501", "/Users/ann/Library/LaunchAgents/net.wardnet.ward.plist"}},
			[][]string{{"launchctl", "bootout", "gui/501", "/Users/ann/Library/LaunchAgents/net.wardnet.ward.plist"}}, nil},
		{"windows", Env{GOOS: "windows", UID: -1, Getenv: env(map[string]string{"USERDOMAIN": "CORP", "USERNAME": "ann"})},
			AutostartConfig{Args: []string{`C:\Program Files\Ward\ward.exe`, "daemon"}, StateDir: `C:\Users\ann\AppData\Local\Ward`},
			`C:\Users\ann\AppData\Local\Ward\ward-task.xml`,
			[][]string{{"schtasks", "/Create", "/TN", "Ward", "/XML", `C:\Users\ann\AppData\Local\Ward\ward-task.xml`, "/F"}, {"schtasks", "/Run", "/TN", "Ward"}},
			[][]string{{"schtasks", "/End", "/TN", "Ward"}, {"schtasks", "/Delete", "/TN", "Ward", "/F"}}, nil},
		{"linux", Env{GOOS: "linux", UID: 1000, Home: "/home/ann"},
			AutostartConfig{Args: []string{"/usr/bin/ward", "daemon"}},
			"/home/ann/.config/systemd/user/ward.service",
			[][]string{{"systemctl", "--user", "daemon-reload"}, {"systemctl", "--user", "enable", "--now", "ward.service"}},
			[][]string{{"systemctl", "--user", "disable", "--now", "ward.service"}},
			[][]string{{"systemctl", "--user", "daemon-reload"}}},
		{"linux with XDG_CONFIG_HOME", Env{GOOS: "linux", UID: 1000, Home: "/home/ann", Getenv: env(map[string]string{"XDG_CONFIG_HOME": "/cfg"})},
			AutostartConfig{Args: []string{"/usr/bin/ward", "daemon"}},
			"/cfg/systemd/user/ward.service",
			[][]string{{"systemctl", "--user", "daemon-reload"}, {"systemctl", "--user", "enable", "--now", "ward.service"}},
			[][]string{{"systemctl", "--user", "disable", "--now", "ward.service"}},
			[][]string{{"systemctl", "--user", "daemon-reload"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := tt.e.Autostart(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if a.Path != tt.wantPath {
				t.Errorf("Path = %q, want %q", a.Path, tt.wantPath)
			}
			for what, d := range map[string]string{
				"Enable":  cmp.Diff(tt.wantEnable, a.Enable),
				"Disable": cmp.Diff(tt.wantDisable, a.Disable),
				"Cleanup": cmp.Diff(tt.wantCleanup, a.Cleanup),
			} {
				if d != "" {
					t.Errorf("%s (-want +got):\n%s", what, d)
				}
			}
		})
	}
	if _, err := (Env{GOOS: "plan9", UID: 1000, Home: "/usr/ann"}).Autostart(AutostartConfig{Args: []string{"/bin/ward"}}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("plan9: %v", err)
	}
	refused := []struct {
		name string
		e    Env
		cfg  AutostartConfig
	}{
		{"linux without a home directory", Env{GOOS: "linux", UID: 1000}, AutostartConfig{Args: []string{"/bin/ward"}}},
		{"no program", Env{GOOS: "linux", UID: 1000, Home: "/home/ann"}, AutostartConfig{}},
		{"root on linux", Env{GOOS: "linux", UID: 0, Home: "/root"}, AutostartConfig{Args: []string{"/bin/ward"}}},
		{"root on macos", Env{GOOS: "darwin", UID: 0, Home: "/var/root"}, AutostartConfig{Args: []string{"/bin/ward"}}},
		{"tun on linux", Env{GOOS: "linux", UID: 1000, Home: "/home/ann"}, AutostartConfig{Args: []string{"/bin/ward"}, Elevated: true}},
		{"tun on macos", Env{GOOS: "darwin", UID: 501, Home: "/Users/ann"}, AutostartConfig{Args: []string{"/bin/ward"}, Elevated: true}},
	}
	for _, tt := range refused {
		if a, err := tt.e.Autostart(tt.cfg); err == nil {
			t.Errorf("%s: accepted: %+v", tt.name, a)
		}
	}
	if _, err := (Env{GOOS: "windows", UID: -1}).Autostart(AutostartConfig{Args: []string{`C:\ward.exe`}, StateDir: `C:\s`, Elevated: true}); err != nil {
		t.Errorf("tun on windows: %v", err)
	}
}

func TestLaunchdPlist(t *testing.T) {
	got := string(launchdPlist([]string{"/Applications/Ward & Co/ward", "daemon", "--state-dir", "/Users/ann/Library/Application Support/Ward"}, "/tmp/<log>"))
	want := `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>net.wardnet.ward</string>
	<key>ProgramArguments</key>
	<array>
		<string>/Applications/Ward &amp; Co/ward</string>
		<string>daemon</string>
		<string>--state-dir</string>
		<string>/Users/ann/Library/Application Support/Ward</string>
	</array>
	<key>RunAtLoad</key>
	<true/>
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>StandardOutPath</key>
	<string>/tmp/&lt;log&gt;</string>
	<key>StandardErrorPath</key>
	<string>/tmp/&lt;log&gt;</string>
</dict>
</plist>
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plist (-want +got):\n%s", diff)
	}
	if err := xml.Unmarshal([]byte(got), new(struct{})); err != nil {
		t.Errorf("plist is not well-formed XML: %v", err)
	}
}

func TestTaskXML(t *testing.T) {
	type task struct {
		UserID   string `xml:"Triggers>LogonTrigger>UserId"`
		Owner    string `xml:"Principals>Principal>UserId"`
		Logon    string `xml:"Principals>Principal>LogonType"`
		RunLevel string `xml:"Principals>Principal>RunLevel"`
		Multiple string `xml:"Settings>MultipleInstancesPolicy"`
		Limit    string `xml:"Settings>ExecutionTimeLimit"`
		Command  string `xml:"Actions>Exec>Command"`
		Args     string `xml:"Actions>Exec>Arguments"`
	}
	tests := []struct {
		name     string
		elevated bool
		want     task
	}{
		{"proxy mode", false, task{`CORP\ann & bob`, `CORP\ann & bob`, "InteractiveToken", "LeastPrivilege", "IgnoreNew", "PT0S",
			`C:\Program Files\Ward\ward.exe`, `daemon --state-dir "C:\Users\ann & bob\AppData\Local\Ward"`}},
		{"tun mode", true, task{`CORP\ann & bob`, `CORP\ann & bob`, "InteractiveToken", "HighestAvailable", "IgnoreNew", "PT0S",
			`C:\Program Files\Ward\ward.exe`, `daemon --state-dir "C:\Users\ann & bob\AppData\Local\Ward"`}},
	}
	for _, tt := range tests {
		b := taskXML(`CORP\ann & bob`, []string{`C:\Program Files\Ward\ward.exe`, "daemon", "--state-dir", `C:\Users\ann & bob\AppData\Local\Ward`}, tt.elevated)
		var got task
		d := xml.NewDecoder(strings.NewReader(b))
		d.CharsetReader = func(charset string, r io.Reader) (io.Reader, error) { return r, nil } // the text is UTF-8 until written
		if err := d.Decode(&got); err != nil {
			t.Fatalf("%s: not well-formed: %v\n%s", tt.name, err, b)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestSystemdUnit(t *testing.T) {
	got := string(unitFile([]string{"/home/ann/bin/ward", "daemon", "--state-dir", "/home/ann/my state"}, "/home/ann/my state/100%.log"))
	want := `[Unit]
Description=Ward desktop client
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/home/ann/bin/ward daemon --state-dir "/home/ann/my state"
Restart=on-failure
RestartSec=5
StandardOutput=append:/home/ann/my state/100%%.log
StandardError=append:/home/ann/my state/100%%.log

[Install]
WantedBy=default.target
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unit (-want +got):\n%s", diff)
	}
}

// TestAutostartInstallUninstall writes and removes a real file and runs
// the commands through a recording fake.
func TestAutostartInstallUninstall(t *testing.T) {
	home := t.TempDir()
	a, err := Env{GOOS: "linux", UID: 1000, Home: home}.Autostart(AutostartConfig{Args: []string{"/usr/bin/ward", "daemon"}})
	if err != nil {
		t.Fatal(err)
	}
	var ran []string
	run := func(args []string) error { ran = append(ran, strings.Join(args, " ")); return nil }
	if err := a.Uninstall(run); !errors.Is(err, ErrNotInstalled) || len(ran) != 0 {
		t.Fatalf("uninstall before install = %v, ran %q", err, ran)
	}
	for range 2 { // the second replaces the first
		if err := a.Install(run); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(home, ".config", "systemd", "user", "ward.service"))
	if err != nil || string(b) != string(a.Content) {
		t.Fatalf("unit file = %q, %v", b, err)
	}
	if err := a.Uninstall(func(args []string) error { run(args); return errors.New("systemctl: no bus") }); err == nil {
		t.Error("a failed disable was not reported")
	}
	if _, err := os.Stat(a.Path); !os.IsNotExist(err) {
		t.Errorf("unit file still there after uninstall: %v", err)
	}
	want := []string{"systemctl --user daemon-reload", "systemctl --user enable --now ward.service",
		"systemctl --user disable --now ward.service", "systemctl --user daemon-reload", "systemctl --user enable --now ward.service",
		"systemctl --user disable --now ward.service", "systemctl --user daemon-reload"}
	if diff := cmp.Diff(want, ran); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}
}

// TestTaskFileIsUTF16 pins the task file's encoding: UTF-16LE with a
// byte order mark, as its declaration says and as Task Scheduler writes.
func TestTaskFileIsUTF16(t *testing.T) {
	a, err := Env{GOOS: "windows", UID: -1, Getenv: env(map[string]string{"USERNAME": "ann"})}.Autostart(
		AutostartConfig{Args: []string{`C:\ward.exe`, "daemon"}, StateDir: `C:\s`})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Content) < 2 || a.Content[0] != 0xff || a.Content[1] != 0xfe {
		t.Fatalf("no UTF-16LE byte order mark: % x", a.Content[:min(len(a.Content), 8)])
	}
	text := decodePS(t, base64.StdEncoding.EncodeToString(a.Content[2:]))
	if text != taskXML("ann", []string{`C:\ward.exe`, "daemon"}, false) || !strings.HasPrefix(text, `<?xml version="1.0" encoding="UTF-16"?>`) {
		t.Errorf("task file decodes to:\n%s", text)
	}
}
