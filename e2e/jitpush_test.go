package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// jitLaptop starts a fleet running jitPolicy with cam1 and alice's
// logged-in laptop, and returns them with the camera's ssh port.
func jitLaptop(t *testing.T) (*fleet, *laptop, uint16) {
	t.Helper()
	ssh := echoServer(t)
	f := newFleet(t, jitPolicy(ssh), nil)
	f.startAgent("cam1", f.authKey("tag:camera"), "", agentOpts{expose: []uint16{ssh}})
	l := f.startLaptop(t, "alice-laptop")
	if res, _ := l.login(t, devidptest.Credentials{Username: "alice", Password: "alice", OTP: "123456"}); res.Error != "" {
		t.Fatalf("alice's login: %+v", res)
	}
	return f, l, ssh
}

// statusPage returns the laptop's status page URL (token included).
func (l *laptop) statusPage(t *testing.T) *url.URL {
	t.Helper()
	st, err := l.api.Status(t.Context())
	if err != nil || st.Person == nil || st.Person.WebURL == "" {
		t.Fatalf("status: %+v, %v", st, err)
	}
	u, _ := url.Parse(st.Person.WebURL)
	return u
}

// postPage posts form to the status page's path with the given Origin
// and Sec-Fetch-Site (empty: none), as a browser would; it returns the
// status and body without following redirects.
func postPage(t *testing.T, page *url.URL, path, origin, site string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", page.String()+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if site != "" {
		req.Header.Set("Sec-Fetch-Site", site)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// getPage returns the status page's body.
func getPage(t *testing.T, page *url.URL) string {
	t.Helper()
	resp, err := http.Get(page.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestStatusPageFilesAccessRequest pins issue 17's request button on the
// laptop's status page, through the daemon's real local HTTP server: a
// forged cross-origin form (a web page the person visits that learned
// the token) is refused and files nothing; the page's own form files
// the same request as `ward request`, one per port, and the page lists
// it with its state once the coordinator pushes it.
func TestStatusPageFilesAccessRequest(t *testing.T) {
	f, l, ssh := jitLaptop(t)
	page := l.statusPage(t)
	form := url.Values{"device": {"cam1"}, "ports": {fmt.Sprint(ssh)}, "duration": {"30m"}, "reason": {"INC-77"}}
	for _, forged := range []struct{ origin, site string }{{"http://evil.example", ""}, {"", "cross-site"}, {"http://evil.example", "cross-site"}} {
		if code, _ := postPage(t, page, "request", forged.origin, forged.site, form); code != http.StatusForbidden {
			t.Errorf("forged request form (Origin %q, Sec-Fetch-Site %q): %d, want 403", forged.origin, forged.site, code)
		}
	}
	var rs []wire.AccessRequest
	if code, _ := f.Admin("GET", wire.PathAdminRequests, nil, &rs); code != 200 || len(rs) != 0 {
		t.Fatalf("requests after the forged forms: %d %+v; want none", code, rs)
	}
	if code, body := postPage(t, page, "request", "http://"+page.Host, "same-origin", url.Values{"device": {"cam1"}, "ports": {"22x"}, "duration": {"30m"}}); code != http.StatusBadRequest || !strings.Contains(body, "is not a port") {
		t.Errorf("a bad port: %d, want 400 naming it", code)
	}
	if code, body := postPage(t, page, "request", "http://"+page.Host, "same-origin", form); code != http.StatusSeeOther {
		t.Fatalf("the page's own form: %d, want 303\n%s", code, body)
	}
	if code, _ := f.Admin("GET", wire.PathAdminRequests, nil, &rs); code != 200 || len(rs) != 1 ||
		rs[0].Requester != "alice@example.com" || rs[0].Device != "cam1" || rs[0].Port != ssh || rs[0].Reason != "INC-77" || rs[0].Status != "pending" {
		t.Fatalf("requests after the page's form: %d %+v", code, rs)
	}
	row := fmt.Sprintf(`id="request-%d"`, rs[0].ID)
	var body string
	waitFor(t, "the page lists the pending request", func() bool {
		body = getPage(t, page)
		return strings.Contains(body, row) && strings.Contains(body, fmt.Sprintf("cam1:%d/tcp", ssh))
	})
	if !strings.Contains(body, `action="/t/`) || strings.Contains(body, "<script>") {
		t.Errorf("the page's form or scripts:\n%s", body)
	}
}

// TestRequesterSeesDecisionAtOnce pins issue 17's "the requester sees the
// decision at once": `ward requests --watch` reads the running client,
// whose map the coordinator pushes the decision into, and prints
// "approved until 15:04 by carol@example.com" once carol approves through
// the admin API; the status page shows it too; `ward request --wait`
// ends with the decision (a denial exits non-zero).
func TestRequesterSeesDecisionAtOnce(t *testing.T) {
	f, l, ssh := jitLaptop(t)
	carol := f.approver(t, devidptest.Credentials{Username: "carol", Password: "carol"})
	lines := watchLines(t, "requests", "--watch", "--state-dir", l.dir)

	id := f.request(t, l, ssh, "30m")
	want := fmt.Sprintf("request %d: cam1:%d/tcp ", id, ssh)
	waitLine(t, lines, want+"pending; approvers: group:oncall")
	r := carol.decide(t, id, "approve")
	line := waitLine(t, lines, want+"approved until ")
	if exp := want + "approved until " + r.Expires.Local().Format("15:04") + " by carol@example.com"; line != exp {
		t.Errorf("watch printed %q, want %q", line, exp)
	}
	page := l.statusPage(t)
	if body := getPage(t, page); !strings.Contains(body, "approved until "+r.Expires.Local().Format("15:04")+" by carol@example.com") {
		t.Errorf("the status page does not show the approval:\n%s", body)
	}

	// ward request --wait: the decision ends it.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), "request", fmt.Sprintf("cam1:%d", ssh), "--for", "5m", "--reason", "INC-9",
		"--state-dir", l.dir, "--dev-insecure-http", "--wait")
	out := &lockedWriter{w: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var id2 int64
	waitFor(t, "ward request --wait files its request", func() bool {
		_, err := fmt.Sscanf(out.String(), "request %d:", &id2)
		return err == nil
	})
	carol.decide(t, id2, "deny")
	select {
	case err := <-done:
		if err == nil || !regexp.MustCompile(fmt.Sprintf(`request %d: cam1:%d/tcp denied by carol@example.com`, id2, ssh)).MatchString(out.String()) {
			t.Errorf("ward request --wait after a denial: %v\n%s", err, out)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("ward request --wait did not end after the denial:\n%s", out)
	}
}

// watchLines runs ward with args and returns its output lines; the
// process is killed when the test ends.
func watchLines(t *testing.T, args ...string) <-chan string {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errOut := &strings.Builder{}
	cmd.Stderr = errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("ward %s stderr: %s", strings.Join(args, " "), errOut)
		}
	})
	return lines
}

// waitLine returns the first line from lines that starts with prefix,
// within a generous deadline.
func waitLine(t *testing.T, lines <-chan string, prefix string) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the watch ended before printing %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("no line %q within 20s", prefix)
		}
	}
}
