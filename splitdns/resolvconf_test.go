package splitdns

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const origConf = "# from DHCP\nnameserver 10.0.0.53\nsearch corp.example\noptions ndots:2 timeout:1\n"

var overlayDNS = netip.MustParseAddr("100.64.0.7")

// tempConf is a resolv.conf in a temporary directory (never the real
// one) holding content, and where its backup goes.
func tempConf(t *testing.T, content string) ResolvConf {
	t.Helper()
	dir := t.TempDir()
	r := ResolvConf{Path: filepath.Join(dir, "resolv.conf"), Backup: filepath.Join(dir, "state", "resolv.conf.ward")}
	if err := os.Mkdir(filepath.Dir(r.Backup), 0o700); err != nil {
		t.Fatal(err)
	}
	if content != "" {
		if err := os.WriteFile(r.Path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestResolvConfInstallsAndRestores: Install points resolv.conf at the
// overlay resolver, searching the fleet domain first and keeping the
// original's search list and options; Restore puts the original back,
// byte for byte, and drops the backup.
func TestResolvConfInstallsAndRestores(t *testing.T) {
	r := tempConf(t, origConf)
	undo, err := Install(Config{Mode: ModeResolvConf, Server: overlayDNS, Domain: "ward.internal", ResolvConf: r})
	if err != nil {
		t.Fatal(err)
	}
	got := readFile(t, r.Path)
	for _, want := range []string{"# written by ward", "nameserver 100.64.0.7\n", "search ward.internal corp.example\n", "options ndots:2 timeout:1\n", r.Backup} {
		if !strings.Contains(got, want) {
			t.Errorf("installed resolv.conf lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "10.0.0.53") {
		t.Errorf("installed resolv.conf still names the original resolver:\n%s", got)
	}
	if fi, err := os.Stat(r.Path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("installed resolv.conf mode: %v %v", fi, err)
	}
	if err := undo(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, r.Path); got != origConf {
		t.Errorf("restored resolv.conf = %q, want the original", got)
	}
	if _, err := os.Stat(r.Backup); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("backup left after restore: %v", err)
	}
}

// TestResolvConfLeavesFileChangedMeanwhile: a resolv.conf someone else
// (DHCP, an admin) rewrote while Ward's was installed is not clobbered.
func TestResolvConfLeavesFileChangedMeanwhile(t *testing.T) {
	r := tempConf(t, origConf)
	if err := r.Install(overlayDNS, "ward.internal"); err != nil {
		t.Fatal(err)
	}
	theirs := "nameserver 192.168.1.1\n"
	if err := os.WriteFile(r.Path, []byte(theirs), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(); !errors.Is(err, ErrChangedMeanwhile) {
		t.Errorf("restore over a changed file: %v, want ErrChangedMeanwhile", err)
	}
	if got := readFile(t, r.Path); got != theirs {
		t.Errorf("restore clobbered the new file: %q", got)
	}
}

// TestResolvConfRecoversAfterCrash: a run that died with Ward's file
// installed left the backup; the next Install puts the original back
// first (so the resolvers it reads are the system's), then installs.
func TestResolvConfRecoversAfterCrash(t *testing.T) {
	r := tempConf(t, origConf)
	if err := r.Install(overlayDNS, "ward.internal"); err != nil {
		t.Fatal(err)
	}
	if err := r.Install(overlayDNS, "ward.internal"); err == nil {
		t.Error("a second Install over a backup succeeded")
	}
	if err := r.Recover(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, r.Path); got != origConf {
		t.Errorf("recovered resolv.conf = %q", got)
	}
	undo, err := Install(Config{Mode: ModeResolvConf, Server: overlayDNS, Domain: "ward.internal", ResolvConf: r})
	if err != nil {
		t.Fatal(err)
	}
	if err := undo(); err != nil || readFile(t, r.Path) != origConf {
		t.Errorf("undo after recovery: %v", err)
	}
	if err := r.Recover(); err != nil {
		t.Errorf("recover without a backup: %v", err)
	}
}

// TestResolvConfRestoresSymlink: a resolv.conf that was a symlink (to a
// resolver manager's file) is a symlink to the same place again, and the
// file it points to was never written.
func TestResolvConfRestoresSymlink(t *testing.T) {
	r := tempConf(t, "")
	target := filepath.Join(filepath.Dir(r.Path), "managed-resolv.conf")
	if err := os.WriteFile(target, []byte(origConf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, r.Path); err != nil {
		t.Fatal(err)
	}
	if err := r.Install(overlayDNS, "ward.internal"); err != nil {
		t.Fatal(err)
	}
	if readFile(t, target) != origConf {
		t.Error("Install wrote through the symlink")
	}
	if err := r.Restore(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.Readlink(r.Path); err != nil || got != target {
		t.Errorf("restored link = %q, %v; want %q", got, err, target)
	}
}
