package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wardnet/ward/apicall"
	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/wire"
)

// registeredClient is a node's control client, registered with a
// pre-auth key.
func registeredClient(t *testing.T, f *fleet) *control.Client {
	t.Helper()
	mk, _ := wire.NewMachinePrivate()
	wk, _ := wire.NewWGPrivate()
	c, err := control.New(control.Config{URL: f.url(), AllowInsecureHTTP: true, MachineKey: mk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(t.Context(), wire.RegisterRequest{AuthKey: f.authKey("tag:camera"), WGKey: wk.Public(), Hostname: "cam"}); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestReleasePublishAdminOnlyServedToNodes publishes a repository through
// the admin API (audited; a node's session or no key is refused, and so
// is a path outside the repository), then reads it as a node: metadata by
// name, a target from an offset (Range, 206), nothing without a session;
// past the cap on concurrent downloads the coordinator answers 503 with
// Retry-After.
func TestReleasePublishAdminOnlyServedToNodes(t *testing.T) {
	f := newFleet(t, `{"tagOwners": {"tag:camera": []}}`, func(c *assembly.Config) { c.MaxTargetDownloads = 1 })
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB: outlasts the socket buffers
	p := wire.ReleasePublish{Metadata: map[string][]byte{"1.root.json": []byte(`{"signed":{}}`), "timestamp.json": []byte(`{"t":1}`)},
		Targets: map[string][]byte{"ward/linux-arm64/ward-2.0.0": []byte("new ward"), "fw/big.bin": big}}
	if code, body := f.Admin(http.MethodPost, wire.PathAdminReleases, p, nil); code != http.StatusNoContent {
		t.Fatalf("publish: %d %s", code, body)
	}
	bad := wire.ReleasePublish{Metadata: map[string][]byte{"../../etc/passwd": []byte("x")}}
	if code, body := f.Admin(http.MethodPost, wire.PathAdminReleases, bad, nil); code != http.StatusBadRequest {
		t.Fatalf("publish outside the repository: %d %s", code, body)
	}
	node := registeredClient(t, f)
	s, err := node.Session(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"", s.Token} {
		if code := rawPost(t, f.url()+wire.PathAdminReleases, tok, p); code != http.StatusUnauthorized {
			t.Errorf("publish with token %.8q: %d, want 401", tok, code)
		}
	}
	var audit []wire.AuditEvent
	f.Admin(http.MethodGet, wire.PathAdminAudit+"?action=release.publish", nil, &audit)
	if !strings.Contains(mustJSON(audit), "release.publish") {
		t.Errorf("no release.publish in the audit log: %s", mustJSON(audit))
	}

	if b := readTUF(t, node, "metadata/timestamp.json", 0); string(b) != `{"t":1}` {
		t.Errorf("timestamp.json = %q", b)
	}
	if b := readTUF(t, node, "targets/ward/linux-arm64/ward-2.0.0", 4); string(b) != "ward" {
		t.Errorf("target from offset 4 = %q, want %q", b, "ward")
	}
	if code := rawGet(t, f.url()+wire.PathTUF+"metadata/timestamp.json", ""); code != http.StatusUnauthorized {
		t.Errorf("metadata without a session: %d, want 401", code)
	}
	if _, err := node.GetTUF(t.Context(), "metadata/2.root.json", 0); !isStatusErr(err, http.StatusNotFound) {
		t.Errorf("missing metadata: %v, want 404", err)
	}

	held, err := node.GetTUF(t.Context(), "targets/fw/big.bin", 0) // not read: it holds the one slot
	if err != nil {
		t.Fatal(err)
	}
	defer held.Body.Close()
	_, err = node.GetTUF(t.Context(), "targets/ward/linux-arm64/ward-2.0.0", 0)
	var ae *apicall.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.RetryAfter <= 0 {
		t.Fatalf("a second download past the cap: %v, want 503 with Retry-After", err)
	}
}

func readTUF(t *testing.T, c *control.Client, rel string, offset int64) []byte {
	t.Helper()
	resp, err := c.GetTUF(t.Context(), rel, offset)
	if err != nil {
		t.Fatalf("get %s: %v", rel, err)
	}
	defer resp.Body.Close()
	if offset > 0 && resp.StatusCode != http.StatusPartialContent {
		t.Errorf("get %s from %d: %d, want 206", rel, offset, resp.StatusCode)
	}
	b, _ := io.ReadAll(resp.Body)
	return b
}

func isStatusErr(err error, code int) bool {
	var ae *apicall.Error
	return errors.As(err, &ae) && ae.Status == code
}

func rawPost(t *testing.T, url, token string, body any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func rawGet(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestTargetDownloadsOneSlotPerNode: a hostile node that opens target
// downloads and never reads them holds one of the coordinator's download
// slots, not all of them: its second download is refused with 503, and
// another node still downloads.
func TestTargetDownloadsOneSlotPerNode(t *testing.T) {
	f := newFleet(t, `{"tagOwners": {"tag:camera": []}}`, func(c *assembly.Config) { c.MaxTargetDownloads = 2 })
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB: outlasts the socket buffers
	p := wire.ReleasePublish{Metadata: map[string][]byte{"timestamp.json": []byte(`{"t":1}`)},
		Targets: map[string][]byte{"fw/small.bin": []byte("small"), "fw/big.bin": big}}
	if code, body := f.Admin(http.MethodPost, wire.PathAdminReleases, p, nil); code != http.StatusNoContent {
		t.Fatalf("publish: %d %s", code, body)
	}
	hostile, honest := registeredClient(t, f), registeredClient(t, f)
	held, err := hostile.GetTUF(t.Context(), "targets/fw/big.bin", 0) // never read
	if err != nil {
		t.Fatal(err)
	}
	defer held.Body.Close()
	if second, err := hostile.GetTUF(t.Context(), "targets/fw/big.bin", 0); err == nil {
		second.Body.Close()
		t.Errorf("the hostile node's second download was served: it may hold every slot")
	} else if !isStatusErr(err, http.StatusServiceUnavailable) {
		t.Errorf("the hostile node's second download: %v, want 503", err)
	}
	if b := readTUF(t, honest, "targets/fw/small.bin", 0); string(b) != "small" {
		t.Errorf("another node's download = %q, want %q", b, "small")
	}
}
