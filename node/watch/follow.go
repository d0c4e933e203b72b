package watch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wardnet/ward/wire"
)

// logState is where a followed log stands: the file (device and inode;
// both 0 where the system has none, or when the log did not exist) and
// the offset of the first byte not yet read.
type logState struct {
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
	Offset int64  `json:"offset"`
	// Skip tells that the bytes at Offset end a line over maxLine whose
	// head was already matched.
	Skip bool `json:"skip,omitempty"`
}

// follower follows one log file.
type follower struct {
	path string
	res  []*regexp.Regexp
	// f is the open log, nil when none; fi is its info at open.
	f  *os.File
	fi os.FileInfo
	// rd reads f from the offset; its buffer bounds a line.
	rd *bufio.Reader
	// lastErr is the open error last reported, so it is reported once.
	lastErr string
}

func newFollower(l wire.WatchLog) (*follower, error) {
	fl := &follower{path: l.Path}
	for _, m := range l.Match {
		re, err := regexp.Compile(m)
		if err != nil {
			return nil, fmt.Errorf("match %q: %w", m, err)
		}
		fl.res = append(fl.res, re)
	}
	if len(fl.res) == 0 {
		return nil, errors.New("no expression")
	}
	return fl, nil
}

func (fl *follower) close() {
	if fl.f != nil {
		fl.f.Close()
		fl.f, fl.fi = nil, nil
	}
}

// follow reads what fl's log gained since the last poll. When the path
// names another file than the one open (the log was rotated: renamed and
// a new one made), it finishes the old file from its open descriptor and
// starts the new one at its beginning; when the file shrank below the
// offset (truncated in place), it starts again at 0.
func (w *Watcher) follow(fl *follower, now time.Time) {
	st := w.st.Logs[fl.path]
	if fl.f == nil && !w.open(fl, st, now) {
		return
	}
	st = w.st.Logs[fl.path]
	cur, statErr := os.Stat(fl.path)
	rotated := statErr == nil && !os.SameFile(cur, fl.fi)
	if fi, err := fl.f.Stat(); err == nil && fi.Size() < st.Offset {
		st.Offset, st.Skip, w.dirty = 0, false, true
	}
	done := w.read(fl, st, rotated, now)
	if rotated && done {
		fl.close()
		w.st.Logs[fl.path], w.dirty = &logState{}, true // the new file, from 0
		if w.open(fl, w.st.Logs[fl.path], now) {
			w.read(fl, w.st.Logs[fl.path], false, now)
		}
	}
}

// open opens fl's log and sets where to read from: the saved offset when
// it is the saved file (and not shorter), 0 when it is another file or
// the log did not exist before, and its end when the log was never
// followed (old lines are not news). When the log was rotated while the
// node was down and the saved file is still in its directory under
// another name, it opens that one at the saved offset: follow finishes
// it, then starts the new one.
// It reports an unreadable log once per error.
func (w *Watcher) open(fl *follower, st *logState, now time.Time) bool {
	real, ok := w.logAllowed(fl.path)
	if !ok {
		if msg := errLogNotAllowed.Error(); msg != fl.lastErr && w.queue(unreadable(fl.path, "", errLogNotAllowed, now)) {
			fl.lastErr = msg
		}
		return false
	}
	f, err := os.Open(real)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if st == nil {
				w.st.Logs[fl.path], w.dirty = &logState{}, true
			}
			return false
		}
		if msg := err.Error(); msg != fl.lastErr && w.queue(unreadable(fl.path, "", err, now)) {
			fl.lastErr = msg
		}
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return false
	}
	fl.lastErr = ""
	dev, ino := fileID(fi)
	if st != nil && st.Ino != 0 && (st.Dev != dev || st.Ino != ino) {
		if old, oldInfo := findRotated(fl.path, st.Dev, st.Ino); old != nil {
			f.Close()
			f, fi, dev, ino = old, oldInfo, st.Dev, st.Ino // finished first: follow sees it rotated
		}
	}
	next := &logState{Dev: dev, Ino: ino}
	switch {
	case st == nil:
		next.Offset = fi.Size()
	case st.Dev == dev && st.Ino == ino && st.Offset <= fi.Size():
		next.Offset, next.Skip = st.Offset, st.Skip
	}
	fl.f, fl.fi = f, fi
	if fl.rd == nil {
		fl.rd = bufio.NewReaderSize(f, maxLine)
	}
	if next != st {
		w.st.Logs[fl.path], w.dirty = next, true
	}
	return true
}

// errLogNotAllowed refuses a log outside the directories the node's
// operator allows (Config.LogsUnder).
var errLogNotAllowed = errors.New("not under the node's --watch-logs-under directories: its lines are not sent")

// logAllowed returns the file path names after symlinks, and whether it
// lies under one of the allowed directories (after theirs). A path that
// does not exist yet is judged as written; it is judged again, resolved,
// once it exists, since every poll opens anew.
func (w *Watcher) logAllowed(path string) (string, bool) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		real = filepath.Clean(path)
	}
	for _, d := range w.cfg.LogsUnder {
		dir, err := filepath.EvalSymlinks(d)
		if err != nil {
			dir = filepath.Clean(d)
		}
		if rel, err := filepath.Rel(dir, real); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && rel != "." {
			return real, true
		}
	}
	return real, false
}

// maxRotatedScan bounds the directory entries looked at for a log
// rotated while the node was down.
const maxRotatedScan = 1024

// findRotated opens the file of path's directory with device dev and
// inode ino (the log as it was followed, renamed while the node was down:
// auth.log.1), or returns nil.
func findRotated(path string, dev, ino uint64) (*os.File, os.FileInfo) {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, nil
	}
	defer d.Close()
	ents, _ := d.ReadDir(maxRotatedScan)
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(filepath.Dir(path), e.Name())
		if fi, err := os.Stat(p); err == nil {
			if fdev, fino := fileID(fi); fdev == dev && fino == ino {
				f, err := os.Open(p)
				if err != nil {
					return nil, nil
				}
				if ofi, err := f.Stat(); err == nil && os.SameFile(fi, ofi) {
					return f, ofi
				}
				f.Close()
			}
		}
	}
	return nil, nil
}

// read reads whole lines from st.Offset, at most maxReadPerPoll bytes,
// matching each; final (the log was rotated away) takes an unterminated
// last line as a line. It stops early when the queue is full, and
// reports whether it reached the end of the file.
func (w *Watcher) read(fl *follower, st *logState, final bool, now time.Time) bool {
	if _, err := fl.f.Seek(st.Offset, io.SeekStart); err != nil {
		return false
	}
	fl.rd.Reset(fl.f)
	for read := 0; read < maxReadPerPoll; {
		if !w.room() {
			return false
		}
		line, err := fl.rd.ReadSlice('\n')
		switch {
		case err == nil: // a whole line
			if !st.Skip {
				w.match(fl, line, now)
			}
			st.Skip = false
		case errors.Is(err, bufio.ErrBufferFull): // a line over maxLine
			if !st.Skip {
				w.match(fl, line, now)
			}
			st.Skip = true
		case len(line) > 0 && (final || st.Skip): // the rest of the file
			if !st.Skip {
				w.match(fl, line, now)
			}
		default: // the end, or an unterminated line to wait for
			return true
		}
		st.Offset += int64(len(line))
		read += len(line)
		w.dirty = true
	}
	return false
}

// match queues line (a log event) if it matches one of fl's expressions
// and the log's rate allows; a line over the rate is counted as dropped.
func (w *Watcher) match(fl *follower, line []byte, now time.Time) {
	line = bytes.TrimRight(line, "\r\n")
	if len(line) == 0 {
		return // an empty line is nothing to report
	}
	hit := false
	for _, re := range fl.res {
		if re.Match(line) {
			hit = true
			break
		}
	}
	if !hit {
		return
	}
	if ok, _ := w.limit.Allow(fl.path, now); !ok {
		w.st.Dropped++
		w.dirty = true
		return
	}
	w.queue(wire.WatchEvent{Kind: wire.WatchLogMatch, Path: fl.path, Line: clip(line, wire.MaxWatchLine), Time: now.UTC()})
}

// clip returns b as valid UTF-8, cut to at most n bytes at a character
// boundary.
func clip(b []byte, n int) string {
	s := strings.ToValidUTF8(string(b[:min(len(b), 4*n)]), "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// unreadable is the event of a path that cannot be read (old: its last
// hash, if any).
func unreadable(path, old string, err error, now time.Time) wire.WatchEvent {
	msg := err.Error()
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		msg = pe.Err.Error() // the path is in the event already
	}
	return wire.WatchEvent{Kind: wire.WatchFile, Path: path, Change: wire.WatchUnreadable, OldSHA256: old,
		Error: clip([]byte(msg), wire.MaxWatchError), Time: now.UTC()}
}
