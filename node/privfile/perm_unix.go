//go:build unix

package privfile

import (
	"fmt"
	"os"
)

// syncDir flushes dir's entries (a rename in it) to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// checkPerms refuses the file at path when users other than its owner
// may read or write it (ErrPerms).
func checkPerms(path string, fi os.FileInfo) error {
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s (mode %o, want 600): %w", path, fi.Mode().Perm(), ErrPerms)
	}
	return nil
}
