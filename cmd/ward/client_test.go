//go:build !ward_omit_desktop

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/client"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/node/localapi"
)

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/usr/bin/ward", "/usr/bin/ward"},
		{"/home/a b/ward", "'/home/a b/ward'"},
		{"it's", `'it'\''s'`},
		{"", "''"},
		{"$(rm -rf /)", "'$(rm -rf /)'"},
	}
	for _, tt := range tests {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSSHArgs(t *testing.T) {
	argv, err := sshArgs("/tmp/my state", []string{"root@cam1", "-p", "22", "uptime"})
	if err != nil {
		t.Fatal(err)
	}
	if argv[0] != "ssh" || argv[1] != "-o" || !strings.HasPrefix(argv[2], "ProxyCommand=") ||
		!strings.HasSuffix(argv[2], " nc --state-dir '/tmp/my state' %h %p") || !slices.Equal(argv[3:], []string{"root@cam1", "-p", "22", "uptime"}) {
		t.Errorf("argv %q", argv)
	}
}

func TestSplitStateDir(t *testing.T) {
	dir, rest, help := splitStateDir([]string{"-o", "BatchMode=yes", "--state-dir", "/s", "root@cam1", "uptime"})
	if dir != "/s" || help || !slices.Equal(rest, []string{"-o", "BatchMode=yes", "root@cam1", "uptime"}) {
		t.Errorf("got %q %q %v", dir, rest, help)
	}
	if dir, _, _ := splitStateDir([]string{"--state-dir=/t", "cam1"}); dir != "/t" {
		t.Errorf("--state-dir= gave %q", dir)
	}
}

func TestPrintQR(t *testing.T) {
	var b bytes.Buffer
	if err := printQR(&b, "http://127.0.0.1:8080/ward/v1/l/abc"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	width := len([]rune(lines[0]))
	if width < 25 || len(lines) != (width+1)/2 {
		t.Errorf("qr code %d wide, %d lines", width, len(lines))
	}
}

func TestPrintClientStatus(t *testing.T) {
	now := time.Now()
	tests := []struct {
		st   localapi.PersonStatus
		want []string
	}{
		{localapi.PersonStatus{State: localapi.StateLoggedIn, User: "alice@example.com", Node: "laptop", Mode: "userspace",
			KeyExpiry: now.Add(time.Hour), SOCKS5: "127.0.0.1:1080", WebURL: "http://127.0.0.1:1/t/x/"},
			[]string{"logged in as alice@example.com on laptop", "in 1h0m0s", "SOCKS5 proxy 127.0.0.1:1080", "Status page: http://127.0.0.1:1/t/x/", "no peers",
				"the policy grants you no device yet"}},
		{localapi.PersonStatus{State: localapi.StateLoggedIn, User: "alice@example.com", Devices: []localapi.Device{{Name: "cam1", Ports: []uint16{8000},
			Grants: []filter.PortGrant{{Proto: filter.ProtoTCP, Ports: []filter.PortRange{{First: 80, Last: 80}, {First: 8000, Last: 8000}}}}}}},
			[]string{"you may reach:\n  cam1 on tcp 80, 8000 (exposes 8000 of those)\n"}},
		{localapi.PersonStatus{State: localapi.StateLoggedIn, User: "alice@example.com", Devices: []localapi.Device{{Name: "camera-3", FQDN: "camera-3.ward.internal",
			Grants: []filter.PortGrant{{Proto: filter.ProtoTCP, Ports: []filter.PortRange{{First: 22, Last: 22}}}}}}},
			[]string{"you may reach:\n  camera-3 (camera-3.ward.internal) on tcp 22\n"}},
		{localapi.PersonStatus{State: localapi.StatePending, LoginURL: "http://127.0.0.1:1/ward/v1/l/X", LoginCode: "BCDF-GHJK"},
			[]string{"login pending: open http://127.0.0.1:1/ward/v1/l/X", "the code BCDF-GHJK"}},
		{localapi.PersonStatus{State: localapi.StateExpired, Message: "the session's key expired at noon"},
			[]string{"expired: the session's key expired at noon", "run `ward up`"}},
		{localapi.PersonStatus{State: localapi.StateDisabled, Message: "you were disabled by an admin"},
			[]string{"disabled: you were disabled by an admin"}},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		printClientStatus(&b, localapi.Status{Person: &tt.st}, now)
		for _, w := range tt.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("status of %s lacks %q:\n%s", tt.st.State, w, b.String())
			}
		}
	}
}

func TestDaemonArgs(t *testing.T) {
	f := daemonFlags{cfg: client.Config{StateDir: "/s", Coordinator: "http://127.0.0.1:1", SOCKS5: "127.0.0.1:1080",
		Web: "127.0.0.1:0", TUN: true, TUNName: "ward0", AllowInsecureHTTP: true, UAPIName: "laptop", UAPIDir: "/run/wg"}}
	got := strings.Join(f.args(), " ")
	for _, want := range []string{"daemon --state-dir /s", "--coordinator http://127.0.0.1:1", "--tun", "--dev-insecure-http", "--socks5 127.0.0.1:1080", "--wg-name laptop --wg-socket-dir /run/wg"} {
		if !strings.Contains(got, want) {
			t.Errorf("args %q lack %q", got, want)
		}
	}
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "daemon.log")
	old := "old 1\nold 2\n"
	var b strings.Builder
	b.WriteString(old)
	for i := range 30 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := logTail(path, int64(len(old)), 20)
	if err != nil || len(got) != 20 || got[0] != "line 10" || got[19] != "line 29" {
		t.Errorf("last 20 lines: %q %v", got, err)
	}
	if got, _ := logTail(path, int64(len(old)), 50); len(got) != 30 || got[0] != "line 0" {
		t.Errorf("lines since the offset: %q", got)
	}
	if got, err := logTail(path, int64(b.Len()), 20); err != nil || len(got) != 0 {
		t.Errorf("nothing new: %q %v", got, err)
	}
}
