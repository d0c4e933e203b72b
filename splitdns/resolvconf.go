package splitdns

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// DefaultResolvConf is the system's resolver configuration.
const DefaultResolvConf = "/etc/resolv.conf"

// marker starts the first line of a resolv.conf written by ResolvConf.
const marker = "# written by ward"

// ErrChangedMeanwhile reports a resolv.conf that someone else rewrote
// while Ward's was installed: it is left as it is, and the backup kept.
var ErrChangedMeanwhile = errors.New("resolv.conf changed by someone else meanwhile; left as it is")

// ResolvConf installs the overlay resolver as the system's one in a
// resolv.conf file, where no systemd-resolved runs: the original is
// backed up first and put back by Restore, unless someone else rewrote
// the file meanwhile.
type ResolvConf struct {
	// Path is the resolv.conf file (DefaultResolvConf).
	Path string
	// Backup is where the original is kept while Ward's is installed (in
	// the node's state directory), so a restart after a crash restores it.
	Backup string
}

// backup is Backup's content: the original file, or the symlink it was.
type backup struct {
	// Link is the symlink's target when Path was a symlink.
	Link string `json:"link,omitempty"`
	// Content is the original file's content when Path was a file.
	Content []byte `json:"content,omitempty"`
	// Written is what Install wrote, to tell whether someone changed it.
	Written []byte `json:"written"`
}

// Recover puts back the original a crashed run left backed up, when the
// file is still the one that run wrote; with no backup it does nothing.
func (r ResolvConf) Recover() error {
	b, err := r.readBackup()
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return r.restore(b)
}

// Install backs up the file and writes one that sends every question to
// server, searching domain first (then the original's search list, whose
// "options" lines it keeps). Call Recover first.
func (r ResolvConf) Install(server netip.Addr, domain string) error {
	if _, err := os.Stat(r.Backup); err == nil {
		return fmt.Errorf("install resolver in %s: a backup is already in %s (Recover first)", r.Path, r.Backup)
	}
	var b backup
	orig, err := os.ReadFile(r.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", r.Path, err)
	}
	if target, err := os.Readlink(r.Path); err == nil {
		b.Link = target
	} else {
		b.Content = orig
	}
	b.Written = rewrite(orig, server, domain, r.Backup)
	if err := writeAtomic(r.Backup, mustJSON(b), 0o600); err != nil {
		return fmt.Errorf("back up %s: %w", r.Path, err)
	}
	if err := writeAtomic(r.Path, b.Written, 0o644); err != nil {
		os.Remove(r.Backup)
		return fmt.Errorf("write %s: %w", r.Path, err)
	}
	return nil
}

// Restore puts the original back and drops the backup; a file someone
// else rewrote meanwhile is left alone (ErrChangedMeanwhile, backup
// dropped too: the new file is theirs).
func (r ResolvConf) Restore() error {
	b, err := r.readBackup()
	if err != nil {
		return err
	}
	return r.restore(b)
}

func (r ResolvConf) restore(b backup) error {
	cur, err := os.ReadFile(r.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", r.Path, err)
	}
	if !bytes.Equal(cur, b.Written) {
		os.Remove(r.Backup)
		return fmt.Errorf("restore %s: %w", r.Path, ErrChangedMeanwhile)
	}
	switch {
	case b.Link != "":
		tmp := r.Path + ".ward-link"
		os.Remove(tmp)
		if err := os.Symlink(b.Link, tmp); err != nil {
			return fmt.Errorf("restore %s: %w", r.Path, err)
		}
		err = os.Rename(tmp, r.Path)
	case b.Content == nil:
		err = os.Remove(r.Path)
	default:
		err = writeAtomic(r.Path, b.Content, 0o644)
	}
	if err != nil {
		return fmt.Errorf("restore %s: %w", r.Path, err)
	}
	return os.Remove(r.Backup)
}

func (r ResolvConf) readBackup() (backup, error) {
	var b backup
	raw, err := os.ReadFile(r.Backup)
	if err != nil {
		return b, fmt.Errorf("read the backup of %s: %w", r.Path, err)
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return b, fmt.Errorf("read the backup of %s in %s: %w", r.Path, r.Backup, err)
	}
	return b, nil
}

// rewrite is the resolv.conf Install writes over orig.
func rewrite(orig []byte, server netip.Addr, domain, backupPath string) []byte {
	search := []string{domain}
	var options []string
	for _, line := range strings.Split(string(orig), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == "search" || f[0] == "domain":
			search = append(search, f[1:]...)
		case f[0] == "options":
			options = append(options, line)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: the overlay resolver answers for %s and forwards the rest.\n", marker, domain)
	fmt.Fprintf(&b, "# The original is kept in %s and comes back when ward stops.\n", backupPath)
	fmt.Fprintf(&b, "nameserver %s\n", server)
	fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	for _, o := range options {
		fmt.Fprintln(&b, o)
	}
	return []byte(b.String())
}

// writeAtomic writes data to a temporary file beside path and renames it
// over path, so a reader never sees half a file.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".ward-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
