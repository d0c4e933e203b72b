package e2e

import (
	"bufio"
	"context"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// upRun is a running `ward up`.
type upRun struct {
	cmd    *exec.Cmd
	stderr *strings.Builder
	// link and code are what it printed for the person.
	link, code string
	// rest carries the rest of its output.
	rest chan string
}

// startUp runs the real `ward up` (which starts its daemon in the
// background) against f's coordinator with state in dir, and reads the
// login link and code it prints.
func startUp(t *testing.T, f *fleet, dir string) *upRun {
	t.Helper()
	cmd := exec.Command(binary(t), "up", "--coordinator", f.url(), "--dev-insecure-http", "--no-browser", "--state-dir", dir,
		"--socks5", "127.0.0.1:0", "--http-proxy", "127.0.0.1:0", "--web", "off", "--hostname", "kiosk-3")
	cmd.Env = append(os.Environ(), "DISPLAY=", "WAYLAND_DISPLAY=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	u := &upRun{cmd: cmd, stderr: &strings.Builder{}, rest: make(chan string, 1)}
	cmd.Stderr = u.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	codeRe := regexp.MustCompile(`confirm the code ([B-Z]{4}-[B-Z]{4})`)
	for (u.link == "" || u.code == "") && sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, f.url()+wire.PathLoginBrowser) {
			u.link = line
		}
		if m := codeRe.FindStringSubmatch(line); m != nil {
			u.code = m[1]
		}
	}
	if u.link == "" || u.code == "" {
		t.Fatalf("ward up printed no link and code (link %q, code %q); stderr: %s", u.link, u.code, u.stderr)
	}
	go func() {
		b, _ := io.ReadAll(out)
		u.rest <- string(b)
	}()
	return u
}

// wait waits for `ward up` to end and returns its error and output.
func (u *upRun) wait(t *testing.T) (error, string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- u.cmd.Wait() }()
	select {
	case err := <-done:
		return err, <-u.rest + u.stderr.String()
	case <-time.After(30 * time.Second):
		t.Fatal("ward up did not end")
	}
	return nil, ""
}

// confirmInBrowser signs bob in through the link and answers the
// confirmation page with decision, after checking it shows code.
func confirmInBrowser(t *testing.T, link, code, decision string) {
	t.Helper()
	ctx := context.Background()
	b := devidptest.NewBrowser()
	p, err := b.Login(ctx, link, devidptest.Credentials{Username: "bob", Password: "bob"})
	if err != nil || !strings.Contains(p.Body, code) || !strings.Contains(p.Body, "kiosk-3") {
		t.Fatalf("confirmation page: %v %+v", err, p)
	}
	if p, err = b.SubmitForm(ctx, p, wire.PathLoginConfirm, url.Values{"decision": {decision}}); err != nil || p.Status != 200 {
		t.Fatalf("%s: %v %+v", decision, err, p)
	}
}

// TestFailedUpStopsItsDaemon pins that a `ward up` whose login fails (here
// the person answers "This wasn't me" on the confirmation page) stops the
// daemon it started, and that a confirmed `ward up` still works end to end
// with the code it printed.
func TestFailedUpStopsItsDaemon(t *testing.T) {
	f := newFleet(t, fleetPolicy(1), nil)
	dir, err := os.MkdirTemp("", "wardu") // unix socket paths are short
	if err != nil {
		t.Fatal(err)
	}
	api := &localapi.Client{Socket: filepath.Join(dir, localapi.SocketName)}
	t.Cleanup(func() {
		exec.Command(binary(t), "down", "--quit", "--state-dir", dir).Run() // whatever the test left running
		os.RemoveAll(dir)
	})

	up := startUp(t, f, dir)
	if _, err := api.Status(context.Background()); err != nil {
		t.Fatalf("ward up's daemon does not answer while the login waits: %v", err)
	}
	confirmInBrowser(t, up.link, up.code, "cancel")
	err, out := up.wait(t)
	if err == nil || !strings.Contains(out, "refused") {
		t.Fatalf("ward up after \"This wasn't me\": %v\n%s", err, out)
	}
	if _, err := api.Status(context.Background()); err == nil {
		t.Fatalf("the daemon that the failed ward up started still runs\n%s", out)
	}

	up = startUp(t, f, dir)
	confirmInBrowser(t, up.link, up.code, "connect")
	if err, out := up.wait(t); err != nil || !strings.Contains(out, "Logged in as bob@example.com on kiosk-3") {
		t.Fatalf("confirmed ward up: %v\n%s", err, out)
	}
	if st, err := api.Status(context.Background()); err != nil || st.Person == nil || st.Person.State != localapi.StateLoggedIn {
		t.Fatalf("daemon after a confirmed ward up: %+v %v", st, err)
	}
}

// TestFailedDaemonStartPrintsItsLog: when the daemon `ward up` starts
// stops at once (here it refuses a proxy beyond loopback), `ward up` says
// so with the daemon's own last log lines, not only "see daemon.log".
func TestFailedDaemonStartPrintsItsLog(t *testing.T) {
	f := newFleet(t, fleetPolicy(1), nil)
	dir, err := os.MkdirTemp("", "wardu") // unix socket paths are short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// An earlier run's lines are not this start's.
	if err := os.WriteFile(filepath.Join(dir, "daemon.log"), []byte("an old line from yesterday\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), "up", "--coordinator", f.url(), "--dev-insecure-http", "--no-browser", "--state-dir", dir,
		"--socks5", "0.0.0.0:0", "--http-proxy", "", "--web", "off")
	cmd.Env = append(os.Environ(), "DISPLAY=", "WAYLAND_DISPLAY=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("ward up with a refused proxy address succeeded: %s", out)
	}
	for _, want := range []string{"not a loopback address", "daemon.log"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ward up's error lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "yesterday") {
		t.Errorf("ward up showed an earlier run's log:\n%s", out)
	}
}

// TestUpRefusesStateDirOfOtherUser: `ward up` and `ward status` do not
// talk to (or start) a daemon in a state directory another user owns,
// where that user could run a daemon that hands out their own login link.
func TestUpRefusesStateDirOfOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: gives the state directory to uid 65534")
	}
	dir, err := os.MkdirTemp("", "wardu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	want := "state dir " + dir + " is owned by uid 65534: refusing to talk to a daemon another user may run"
	for _, args := range [][]string{
		{"up", "--coordinator", "http://127.0.0.1:1", "--dev-insecure-http", "--no-browser", "--web", "off"},
		{"status"},
	} {
		cmd := exec.Command(binary(t), append(args, "--state-dir", dir)...)
		cmd.Env = append(os.Environ(), "DISPLAY=", "WAYLAND_DISPLAY=")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("ward %s: %v\n%s\nwant %q", args[0], err, out, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "daemon.log")); !os.IsNotExist(err) {
		t.Errorf("ward up started a daemon in another user's state directory: %v", err)
	}
}
