// Package pgtest runs a real PostgreSQL server for a test binary: Debian's
// postgresql package, started by the test itself in a temporary directory,
// as an unprivileged user when the test runs as root, listening only on a
// unix socket in that directory. Main starts one server per test binary
// (from TestMain) and stops and removes it at the end; NewDB gives each
// test its own database.
//
// When PostgreSQL cannot be started (the package is missing, or the server
// does not come up), Main says so loudly and NewDB skips the test, or fails
// it under CI=true, since `make test` installs the package (.ci/run sets
// CI=true).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wardnet/ward/internal/needtool"
)

// BinGlob is where the harness looks for Debian's PostgreSQL programs; the
// highest version found wins.
const BinGlob = "/usr/lib/postgresql/*/bin"

// startTimeout bounds how long the server may take to accept connections.
const startTimeout = 90 * time.Second

// superuser is the role initdb makes and the tests connect as.
const superuser = "ward"

// Server is a running PostgreSQL cluster in a temporary directory.
type Server struct {
	dir  string    // the temporary directory: data/ and the socket
	cmd  *exec.Cmd // the postmaster
	done chan error
}

// Main's server, started by the first NewDB.
var (
	startOnce sync.Once
	mainRuns  atomic.Bool // Main is running the tests
	current   *Server     // set once by startOnce; nil when it could not start
	startErr  error       // set once by startOnce: why it could not
)

// dbSeq numbers the databases NewDB makes.
var dbSeq atomic.Int64

// Main runs the tests and stops the server the first NewDB started, so a
// test binary that needs no database (or a child process it re-executes)
// starts none. Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	mainRuns.Store(true)
	code := m.Run()
	startOnce.Do(func() { startErr = errors.New("not started") })
	if current != nil {
		if err := current.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop postgres: %v\n", err)
		}
	}
	return code
}

// banner prints a message no one can miss: the PostgreSQL tests will skip.
func banner(err error) {
	line := strings.Repeat("#", 72)
	fmt.Fprintf(os.Stderr, "\n%s\n#  POSTGRESQL TESTS WILL SKIP (FAIL UNDER CI=true): %v\n#  install Debian's postgresql package (make test does) and run again\n%s\n\n", line, err, line)
}

// NewDB creates an empty database for t on the binary's server, drops it
// at t's cleanup and returns its URL. It skips t (fails it under CI=true)
// when no server runs.
func NewDB(t testing.TB) string {
	t.Helper()
	if !mainRuns.Load() {
		t.Fatal("pgtest.NewDB needs TestMain to call pgtest.Main")
	}
	startOnce.Do(func() {
		if current, startErr = Start(); startErr != nil {
			banner(startErr)
		}
	})
	if current == nil {
		err := startErr
		needtool.Missing(t, os.Getenv("CI"), fmt.Sprintf("POSTGRESQL TEST SKIPPED: no PostgreSQL server: %v", err))
		return ""
	}
	name := fmt.Sprintf("t%d", dbSeq.Add(1))
	if err := current.admin(fmt.Sprintf("CREATE DATABASE %s", name)); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := current.admin(fmt.Sprintf("DROP DATABASE %s WITH (FORCE)", name)); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return current.URL(name)
}

// URL returns the connection URL of database name on s.
func (s *Server) URL(name string) string {
	q := url.Values{"host": {s.dir}, "sslmode": {"disable"}}
	return (&url.URL{Scheme: "postgres", User: url.User(superuser), Path: "/" + name, RawQuery: q.Encode()}).String()
}

// admin runs one statement on the maintenance database.
func (s *Server) admin(stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return err
	}
	_, err = c.Exec(ctx, stmt)
	return errors.Join(err, c.Close(ctx))
}

// Start initializes a cluster in a new temporary directory and starts its
// server. Stop it when done.
func Start() (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ward-pg-")
	if err != nil {
		return nil, fmt.Errorf("make temp dir: %w", err)
	}
	s := &Server{dir: dir, done: make(chan error, 1)}
	if err := s.start(bin); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

// start runs initdb as the unprivileged user, then the postmaster, and
// waits until it accepts connections.
func (s *Server) start(bin string) error {
	cred, err := dropPrivileges(s.dir)
	if err != nil {
		return err
	}
	data := filepath.Join(s.dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", superuser,
		"--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C")
	initdb.Dir = s.dir
	cred(initdb)
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, out)
	}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", s.dir,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=16MB")
	s.cmd.Dir = s.dir
	log, err := os.Create(filepath.Join(s.dir, "postgres.log"))
	if err != nil {
		return fmt.Errorf("create server log: %w", err)
	}
	defer log.Close()
	s.cmd.Stdout, s.cmd.Stderr = log, log
	cred(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	return s.waitReady()
}

// waitReady polls until the server accepts a connection, it exits, or
// startTimeout passes.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.admin("SELECT 1")
		if err == nil {
			return nil
		}
		select {
		case werr := <-s.done:
			s.done <- werr
			logText, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
			return fmt.Errorf("postgres exited: %v: %s", werr, logText)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready after %s: %w", startTimeout, err)
		}
	}
}

// Stop shuts the server down (fast shutdown, then kill) and removes its
// directory. It is safe on a server that did not start.
func (s *Server) Stop() error {
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		err = s.shutdown()
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}

// shutdown asks the postmaster for a fast shutdown and waits for it.
func (s *Server) shutdown() error {
	if err := interrupt(s.cmd.Process); err != nil {
		return errors.Join(err, s.cmd.Process.Kill())
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(30 * time.Second):
		return errors.Join(errors.New("postgres did not stop in 30s"), s.cmd.Process.Kill())
	}
}

// findBin returns the newest directory of PostgreSQL programs.
func findBin() (string, error) {
	dirs, err := filepath.Glob(BinGlob)
	if err != nil {
		return "", err
	}
	dirs = slices.DeleteFunc(dirs, func(d string) bool {
		_, err := os.Stat(filepath.Join(d, "initdb"))
		return err != nil
	})
	if len(dirs) == 0 {
		return "", fmt.Errorf("no PostgreSQL programs at %s", BinGlob)
	}
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(a) - versionOf(b) })
	return dirs[len(dirs)-1], nil
}

// versionOf reads the major version out of /usr/lib/postgresql/N/bin.
func versionOf(dir string) int {
	var v int
	fmt.Sscanf(filepath.Base(filepath.Dir(dir)), "%d", &v)
	return v
}
