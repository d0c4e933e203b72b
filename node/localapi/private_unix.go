//go:build unix

package localapi

import (
	"fmt"
	"os"
	"syscall"
)

// privateDir makes dir, the state directory the socket is bound in, this
// process's own with mode 0700 before anything is bound there, so that
// no other user can reach the socket while it has the mode the umask
// gave it. It refuses a directory another user owns: they could replace
// the socket. (private_windows.go does the same with an access list.)
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make state dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() {
		return fmt.Errorf("state dir %s is owned by uid %d, not by this daemon's uid %d: %w", dir, uid, os.Geteuid(), ErrUntrusted)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("restrict state dir: %w", err)
	}
	return nil
}

// checkFile refuses fi (what, at path) when an untrusted user owns it or
// when users other than its owner may write to it.
func checkFile(what, path string, fi os.FileInfo) error {
	if uid, ok := fileOwner(fi); ok && !trustedUID(uid) {
		return fmt.Errorf("%s %s is owned by uid %d: %w", what, path, uid, ErrUntrusted)
	}
	if fi.IsDir() && fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s %s is writable by other users (mode %o): %w", what, path, fi.Mode().Perm(), ErrUntrusted)
	}
	return nil
}

// restrictSocket gives the socket at path mode 0600 (Listen).
func restrictSocket(path string) error { return os.Chmod(path, 0o600) }

// fileOwner returns the uid that owns fi.
func fileOwner(fi os.FileInfo) (uid int, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
