// Package privfile reads and writes the private files of a node or client
// (its state, its saved map): a file of mode 0600 in a directory of mode
// 0700, replaced atomically and durably, and read only when no other user
// may read or write it.
package privfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrPerms means a private file is open to other users.
var ErrPerms = errors.New("readable by other users")

// Write replaces dir/name with b, so that a crash at any point leaves the
// old file or the new one, never a part, and the new one survives a power
// loss once Write returns: it writes a 0600 temporary file in dir, syncs
// it, renames it over dir/name and syncs dir (which makes the rename
// durable). It creates dir with mode 0700 if needed, and sets its mode to
// 0700.
func Write(dir, name string, b []byte) error {
	return writer{syncDir: syncDir}.write(dir, name, b)
}

// writer is Write with its directory sync as a seam, so a test can see
// that the rename is synced, and when.
type writer struct {
	// syncDir makes dir's entries durable; called after the rename.
	syncDir func(dir string) error
}

func (w writer) write(dir, name string, b []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := writeSync(f, b); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return w.syncDir(dir)
}

// writeSync writes b to f (mode 0600), syncs and closes it.
func writeSync(f *os.File, b []byte) error {
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(b)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Read reads dir/name, at most limit bytes, refusing (ErrPerms) a file
// that other users may read or write, and a file over limit.
func Read(dir, name string, limit int64) ([]byte, error) {
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkPerms(path, fi); err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: over %d bytes", path, limit)
	}
	return io.ReadAll(io.LimitReader(f, limit))
}
