//go:build unix

package localapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary runs as another user in one of these modes when
// helperEnv names one; helperSocket is the socket's path.
const (
	helperEnv    = "WARD_LOCALAPI_HELPER"
	helperSocket = "WARD_LOCALAPI_SOCKET"
	// nobody is the other user the helpers run as.
	nobody = 65534
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "attack":
		os.Exit(attackHelper(os.Getenv(helperSocket)))
	case "serve":
		os.Exit(serveHelper(os.Getenv(helperSocket)))
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode")
		os.Exit(2)
	}
}

// attackOutcome is what attackHelper saw, printed as JSON.
type attackOutcome struct {
	// Status and Body are the answer to a hand-written GET /status.
	Status int
	Body   string
	// Client and Login are the errors of Client.Status and Client.Login
	// (a request with a body).
	Client, Login string
}

// attackHelper connects to the socket at path as whoever runs it, with a
// hand-written request and with the Client, and prints what it got.
func attackHelper(path string) int {
	var out attackOutcome
	c, err := net.Dial("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		return 1
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(c, "GET /status HTTP/1.1\r\nHost: ward\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		out.Status, out.Body = resp.StatusCode, string(b)
	} else {
		out.Body = "read: " + err.Error()
	}
	c.Close()
	if _, err := (&Client{Socket: path}).Status(context.Background()); err != nil {
		out.Client = err.Error()
	}
	if _, err := (&Client{Socket: path}).Login(context.Background(), LoginRequest{Coordinator: "https://evil.example"}); err != nil {
		out.Login = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(out)
	return 0
}

// serveHelper serves fakeDesktop on path as whoever runs it, says
// "ready" on stdout, and stops on SIGTERM.
func serveHelper(path string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	l, err := Listen(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	if err := Serve(ctx, l, fakeDesktop{quit: make(chan struct{})}, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// needRoot skips a test that runs a helper as another user unless the
// test runs as root (as `make test` does on CI).
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs a helper process as uid 65534")
	}
}

// publicDir makes a directory under the system's temporary directory
// that every user may enter; removed at the end of the test.
func publicDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ward-localapi-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// helperCmd returns a command running a copy of the test binary (one
// that uid nobody may execute) as nobody in mode, on socket.
func helperCmd(t *testing.T, mode, socket string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(publicDir(t), "localapi.test")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperSocket+"="+socket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	cmd.Stderr = os.Stderr
	return cmd
}

// TestLocalAPIRefusesOtherUsers: another user who can reach the socket
// (its mode loosened here, as a wrong umask or a careless chmod would)
// gets a 403 before the daemon reads their request; with a hand-written
// request and with Ward's own client alike.
func TestLocalAPIRefusesOtherUsers(t *testing.T) {
	needRoot(t)
	dir := publicDir(t)
	path := filepath.Join(dir, SocketName)
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, fakeDesktop{quit: make(chan struct{})}, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	for p, mode := range map[string]os.FileMode{dir: 0o755, path: 0o666} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}

	out, err := helperCmd(t, "attack", path).Output()
	if err != nil {
		t.Fatalf("attacker: %v", err)
	}
	var got attackOutcome
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("attacker said %q: %v", out, err)
	}
	if got.Status != http.StatusForbidden || !strings.Contains(got.Body, "uid 65534 may not use this ward daemon") ||
		strings.Contains(got.Body, `"op"`) {
		t.Errorf("hand-written request of uid 65534: %d %q, want a 403 and no status", got.Status, got.Body)
	}
	for call, msg := range map[string]string{"status": got.Client, "login": got.Login} {
		if !strings.Contains(msg, "uid 65534 may not use this ward daemon") {
			t.Errorf("%s through the client of uid 65534: %q, want the refusal", call, msg)
		}
	}
	// The daemon's own user is still served.
	if st, err := (&Client{Socket: path}).Status(context.Background()); err != nil || st.Self.Name != "op" {
		t.Errorf("status as the daemon's user: %+v, %v", st, err)
	}
}

// TestClientRefusesSocketOwnedByOtherUser: the client does not talk to a
// daemon another user may run (who could hand out their own login link):
// a socket or state directory another user owns, a state directory others
// may write to, and a daemon that runs as another user behind files that
// look like root's.
func TestClientRefusesSocketOwnedByOtherUser(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	c := startBackend(t, fakeDesktop{quit: make(chan struct{})})
	dir := filepath.Dir(c.Socket)
	tests := []struct {
		name    string
		change  func() error
		undo    func() error
		wantErr string
	}{
		{"socket of uid 65534", func() error { return os.Lchown(c.Socket, nobody, nobody) },
			func() error { return os.Lchown(c.Socket, 0, 0) }, "socket " + c.Socket + " is owned by uid 65534"},
		{"state dir of uid 65534", func() error { return os.Chown(dir, nobody, nobody) },
			func() error { return os.Chown(dir, 0, 0) }, "state dir " + dir + " is owned by uid 65534"},
		{"state dir others may write", func() error { return os.Chmod(dir, 0o777) },
			func() error { return os.Chmod(dir, 0o700) }, "state dir " + dir + " is writable by other users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.change(); err != nil {
				t.Fatal(err)
			}
			checkRefused(t, c, tt.wantErr)
			if err := tt.undo(); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Login(ctx, LoginRequest{}); err != nil {
				t.Errorf("login after undoing: %v", err)
			}
		})
	}

	t.Run("daemon of uid 65534 behind root's files", func(t *testing.T) {
		dir := publicDir(t)
		if err := os.Chown(dir, nobody, nobody); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, SocketName)
		cmd := helperCmd(t, "serve", path)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}()
		if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "ready\n" {
			t.Fatalf("helper daemon: %q, %v", line, err)
		}
		fake := &Client{Socket: path}
		checkRefused(t, fake, "state dir "+dir+" is owned by uid 65534")
		for _, p := range []string{dir, path} {
			if err := os.Lchown(p, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
		checkRefused(t, fake, "the daemon on "+path+" runs as uid 65534")
	})
}

// checkRefused checks that every call of c fails with ErrUntrusted and a
// message containing want, and that no login link comes through.
func checkRefused(t *testing.T, c *Client, want string) {
	t.Helper()
	ctx := context.Background()
	start, err := c.Login(ctx, LoginRequest{})
	if start.URL != "" {
		t.Errorf("login link %q came through", start.URL)
	}
	_, statusErr := c.Status(ctx)
	_, dialErr := c.Dial(ctx, "cam", 7)
	for name, err := range map[string]error{"login": err, "status": statusErr, "dial": dialErr} {
		if !errors.Is(err, ErrUntrusted) || errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want ErrUntrusted saying %q", name, err, want)
		}
	}
}

// TestListenMakesStateDirPrivate: the socket is bound only in a state
// directory that is the daemon's own with mode 0700, so no other user can
// reach it while it has the umask's mode; a directory another user owns
// is refused and nothing is bound in it.
func TestListenMakesStateDirPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	tests := []struct {
		name    string
		setup   func(dir string) error
		wantErr string
	}{
		{"missing", func(dir string) error { return nil }, ""},
		{"open to all", func(dir string) error { return os.Mkdir(dir, 0o777) }, ""},
		{"another user's", func(dir string) error {
			if os.Geteuid() != 0 {
				return errors.ErrUnsupported
			}
			if err := os.Mkdir(dir, 0o755); err != nil {
				return err
			}
			return os.Chown(dir, nobody, nobody)
		}, "is owned by uid 65534"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			if err := tt.setup(dir); errors.Is(err, errors.ErrUnsupported) {
				t.Skip("needs root to give the directory to another user")
			} else if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, SocketName)
			l, err := Listen(path)
			if tt.wantErr != "" {
				if err == nil {
					l.Close()
				}
				if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("listen: %v, want %q", err, tt.wantErr)
				}
				if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a socket was bound in the refused directory: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
				if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
					t.Errorf("%s: mode %v, %v; want %o", p, fi.Mode().Perm(), err, want)
				}
			}
		})
	}
}
