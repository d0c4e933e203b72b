package watch

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/fsnotify/fsnotify"

	"github.com/wardnet/ward/wire"
)

// Waker tells the watch loop that a watched log or file may have changed,
// from the system's file notifications (inotify, kqueue,
// ReadDirectoryChangesW through fsnotify), so a line is reported within
// moments instead of at the next poll. It watches the directories holding
// the logs and files (a rotation makes a new file there) and the watched
// directories themselves. It only wakes: the Watcher's poll does the
// work, and stays the fallback where notifications fail (no support, a
// watch limit reached, a directory that does not exist yet).
type Waker struct {
	// C receives after a change; changes arriving together are one.
	C <-chan struct{}
	c chan struct{}
	w *fsnotify.Watcher // nil when notifications are unavailable
	// dirs are the directories watched; only the watch loop uses it.
	dirs []string
	log  *slog.Logger
}

// NewWaker returns a Waker; without notifications it never wakes (the
// error is logged).
func NewWaker(log *slog.Logger) *Waker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := make(chan struct{}, 1)
	k := &Waker{C: c, c: c, log: log}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Info("watch: no file notifications; polling only", "err", err)
		return k
	}
	k.w = w
	return k
}

// Watch sets what to be woken for: the directories of cfg's logs and
// files, and the files that are directories.
func (k *Waker) Watch(cfg wire.WatchConfig) {
	if k.w == nil {
		return
	}
	var dirs []string
	add := func(d string) {
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, l := range cfg.Logs {
		add(filepath.Dir(l.Path))
	}
	for _, f := range cfg.Files {
		add(filepath.Dir(f))
		if fi, err := os.Stat(f); err == nil && fi.IsDir() {
			add(f)
		}
	}
	for _, d := range k.dirs {
		if !slices.Contains(dirs, d) {
			k.w.Remove(d) // gone already: nothing to undo
		}
	}
	k.dirs = k.dirs[:0]
	for _, d := range dirs {
		if err := k.w.Add(d); err != nil {
			k.log.Debug("watch: no notifications for a directory; polling it", "dir", d, "err", err)
			continue
		}
		k.dirs = append(k.dirs, d)
	}
}

// Run forwards notifications to C until ctx is done, then closes the
// notifications.
func (k *Waker) Run(ctx context.Context) {
	if k.w == nil {
		return
	}
	defer k.w.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-k.w.Events:
			if !ok {
				return
			}
			select {
			case k.c <- struct{}{}:
			default:
			}
		case err, ok := <-k.w.Errors:
			if !ok {
				return
			}
			k.log.Debug("watch: file notifications", "err", err) // an overflow: the poll catches up
		}
	}
}
