//go:build unix

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// A quick-start step is a ```sh block of README.md that an HTML comment
// marks, in order:
//
//	<!-- quickstart: background -->   runs as one script for the rest of the test (a terminal left running)
//	<!-- quickstart: login NAME -->   runs `ward up`; the test is NAME's browser on the dev IdP
//	<!-- quickstart: run -->          runs command by command in one shell
//
// In a run step, lines "# -> TEXT" after a command are output it must
// print (it may then fail, as a refused dial does); a command without
// them must succeed. A run step is retried for a while, as a reader
// reruns a command that came too early.
type quickStep struct {
	kind, arg string
	script    string
}

var (
	quickMarker = regexp.MustCompile("(?m)^<!-- quickstart: (\\w+)(?: (\\w+))? -->\n+```sh\n((?s:.*?))```")
	loopbackRe  = regexp.MustCompile(`127\.0\.0\.1:(\d+)`)
	stateDirRe  = regexp.MustCompile(`--state-dir (\S+)`)
)

// quickSteps reads the marked blocks of the README.
func quickSteps(t *testing.T, readme string) []quickStep {
	var steps []quickStep
	for _, m := range quickMarker.FindAllStringSubmatch(readme, -1) {
		steps = append(steps, quickStep{kind: m[1], arg: m[2], script: m[3]})
	}
	if len(steps) == 0 {
		t.Fatal("README.md marks no quick-start step")
	}
	return steps
}

// makeRecipe returns the commands of the Makefile's target, with $(BIN)
// as the README calls the binary.
func makeRecipe(t *testing.T, makefile, target string) []string {
	var out []string
	in := false
	for _, line := range strings.Split(makefile, "\n") {
		switch {
		case strings.HasPrefix(line, target+":"):
			in = true
		case in && strings.HasPrefix(line, "\t"):
			out = append(out, strings.ReplaceAll(strings.TrimPrefix(line, "\t"), "$(BIN)", "bin/ward"))
		case in:
			in = false
		}
	}
	if len(out) == 0 {
		t.Fatalf("the Makefile has no %s recipe", target)
	}
	return out
}

// quickStart is the reader's machine: a working directory holding what
// the quick start uses from the repository, the loopback ports it names
// moved to free ones, and the processes left running.
type quickStart struct {
	t     *testing.T
	dir   string
	ports map[string]string // "127.0.0.1:8080" -> a free address
	env   []string
	mu    sync.Mutex // guards logs
	logs  bytes.Buffer
}

// TestReadmeQuickStart runs README.md's quick start as written, against
// the built binary, on loopback: the coordinator as `make run` starts it,
// then every marked block, with the dev IdP's alice and bob signing in
// through its login form. The only changes: each 127.0.0.1 port the text
// names becomes a free one (the same everywhere), and the directory is a
// scratch copy of what the text uses (examples/, go.mod, bin/ward). It
// needs go and curl, as the reader does.
func TestReadmeQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	steps := quickSteps(t, string(readme))
	run := makeRecipe(t, string(makefile), "run")
	q := newQuickStart(t, append([]string{strings.Join(run, "\n")}, scripts(steps)...))

	for _, c := range run[:len(run)-1] {
		q.mustRun(c)
	}
	q.background(run[len(run)-1])
	q.waitListening(q.port("127.0.0.1:8080"))
	for i, s := range steps {
		t.Logf("quick-start step %d: %s %s", i+1, s.kind, s.arg)
		switch s.kind {
		case "background":
			q.background(s.script)
		case "login":
			q.login(s.arg, s.script)
		case "run":
			q.runStep(s.script)
		default:
			t.Fatalf("unknown quick-start step %q", s.kind)
		}
	}
}

func scripts(steps []quickStep) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.script
	}
	return out
}

// newQuickStart prepares the working directory and a free port for each
// loopback address in texts.
func newQuickStart(t *testing.T, texts []string) *quickStart {
	dir := t.TempDir()
	q := &quickStart{t: t, dir: dir, ports: map[string]string{}}
	for _, text := range texts {
		for _, m := range loopbackRe.FindAllString(text, -1) {
			if _, ok := q.ports[m]; !ok {
				q.ports[m] = fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
			}
		}
	}
	if err := os.CopyFS(filepath.Join(dir, "examples"), os.DirFS("../examples")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(binary(t), filepath.Join(dir, "bin", "ward")); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "http_proxy", "https_proxy", "all_proxy", "no_proxy", "display", "wayland_display",
			"ward_api_key", "ward_auth_key", "ward_coordinator":
			continue // the reader's terminal has none of these for Ward
		}
		q.env = append(q.env, kv)
	}
	t.Cleanup(func() {
		if t.Failed() {
			q.mu.Lock()
			t.Logf("output of the processes left running:\n%s", q.logs.String())
			q.mu.Unlock()
		}
	})
	return q
}

// port returns the free address that stands for addr.
func (q *quickStart) port(addr string) string {
	p, ok := q.ports[addr]
	if !ok {
		q.t.Fatalf("the quick start never names %s", addr)
	}
	return p
}

// remap moves every loopback port of s to its free one.
func (q *quickStart) remap(s string) string {
	return loopbackRe.ReplaceAllStringFunc(s, func(m string) string {
		if p, ok := q.ports[m]; ok {
			return p
		}
		return m
	})
}

// command is bash running script in the working directory.
func (q *quickStart) command(script string) *exec.Cmd {
	c := exec.Command("bash", "-c", q.remap(script))
	c.Dir, c.Env = q.dir, q.env
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return c
}

func (q *quickStart) mustRun(script string) {
	q.t.Helper()
	if out, err := q.command(script).CombinedOutput(); err != nil {
		q.t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

// background starts script and stops it, with every process it started,
// when the test ends.
func (q *quickStart) background(script string) {
	q.t.Helper()
	c := q.command(script)
	c.Stdout, c.Stderr = q, q
	if err := c.Start(); err != nil {
		q.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	q.t.Cleanup(func() {
		syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
}

// Write collects the output of the background processes.
func (q *quickStart) Write(p []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.logs.Write(p)
}

// waitListening waits until something accepts connections on addr.
func (q *quickStart) waitListening(addr string) {
	q.t.Helper()
	waitFor(q.t, "the coordinator on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// login runs a `ward up` step, and is the person's browser: it signs in
// as name (the dev IdP's password is the name; a second factor, when
// asked, is 123456) and connects the device when the page shows the code
// `ward up` printed.
func (q *quickStart) login(name, script string) {
	t := q.t
	t.Helper()
	for _, m := range stateDirRe.FindAllStringSubmatch(script, -1) {
		dir := m[1]
		t.Cleanup(func() { q.command("bin/ward down --quit --state-dir " + dir).Run() })
	}
	c := q.command(script)
	var errOut bytes.Buffer
	c.Stderr = &errOut
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	var printed strings.Builder
	link, code := readLogin(out, &printed)
	if link == "" || code == "" {
		c.Wait()
		t.Fatalf("ward up printed no link and code:\n%s%s", printed.String(), errOut.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	creds := devidptest.Credentials{Username: name, Password: name, OTP: "123456"}
	if p, err := signInAndConnect(ctx, link, creds, code); err != nil || p.Status != 200 {
		t.Fatalf("%s's browser: %v %+v", name, err, p)
	}
	rest, _ := io.ReadAll(out)
	printed.Write(rest)
	if err := c.Wait(); err != nil || !strings.Contains(printed.String(), "Logged in as "+name+"@example.com") {
		t.Fatalf("ward up for %s: %v\n%s%s", name, err, printed.String(), errOut.String())
	}
}

// readLogin reads `ward up`'s output until it has shown the login link
// and code, copying it to printed.
func readLogin(out io.Reader, printed *strings.Builder) (link, code string) {
	codeRe := regexp.MustCompile(`confirm the code ([B-Z]{4}-[B-Z]{4})`)
	sc := bufio.NewScanner(out)
	for (link == "" || code == "") && sc.Scan() {
		line := sc.Text()
		printed.WriteString(line + "\n")
		if s := strings.TrimSpace(line); strings.HasPrefix(s, "http://") && strings.Contains(s, wire.PathLoginBrowser) {
			link = s
		}
		if m := codeRe.FindStringSubmatch(line); m != nil {
			code = m[1]
		}
	}
	return link, code
}

// quickCommand is one command of a run step and the output it must print.
type quickCommand struct {
	text   string
	expect []string
}

// parseCommands splits a run step into commands, joining continued lines.
func parseCommands(script string) []quickCommand {
	var out []quickCommand
	cont := false
	for _, line := range strings.Split(script, "\n") {
		switch trimmed := strings.TrimSpace(line); {
		case cont:
			out[len(out)-1].text += "\n" + line
		case strings.HasPrefix(trimmed, "# -> "):
			out[len(out)-1].expect = append(out[len(out)-1].expect, strings.TrimPrefix(trimmed, "# -> "))
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
		default:
			out = append(out, quickCommand{text: line})
		}
		cont = strings.HasSuffix(line, "\\")
	}
	return out
}

// runStep runs a run step until every command does what it should, for a
// minute at most.
func (q *quickStart) runStep(script string) {
	q.t.Helper()
	cmds := parseCommands(script)
	deadline := time.Now().Add(time.Minute)
	for {
		why := q.tryCommands(cmds)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			q.t.Fatalf("the quick start does not work as written:\n%s", why)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// tryCommands runs cmds in one shell and says what went wrong, if
// anything.
func (q *quickStart) tryCommands(cmds []quickCommand) string {
	var sb strings.Builder
	for i, c := range cmds {
		fmt.Fprintf(&sb, "{\n%s\n} 2>&1\necho \"@@quickstart $? %d\"\n", c.text, i)
	}
	out, _ := q.command(sb.String()).Output()
	parts := regexp.MustCompile(`(?m)^@@quickstart (\d+) (\d+)\n`).Split(string(out), -1)
	codes := regexp.MustCompile(`(?m)^@@quickstart (\d+) (\d+)$`).FindAllStringSubmatch(string(out), -1)
	if len(codes) != len(cmds) {
		return fmt.Sprintf("the shell stopped early:\n%s", out)
	}
	for i, c := range cmds {
		code, _ := strconv.Atoi(codes[i][1])
		for _, e := range c.expect {
			if !strings.Contains(parts[i], e) {
				return fmt.Sprintf("%s\nprinted %q; want %q", c.text, parts[i], e)
			}
		}
		if len(c.expect) == 0 && code != 0 {
			return fmt.Sprintf("%s\nexit status %d: %s", c.text, code, parts[i])
		}
	}
	return ""
}
