package watch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/wardnet/ward/wire"
)

// fileState is a watched file as last seen: its content hash (the last
// one read; "" when it was never readable) and what tells a change
// without reading it.
type fileState struct {
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size"`
	ModNs  int64  `json:"mod_ns"`
	Ino    uint64 `json:"ino,omitempty"`
	// Err is why it could not be read last time; "" when it could.
	Err string `json:"err,omitempty"`
}

// forgetRoots forgets the hashes of files no longer under roots.
func (w *Watcher) forgetRoots(roots []string) {
	w.st.Roots = slices.DeleteFunc(w.st.Roots, func(r string) bool { return !slices.Contains(roots, r) })
	for p := range w.st.Files {
		if !slices.Contains(roots, p) && !slices.Contains(roots, filepath.Dir(p)) {
			delete(w.st.Files, p)
		}
	}
}

// hashAll looks at every watched root, hashing the files that changed
// (all of them when full), and reports whether it went through them all
// (false when the queue filled: the rest waits for the next poll).
func (w *Watcher) hashAll(now time.Time, full bool) bool {
	for _, root := range w.st.Config.Files {
		if !w.hashRoot(root, now, full) {
			return false
		}
	}
	return true
}

// hashRoot looks at one watched path: a file, or a directory's files. A
// root's first look is the baseline: only its unreadable files are
// reported.
func (w *Watcher) hashRoot(root string, now time.Time, full bool) bool {
	baseline := !slices.Contains(w.st.Roots, root)
	files, err := list(root)
	if err != nil {
		return w.fileUnreadable(root, err, now) // its files as they were: unknown
	}
	for _, p := range files {
		if !w.hashFile(p, now, full, baseline) {
			return false
		}
	}
	for p, old := range w.st.Files {
		if (p == root || filepath.Dir(p) == root) && !slices.Contains(files, p) {
			if !w.queue(wire.WatchEvent{Kind: wire.WatchFile, Path: p, Change: wire.WatchRemoved, OldSHA256: old.SHA256, Time: now.UTC()}) {
				return false
			}
			delete(w.st.Files, p)
		}
	}
	if baseline {
		w.st.Roots, w.dirty = append(w.st.Roots, root), true
	}
	return true
}

// list returns root when it is a file, its regular files (at most
// maxDirFiles, in name order) when it is a directory, nothing when it
// does not exist.
func list(root string) ([]string, error) {
	fi, err := os.Stat(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{root}, nil
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && len(out) < maxDirFiles {
			out = append(out, filepath.Join(root, e.Name()))
		}
	}
	return out, nil
}

// hashFile hashes p if it changed since last seen (or full), and queues
// what changed: added (not on a baseline), modified, unreadable. It
// returns false when the queue is full (nothing recorded: the next poll
// tries again).
func (w *Watcher) hashFile(p string, now time.Time, full, baseline bool) bool {
	prev, known := w.st.Files[p]
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return true // gone since listed: removed at the next look
	}
	var cur fileState
	if err == nil {
		_, ino := fileID(fi)
		cur = fileState{Size: fi.Size(), ModNs: fi.ModTime().UnixNano(), Ino: ino}
		if !full && known && prev.Err == "" && prev.Size == cur.Size && prev.ModNs == cur.ModNs && prev.Ino == cur.Ino {
			return true
		}
		cur.SHA256, err = sum(p)
	}
	if err != nil {
		return w.fileUnreadable(p, err, now)
	}
	if !known && len(w.st.Files) >= maxFiles {
		return true
	}
	var e wire.WatchEvent
	switch {
	case !known && baseline, known && prev.SHA256 == cur.SHA256:
	case !known || prev.SHA256 == "":
		e = wire.WatchEvent{Kind: wire.WatchFile, Path: p, Change: wire.WatchAdded, NewSHA256: cur.SHA256, Time: now.UTC()}
	default:
		e = wire.WatchEvent{Kind: wire.WatchFile, Path: p, Change: wire.WatchModified, OldSHA256: prev.SHA256, NewSHA256: cur.SHA256, Time: now.UTC()}
	}
	if e.Kind != "" && !w.queue(e) {
		return false
	}
	if cur != prev {
		w.st.Files[p], w.dirty = cur, true
	}
	return true
}

// fileUnreadable reports p unreadable for err, once while the error stays
// the same, keeping its last hash; false when the queue is full.
func (w *Watcher) fileUnreadable(p string, err error, now time.Time) bool {
	prev, known := w.st.Files[p]
	if known && prev.Err == err.Error() {
		return true
	}
	if !known && len(w.st.Files) >= maxFiles {
		return true
	}
	if !w.queue(unreadable(p, prev.SHA256, err, now)) {
		return false
	}
	w.st.Files[p], w.dirty = fileState{SHA256: prev.SHA256, Err: err.Error()}, true
	return true
}

// sum returns the SHA-256 of p's content, hex.
func sum(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
