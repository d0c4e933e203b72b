package wire

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"time"
	"unicode/utf8"
)

// Device log and file-integrity monitoring (protocol 17, FeatureWatch).
const (
	// PathWatch is where a node reads what it watches (GET, its
	// session; WatchConfig).
	PathWatch = "/ward/v1/watch"
	// PathWatchEvents is where a node posts what it saw (WatchEvents).
	PathWatchEvents = "/ward/v1/watch/events"
)

// Limits on watch events.
const (
	// MaxWatchEvents bounds WatchEvents.Events.
	MaxWatchEvents = 64
	// MaxWatchLine bounds WatchEvent.Line in bytes: a longer line is
	// cut (at a character boundary) by the node.
	MaxWatchLine = 1024
	// MaxWatchError bounds WatchEvent.Error in bytes.
	MaxWatchError = 256
)

// Kinds of watch event.
const (
	// WatchLogMatch: a line of a watched log matched its expression.
	WatchLogMatch = "log"
	// WatchFile: a watched file changed, or a watched file or log
	// cannot be read.
	WatchFile = "file"
)

// Changes of a watched file.
const (
	WatchAdded      = "added"
	WatchRemoved    = "removed"
	WatchModified   = "modified"
	WatchUnreadable = "unreadable"
)

// ErrBadWatchEvent is returned by WatchEvents.Check for events a node
// could not honestly have sent.
var ErrBadWatchEvent = errors.New("bad watch event")

// WatchConfig is what a node watches on its own disk (protocol 17): the
// union of the rules file's "watch" entries whose tags the node has.
type WatchConfig struct {
	// Logs are the log files to follow; may be empty.
	Logs []WatchLog `json:"logs,omitempty"`
	// Files are absolute, clean paths of files or directories (a
	// directory: its regular files, not its subdirectories) whose
	// content is hashed; may be empty.
	Files []string `json:"files,omitempty"`
}

// WatchLog is one log file to follow.
type WatchLog struct {
	// Path is the file's absolute, clean path.
	Path string `json:"path"`
	// Match are expressions (Go's RE2 syntax); a line matching any of
	// them is reported. Never empty.
	Match []string `json:"match"`
}

// WatchEvent is one thing a node saw on its disk.
type WatchEvent struct {
	// Kind is WatchLogMatch or WatchFile.
	Kind string `json:"kind"`
	// Path is the log file, or the file that changed (a watched file,
	// or a file directly inside a watched directory; a log file too when
	// it is unreadable).
	Path string `json:"path"`
	// Line is the matching line (WatchLogMatch), without its line end,
	// at most MaxWatchLine bytes of valid UTF-8.
	Line string `json:"line,omitempty"`
	// Change is WatchAdded, WatchRemoved, WatchModified or
	// WatchUnreadable (WatchFile).
	Change string `json:"change,omitempty"`
	// OldSHA256 and NewSHA256 are the file's content hashes before and
	// after, hex; empty where there is none (added: no old; removed or
	// unreadable: no new).
	OldSHA256 string `json:"old_sha256,omitempty"`
	NewSHA256 string `json:"new_sha256,omitempty"`
	// Error says why a file is unreadable, at most MaxWatchError bytes.
	Error string `json:"error,omitempty"`
	// Time is when the node saw it.
	Time time.Time `json:"time"`
}

// WatchEvents is a node's events, oldest first (protocol 17).
type WatchEvents struct {
	// Events are at most MaxWatchEvents.
	Events []WatchEvent `json:"events"`
	// Dropped counts events the node could not keep since its previous
	// batch (rate or memory bounds).
	Dropped uint64 `json:"dropped,omitempty"`
}

// Check reports whether b is what a node told to watch cfg could have
// sent: every event about a path it watches.
func (b WatchEvents) Check(cfg WatchConfig) error {
	if len(b.Events) > MaxWatchEvents {
		return fmt.Errorf("%w: %d events, at most %d", ErrBadWatchEvent, len(b.Events), MaxWatchEvents)
	}
	for i, e := range b.Events {
		if err := e.check(cfg); err != nil {
			return fmt.Errorf("%w %d: %w", ErrBadWatchEvent, i, err)
		}
	}
	return nil
}

// check validates one event against cfg.
func (e WatchEvent) check(cfg WatchConfig) error {
	if e.Time.IsZero() || len(e.Error) > MaxWatchError || !utf8.ValidString(e.Error) {
		return errors.New("no time, or a bad error")
	}
	switch e.Kind {
	case WatchLogMatch:
		if !slices.ContainsFunc(cfg.Logs, func(l WatchLog) bool { return l.Path == e.Path }) {
			return fmt.Errorf("%q is not a log this node follows", e.Path)
		}
		if e.Line == "" || len(e.Line) > MaxWatchLine || !utf8.ValidString(e.Line) || e.Change != "" || e.OldSHA256 != "" || e.NewSHA256 != "" {
			return errors.New("a log event carries a line of valid UTF-8, at most 1 KiB, and nothing else")
		}
		return nil
	case WatchFile:
		if !cfg.watchesFile(e.Path) && !(e.Change == WatchUnreadable && slices.ContainsFunc(cfg.Logs, func(l WatchLog) bool { return l.Path == e.Path })) {
			return fmt.Errorf("%q is not a file this node watches", e.Path)
		}
		return e.checkChange()
	}
	return fmt.Errorf("kind %q", e.Kind)
}

// checkChange validates a file event's change and hashes.
func (e WatchEvent) checkChange() error {
	hex := func(s string) bool {
		return len(s) == 64 && !slices.ContainsFunc([]byte(s), func(c byte) bool { return !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') })
	}
	ok := e.Line == ""
	switch e.Change {
	case WatchAdded:
		ok = ok && e.OldSHA256 == "" && hex(e.NewSHA256)
	case WatchRemoved:
		ok = ok && e.NewSHA256 == "" && (e.OldSHA256 == "" || hex(e.OldSHA256))
	case WatchModified:
		ok = ok && hex(e.OldSHA256) && hex(e.NewSHA256) && e.OldSHA256 != e.NewSHA256
	case WatchUnreadable:
		ok = ok && e.NewSHA256 == "" && (e.OldSHA256 == "" || hex(e.OldSHA256))
	default:
		return fmt.Errorf("change %q", e.Change)
	}
	if !ok {
		return fmt.Errorf("hashes of a %s file: old %q, new %q", e.Change, e.OldSHA256, e.NewSHA256)
	}
	return nil
}

// watchesFile reports whether p is a watched file, or a file directly
// inside a watched directory.
func (cfg WatchConfig) watchesFile(p string) bool {
	if p == "" || path.Clean(p) != p || !path.IsAbs(p) {
		return false
	}
	return slices.Contains(cfg.Files, p) || slices.Contains(cfg.Files, path.Dir(p)) && p != "/"
}
