package watch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/wire"
)

const failed = "Failed password"

// rig is a Watcher over files in a temporary directory.
type rig struct {
	t     *testing.T
	dir   string // the watched files' directory
	state string // the state directory
	w     *Watcher
	cfg   wire.WatchConfig
	now   time.Time
}

func newRig(t *testing.T, cfg func(dir string) wire.WatchConfig) *rig {
	dir := t.TempDir()
	r := &rig{t: t, dir: dir, state: t.TempDir(), cfg: cfg(dir), now: time.Now()}
	r.restart()
	return r
}

// restart starts a new Watcher on the same state directory (the old one
// closed, as a node stopping does).
func (r *rig) restart() {
	r.t.Helper()
	if r.w != nil {
		if err := r.w.Close(); err != nil {
			r.t.Fatal(err)
		}
	}
	r.w = New(Config{StateDir: r.state, Rehash: time.Hour, LogsUnder: []string{r.dir}})
	r.w.SetConfig(r.cfg)
	r.t.Cleanup(func() { r.w.Close() })
}

// poll polls once, a second after the last poll, and returns what was
// queued since the last take, taking it.
func (r *rig) poll() []wire.WatchEvent {
	r.t.Helper()
	r.now = r.now.Add(time.Second)
	r.w.Poll(r.now)
	if err := r.w.Save(); err != nil {
		r.t.Fatal(err)
	}
	return r.take()
}

// take returns the pending events and marks them sent.
func (r *rig) take() []wire.WatchEvent {
	var out []wire.WatchEvent
	for {
		b := r.w.Pending()
		if len(b.Events) == 0 {
			return out
		}
		out = append(out, b.Events...)
		r.w.Sent(len(b.Events), false)
	}
}

// lines returns the lines of log events.
func lines(evs []wire.WatchEvent) []string {
	var out []string
	for _, e := range evs {
		if e.Kind == wire.WatchLogMatch {
			out = append(out, e.Line)
		}
	}
	return out
}

func (r *rig) path(name string) string { return filepath.Join(r.dir, name) }

func (r *rig) appendTo(name, s string) {
	r.t.Helper()
	f, err := os.OpenFile(r.path(name), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		r.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) wantLines(what string, want ...string) {
	r.t.Helper()
	if diff := cmp.Diff(want, lines(r.poll())); diff != "" {
		r.t.Errorf("%s: lines (-want +got):\n%s", what, diff)
	}
}

func logRig(t *testing.T) *rig {
	return newRig(t, func(dir string) wire.WatchConfig {
		return wire.WatchConfig{Logs: []wire.WatchLog{{Path: filepath.Join(dir, "auth.log"), Match: []string{failed, "^Invalid user"}}}}
	})
}

// TestWatchFollowAppend: lines already in the log when it is first
// followed are not news; appended lines matching either expression are
// reported once each, an unterminated line only once it is whole.
func TestWatchFollowAppend(t *testing.T) {
	r := logRig(t)
	r.appendTo("auth.log", "old: "+failed+" for root\n")
	r.wantLines("first look")
	r.appendTo("auth.log", "1 "+failed+" for root\nnothing\nInvalid user bob\n2 "+failed)
	r.wantLines("appended", "1 "+failed+" for root", "Invalid user bob")
	r.wantLines("nothing new")
	r.appendTo("auth.log", " for alice\r\n")
	r.wantLines("the line completed", "2 "+failed+" for alice")
}

// TestWatchFollowRotation: a log renamed away and made anew (logrotate's
// create) loses no line: what was written to the old file after the last
// poll, its unterminated last line included, is read from the open file,
// then the new file from its start.
func TestWatchFollowRotation(t *testing.T) {
	r := logRig(t)
	r.appendTo("auth.log", "")
	r.wantLines("first look")
	r.appendTo("auth.log", "1 "+failed+"\n")
	r.wantLines("before", "1 "+failed)
	r.appendTo("auth.log", "2 "+failed+"\n3 "+failed)
	if err := os.Rename(r.path("auth.log"), r.path("auth.log.1")); err != nil {
		t.Fatal(err)
	}
	r.appendTo("auth.log.1", " (late)\n") // a writer still holding the old file
	r.appendTo("auth.log", "4 "+failed+"\n")
	r.wantLines("across the rotation", "2 "+failed, "3 "+failed+" (late)", "4 "+failed)
	r.appendTo("auth.log", "5 "+failed+"\n")
	r.wantLines("after", "5 "+failed)
}

// TestWatchFollowCopyTruncate: a log copied and truncated in place
// (logrotate's copytruncate) is read again from its start.
func TestWatchFollowCopyTruncate(t *testing.T) {
	r := logRig(t)
	r.appendTo("auth.log", "")
	r.wantLines("first look")
	r.appendTo("auth.log", "1 "+failed+" for a long user name\n")
	r.wantLines("before", "1 "+failed+" for a long user name")
	if err := os.Truncate(r.path("auth.log"), 0); err != nil {
		t.Fatal(err)
	}
	r.appendTo("auth.log", "2 "+failed+"\n")
	r.wantLines("after the truncation", "2 "+failed)
}

// TestWatchFollowRestart: a node stopping with matched lines not yet sent,
// lines written while it is down and a rotation while it is down (the
// old file's last lines found under its new name): after the restart
// every line is reported exactly once.
func TestWatchFollowRestart(t *testing.T) {
	r := logRig(t)
	r.appendTo("auth.log", "")
	r.wantLines("first look")
	r.appendTo("auth.log", "1 "+failed+"\n")
	r.now = r.now.Add(time.Second)
	r.w.Poll(r.now) // queued, never sent
	r.restart()
	r.appendTo("auth.log", "2 "+failed+"\n")
	r.wantLines("after a restart", "1 "+failed, "2 "+failed)
	r.restart()
	r.wantLines("after a second restart")
	r.restart()
	r.appendTo("auth.log", "3 "+failed+"\n")
	if err := os.Rename(r.path("auth.log"), r.path("auth.log.1")); err != nil {
		t.Fatal(err)
	}
	r.appendTo("auth.log", "4 "+failed+"\n")
	r.restart()
	r.wantLines("a rotation while down", "3 "+failed, "4 "+failed)
	r.wantLines("after it")
}

// TestWatchFollowLongLine: a line longer than the read buffer is matched
// once on its head and reported cut to the wire bound; the lines after it
// are read as usual.
func TestWatchFollowLongLine(t *testing.T) {
	r := logRig(t)
	r.appendTo("auth.log", "")
	r.wantLines("first look")
	long := failed + " " + strings.Repeat("é", maxLine) // two bytes a character
	r.appendTo("auth.log", long+"\nInvalid user x\n")
	got := lines(r.poll())
	if len(got) != 2 || len(got[0]) > wire.MaxWatchLine || len(got[0]) < wire.MaxWatchLine-1 || !strings.HasPrefix(got[0], failed) ||
		got[1] != "Invalid user x" {
		t.Fatalf("lines %d: %.40q...", len(got), got)
	}
}

// TestWatchRateAndQueueBounds: matching lines over the rate are dropped
// and counted; when the queue is full the log is not read further, and
// the lines left are read once there is room.
func TestWatchRateAndQueueBounds(t *testing.T) {
	r := logRig(t)
	r.appendTo("auth.log", "")
	r.wantLines("first look")
	r.appendTo("auth.log", strings.Repeat(failed+"\n", matchBurst+10))
	r.now = r.now.Add(time.Second)
	r.w.Poll(r.now)
	if b := r.w.Pending(); len(b.Events) != min(matchBurst, wire.MaxWatchEvents) || len(r.w.st.Pending) != matchBurst || b.Dropped != 10 {
		t.Fatalf("%d queued, %d dropped; want %d and 10", len(r.w.st.Pending), b.Dropped, matchBurst)
	}
	r.take()
	r.w.st.Pending = make([]wire.WatchEvent, MaxPending) // full: the coordinator is away
	r.now = r.now.Add(time.Hour)
	r.appendTo("auth.log", "1 "+failed+"\n")
	r.w.Poll(r.now)
	if len(r.w.st.Pending) != MaxPending {
		t.Fatalf("queue over its bound: %d", len(r.w.st.Pending))
	}
	r.w.st.Pending = nil
	r.wantLines("with room again", "1 "+failed)
}

// TestWatchUnreadableReported: a log and a file that cannot be read are
// reported (once), and the rest is watched all the same.
func TestWatchUnreadableReported(t *testing.T) {
	r := newRig(t, func(dir string) wire.WatchConfig {
		return wire.WatchConfig{Logs: []wire.WatchLog{{Path: filepath.Join(dir, "plain", "auth.log"), Match: []string{failed}},
			{Path: filepath.Join(dir, "auth.log"), Match: []string{failed}}},
			Files: []string{filepath.Join(dir, "plain", "passwd"), filepath.Join(dir, "fw")}}
	})
	r.appendTo("plain", "a file, so nothing under it can be read\n")
	r.appendTo("auth.log", "")
	evs := r.poll()
	var got []string
	for _, e := range evs {
		got = append(got, e.Change+" "+strings.TrimPrefix(e.Path, r.dir)+": "+e.Error)
	}
	want := []string{"unreadable /plain/auth.log: not a directory", "unreadable /plain/passwd: not a directory"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("unreadable (-want +got):\n%s", diff)
	}
	r.appendTo("auth.log", failed+"\n")
	r.wantLines("the readable log", failed)
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestWatchHashChanges: the first look is the baseline; then a modified,
// an added and a removed file of a watched directory and a modified
// watched file are reported with their old and new SHA-256; a change that
// keeps size and time is found at the full rehash; the hashes survive a
// restart, and a change while the node was down is found after it.
func TestWatchHashChanges(t *testing.T) {
	r := newRig(t, func(dir string) wire.WatchConfig {
		return wire.WatchConfig{Files: []string{filepath.Join(dir, "fw"), filepath.Join(dir, "passwd")}}
	})
	write := func(name, s string) {
		if err := os.WriteFile(r.path(name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(r.path("fw"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(r.path("fw/sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	write("fw/a", "a1")
	write("fw/b", "b1")
	write("passwd", "root:x:0:0")
	if evs := r.poll(); len(evs) != 0 {
		t.Fatalf("baseline reported %+v", evs)
	}
	write("fw/a", "a2")
	write("fw/c", "c1")
	write("fw/sub/d", "not watched: below the directory's files")
	os.Remove(r.path("fw/b"))
	write("passwd", "root:x:0:0\nmallory:x:0:0")
	type change struct{ Path, Change, Old, New string }
	got := func() []change {
		var out []change
		for _, e := range r.poll() {
			out = append(out, change{strings.TrimPrefix(e.Path, r.dir), e.Change, e.OldSHA256, e.NewSHA256})
		}
		return out
	}
	want := []change{{"/fw/a", wire.WatchModified, sha("a1"), sha("a2")}, {"/fw/c", wire.WatchAdded, "", sha("c1")},
		{"/fw/b", wire.WatchRemoved, sha("b1"), ""}, {"/passwd", wire.WatchModified, sha("root:x:0:0"), sha("root:x:0:0\nmallory:x:0:0")}}
	if diff := cmp.Diff(want, got()); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	fi, _ := os.Stat(r.path("fw/a"))
	write("fw/a", "a3") // same size, time put back
	os.Chtimes(r.path("fw/a"), fi.ModTime(), fi.ModTime())
	if diff := cmp.Diff([]change(nil), got()); diff != "" {
		t.Errorf("size and time unchanged, before the rehash (-want +got):\n%s", diff)
	}
	r.now = r.now.Add(2 * time.Hour)
	if diff := cmp.Diff([]change{{"/fw/a", wire.WatchModified, sha("a2"), sha("a3")}}, got()); diff != "" {
		t.Errorf("at the full rehash (-want +got):\n%s", diff)
	}
	r.restart()
	if diff := cmp.Diff([]change(nil), got()); diff != "" {
		t.Errorf("after a restart, nothing changed (-want +got):\n%s", diff)
	}
	r.restart()
	write("passwd", "root:x:0:0")
	if diff := cmp.Diff([]change{{"/passwd", wire.WatchModified, sha("root:x:0:0\nmallory:x:0:0"), sha("root:x:0:0")}}, got()); diff != "" {
		t.Errorf("changed while down (-want +got):\n%s", diff)
	}
}

// TestWatchWakerWakesOnAppend: appending to a followed log, and making
// it anew after a rotation, wakes the watch loop through the system's
// file notifications, without waiting for the next poll.
func TestWatchWakerWakesOnAppend(t *testing.T) {
	r := logRig(t)
	r.appendTo("auth.log", "")
	k := NewWaker(nil)
	if k.w == nil {
		t.Fatal("no file notifications (inotify) on this system")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { k.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	k.Watch(r.cfg)
	woken := func(what string) {
		t.Helper()
		select {
		case <-k.C:
		case <-time.After(20 * time.Second):
			t.Fatalf("not woken by %s", what)
		}
	}
	drain := func() {
		for {
			select {
			case <-k.C:
			case <-time.After(200 * time.Millisecond):
				return
			}
		}
	}
	drain()
	r.appendTo("auth.log", failed+"\n")
	woken("an append")
	drain()
	if err := os.Rename(r.path("auth.log"), r.path("auth.log.1")); err != nil {
		t.Fatal(err)
	}
	woken("a rotation")
	drain()
	r.appendTo("auth.log", failed+"\n")
	woken("the new file")
}

// TestWatchLogOutsideAllowedDirsNotRead: a log the coordinator names
// outside the node's allowed directories, directly or through a symlink
// inside them, is never read: no line of it leaves the node, and it is
// reported once as refused (a compromised coordinator must not read
// /etc/shadow through a watch rule).
func TestWatchLogOutsideAllowedDirsNotRead(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "shadow")
	r := newRig(t, func(dir string) wire.WatchConfig {
		return wire.WatchConfig{Logs: []wire.WatchLog{
			{Path: secret, Match: []string{"."}},
			{Path: filepath.Join(dir, "link.log"), Match: []string{"."}},
		}}
	})
	if err := os.WriteFile(secret, []byte("root:$6$hash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, r.path("link.log")); err != nil {
		t.Fatal(err)
	}
	evs := r.poll()
	f, err := os.OpenFile(secret, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("alice:$6$another\n" + failed + "\n")
	f.Close()
	evs = append(evs, r.poll()...)
	evs = append(evs, r.poll()...)
	if got := lines(evs); len(got) != 0 {
		t.Fatalf("lines of a file outside the allowed directories were sent: %q", got)
	}
	refused := map[string]int{}
	for _, e := range evs {
		if e.Change == wire.WatchUnreadable && strings.Contains(e.Error, "--watch-logs-under") {
			refused[e.Path]++
		}
	}
	if refused[secret] != 1 || refused[r.path("link.log")] != 1 {
		t.Errorf("refusals %v; want each log reported once", refused)
	}
}
