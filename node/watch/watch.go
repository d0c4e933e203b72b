// Package watch is a node's watch over its own disk: it follows log files
// across rotation, truncation and restarts, reporting the lines that match
// the coordinator's expressions, and hashes watched files, reporting those
// added, removed, modified or unreadable. What it found waits in a bounded
// queue, saved with the follow offsets and the last hashes in one state
// file, so a restart neither loses nor repeats a line.
//
// A Watcher is used by one goroutine (the session's watch loop); it has no
// lock.
package watch

import (
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"time"

	"github.com/wardnet/ward/node/privfile"
	"github.com/wardnet/ward/ratelimit"
	"github.com/wardnet/ward/wire"
)

// Bounds and timing. In memory a Watcher holds at most MaxPending events
// (each at most about 1.5 KiB: about 400 KiB), one read buffer of
// maxLine bytes per followed log and the hashes of at most maxFiles files;
// the state file holds the same. Per poll it reads at most maxReadPerPoll
// bytes of each log and reports at most matchBurst lines of one log at
// once, then one per matchEvery; lines over that rate are dropped and
// counted. When the queue is full (the coordinator is away) it reads no
// further: the lines wait in the log itself, and file changes are found
// again at a later poll.
const (
	// MaxPending bounds the events waiting to be sent.
	MaxPending = 256
	// DefaultPoll is how often logs are read and files looked at.
	DefaultPoll = 2 * time.Second
	// DefaultRehash is how often every watched file is hashed again,
	// changed or not (between, a file is hashed when its size, time or
	// inode changes).
	DefaultRehash = 5 * time.Minute
	// StateFile is the state file's name in the state directory.
	StateFile      = "watch.json"
	maxReadPerPoll = 1 << 20
	// maxLine is the longest line matched whole; a longer one is matched
	// on its first maxLine bytes and the rest skipped.
	maxLine    = 64 << 10
	matchBurst = 60
	matchEvery = time.Second
	// maxDirFiles bounds the files of one watched directory (the first
	// in name order); maxFiles the files tracked in all.
	maxDirFiles  = 256
	maxFiles     = 4096
	maxStateSize = 16 << 20
)

// DefaultLogsUnder is where a node follows logs unless its operator says
// otherwise (Config.LogsUnder).
var DefaultLogsUnder = []string{"/var/log"}

// Config configures a Watcher.
type Config struct {
	// StateDir holds the state file; "" keeps none.
	StateDir string
	// LogsUnder are the directories under which the node follows the
	// logs the coordinator names (after symlinks); nil means
	// DefaultLogsUnder, empty means none. It is the device operator's
	// word, not the coordinator's: a compromised coordinator must not
	// make the node send it lines of /etc/shadow. Hashing a file sends
	// only its hash, so Files are not limited.
	LogsUnder []string
	// Rehash is how often every file is hashed again; 0: DefaultRehash.
	Rehash time.Duration
	// Log may be nil.
	Log *slog.Logger
}

// Watcher follows logs and hashes files as its wire.WatchConfig says.
type Watcher struct {
	cfg   Config
	log   *slog.Logger
	st    state
	logs  map[string]*follower
	limit *ratelimit.Keyed[string]
	// lastRehash is when every file was last hashed.
	lastRehash time.Time
	// dirty tells that st changed since the last Save.
	dirty bool
}

// state is what the state file holds.
type state struct {
	// Config is the last config the coordinator gave, so a restart
	// watches while the coordinator is away.
	Config wire.WatchConfig `json:"config"`
	// Logs are the followed logs' positions, by path.
	Logs map[string]*logState `json:"logs"`
	// Files are the last hashes, by file path; Roots the watched paths
	// already looked at once (a root's first look reports only
	// unreadable files: the rest is the baseline).
	Files map[string]fileState `json:"files"`
	Roots []string             `json:"roots"`
	// Pending are the events not yet sent, oldest first; Dropped counts
	// those lost since the last batch went through.
	Pending []wire.WatchEvent `json:"pending"`
	Dropped uint64            `json:"dropped"`
}

// New returns a Watcher resuming from the state file in cfg.StateDir (an
// unreadable one is logged and started afresh), watching what the saved
// config says.
func New(cfg Config) *Watcher {
	if cfg.Rehash <= 0 {
		cfg.Rehash = DefaultRehash
	}
	if cfg.LogsUnder == nil {
		cfg.LogsUnder = DefaultLogsUnder
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{cfg: cfg, log: log, logs: map[string]*follower{},
		limit: ratelimit.New[string](matchEvery, matchBurst, 2*wire.MaxWatchEvents)}
	if err := w.load(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("watch: state file unreadable; starting afresh", "err", err)
	}
	if w.st.Logs == nil {
		w.st.Logs = map[string]*logState{}
	}
	if w.st.Files == nil {
		w.st.Files = map[string]fileState{}
	}
	w.SetConfig(w.st.Config)
	return w
}

// load reads the state file.
func (w *Watcher) load() error {
	if w.cfg.StateDir == "" {
		return nil
	}
	b, err := privfile.Read(w.cfg.StateDir, StateFile, maxStateSize)
	if err != nil {
		return err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	if len(st.Pending) > MaxPending {
		st.Dropped += uint64(len(st.Pending) - MaxPending)
		st.Pending = st.Pending[:MaxPending]
	}
	w.st = st
	return nil
}

// SetConfig makes w watch what cfg says: logs and roots no longer named
// are forgotten, new ones are followed and hashed from the next Poll.
// A log's expressions that do not compile are logged and the log skipped.
func (w *Watcher) SetConfig(cfg wire.WatchConfig) {
	w.st.Config, w.dirty = cfg, true
	keep := map[string]bool{}
	for _, l := range cfg.Logs {
		keep[l.Path] = true
		fl, err := newFollower(l)
		if err != nil {
			w.log.Warn("watch: log skipped", "path", l.Path, "err", err)
			continue
		}
		if old := w.logs[l.Path]; old != nil {
			old.res = fl.res
			continue
		}
		w.logs[l.Path] = fl
	}
	for p, fl := range w.logs {
		if !keep[p] {
			fl.close()
			delete(w.logs, p)
		}
	}
	for p := range w.st.Logs {
		if !keep[p] {
			delete(w.st.Logs, p)
		}
	}
	w.forgetRoots(cfg.Files)
}

// Config returns what w watches.
func (w *Watcher) Config() wire.WatchConfig { return w.st.Config }

// Poll reads what the logs gained and looks at the watched files (hashing
// them all when the rehash interval passed), queueing what it finds.
func (w *Watcher) Poll(now time.Time) {
	for _, fl := range w.logs {
		w.follow(fl, now)
	}
	full := now.Sub(w.lastRehash) >= w.cfg.Rehash
	if w.hashAll(now, full) && full {
		w.lastRehash = now
	}
}

// queue adds e to the pending events; false when they are full.
func (w *Watcher) queue(e wire.WatchEvent) bool {
	if len(w.st.Pending) >= MaxPending {
		return false
	}
	w.st.Pending, w.dirty = append(w.st.Pending, e), true
	return true
}

// room reports whether another event fits.
func (w *Watcher) room() bool { return len(w.st.Pending) < MaxPending }

// Pending returns the next batch to send, oldest first, and the count of
// events lost since the last batch went through.
func (w *Watcher) Pending() wire.WatchEvents {
	return wire.WatchEvents{Events: w.st.Pending[:min(len(w.st.Pending), wire.MaxWatchEvents)], Dropped: w.st.Dropped}
}

// Sent removes the first n events and clears the lost count: the batch
// went through, or was dropped (drop: they count as lost).
func (w *Watcher) Sent(n int, drop bool) {
	w.st.Pending = w.st.Pending[n:]
	if drop {
		w.st.Dropped += uint64(n)
	} else {
		w.st.Dropped = 0
	}
	w.dirty = true
}

// Save writes the state file if anything changed since the last Save.
func (w *Watcher) Save() error {
	if !w.dirty || w.cfg.StateDir == "" {
		return nil
	}
	b, err := json.Marshal(&w.st)
	if err != nil {
		return err
	}
	if err := privfile.Write(w.cfg.StateDir, StateFile, b); err != nil {
		return err
	}
	w.dirty = false
	return nil
}

// Close closes the followed logs and saves the state.
func (w *Watcher) Close() error {
	for _, fl := range w.logs {
		fl.close()
	}
	return w.Save()
}
