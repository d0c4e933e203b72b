package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/apicall"
	"github.com/wardnet/ward/release"
	"github.com/wardnet/ward/wire"
)

// fleetRepo is the admin's offline key directory and repository.
type fleetRepo struct{ keys, repo string }

func newFleetRepo(t *testing.T) *fleetRepo {
	t.Helper()
	r := &fleetRepo{keys: filepath.Join(t.TempDir(), "keys"), repo: filepath.Join(t.TempDir(), "repo")}
	if err := release.Keygen(r.keys, r.repo, release.DefaultExpiry(), time.Now()); err != nil {
		t.Fatal(err)
	}
	return r
}

// sign signs content as target path with c, at now.
func (r *fleetRepo) sign(t *testing.T, path string, content []byte, c release.Custom, now time.Time) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := release.Sign(r.keys, r.repo, &release.Target{Path: path, File: f, Custom: c}, release.DefaultExpiry(), now); err != nil {
		t.Fatal(err)
	}
}

// files reads the repository as the coordinator would serve it.
func (r *fleetRepo) files(t *testing.T) map[string][]byte {
	t.Helper()
	f, err := release.Load(r.repo, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for n, b := range f.Metadata {
		out["metadata/"+n] = b
	}
	for p, b := range f.Targets {
		out["targets/"+p] = b
	}
	return out
}

// key reads a role's private key from the key directory, as an attacker
// who stole it would hold it.
func (r *fleetRepo) key(t *testing.T, role string) ed25519.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.keys, role+".key"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(ed25519.PrivateKey)
}

// server is a coordinator's TUF repository on loopback HTTP as whoever
// controls it serves it: the tests change its files to attack the device.
// It speaks Range like the coordinator (http.ServeContent).
type server struct {
	srv *httptest.Server

	mu      sync.Mutex // mu guards the following
	files   map[string][]byte
	reports []wire.UpdateReport
	// cutTargets cuts that many target answers half-way (the connection
	// closed mid-body).
	cutTargets int
	// ranges records the Range headers of target requests.
	ranges []string
	// busy answers that many target requests 503 with Retry-After.
	busy int
	// stallTargets sends half of that many target answers, then nothing.
	stallTargets int
}

func newServer(t *testing.T) *server {
	s := &server{files: map[string][]byte{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *server) set(files map[string][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files = maps.Clone(files)
}

func (s *server) edit(fn func(files map[string][]byte)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.files)
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	rel := strings.TrimPrefix(r.URL.Path, "/")
	s.mu.Lock()
	b, ok := s.files[rel]
	target := strings.HasPrefix(rel, "targets/")
	cut, busy, stall := false, false, false
	if target {
		s.ranges = append(s.ranges, r.Header.Get("Range"))
		if busy = s.busy > 0; busy {
			s.busy--
		} else if cut = s.cutTargets > 0 && ok; cut {
			s.cutTargets--
		} else if stall = s.stallTargets > 0 && ok; stall {
			s.stallTargets--
		}
	}
	s.mu.Unlock()
	switch {
	case !ok:
		http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
	case busy:
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
	case cut:
		cutHalfway(w, b)
	case stall:
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		<-r.Context().Done() // until the device gives up
	default:
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	}
}

// cutHalfway announces all of b, sends half and drops the connection.
func cutHalfway(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b[:len(b)/2])
	w.(http.Flusher).Flush()
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close() // a FIN: the half sent arrives whole
	}
}

// GetTUF implements Coordinator over real HTTP.
func (s *server) GetTUF(ctx context.Context, rel string, offset int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.srv.URL+"/"+rel, nil)
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		return nil, apicall.Unreachable(ctx, "coordinator", err)
	}
	if err := apicall.Check(resp, "coordinator"); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// UpdateAssignment implements Coordinator: the tests call Apply.
func (s *server) UpdateAssignment(context.Context) (*wire.UpdateAssignment, error) { return nil, nil }

// UpdateReport implements Coordinator: it keeps the reports.
func (s *server) UpdateReport(_ context.Context, r wire.UpdateReport) error {
	if err := r.Check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports = append(s.reports, r)
	return nil
}

// last returns the last report.
func (s *server) last(t *testing.T) wire.UpdateReport {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reports) == 0 {
		t.Fatal("no report")
	}
	return s.reports[len(s.reports)-1]
}

// device is a provisioned device: its state directory trusts repo's root.
type device struct {
	dir string
	u   *Updater
	// installed is where the artifacts' install command copies the file.
	installed string
}

func newDevice(t *testing.T, repo *fleetRepo, src Coordinator, version string, d Device) *device {
	t.Helper()
	dir := t.TempDir()
	if err := InstallRoot(dir, filepath.Join(repo.repo, release.MetadataDir, "1.root.json")); err != nil {
		t.Fatal(err)
	}
	u, err := New(Config{StateDir: dir, Coordinator: src, Version: version, Device: d, Exe: filepath.Join(dir, "ward"),
		Backoff: Backoff{Min: 10 * time.Millisecond, Max: 100 * time.Millisecond, Tries: 5, Stall: 500 * time.Millisecond},
		Joined:  func(context.Context, time.Duration) bool { return true }, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	return &device{dir: dir, u: u, installed: filepath.Join(dir, "installed")}
}

// camera is the device the attack tests run against.
var camera = Device{GOOS: "linux", GOARCH: "arm64", Model: "cam-v2"}

// artifact is camera firmware of version v, installed by copying it.
func artifact(v string) release.Custom {
	return release.Custom{Version: v, Kind: wire.UpdateKindArtifact, GOOS: "linux", GOARCH: "arm64", Model: "cam-v2",
		Install: `cp "$WARD_UPDATE_FILE" installed`}
}

// firmware is firmware v's content.
func firmware(v string) []byte { return bytes.Repeat([]byte("firmware "+v+"\n"), 4096) }
