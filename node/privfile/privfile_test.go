package privfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestAtomicWriteSyncsDirectory pins the low item "the node's atomic file
// write does not sync the directory": after the rename, the directory is
// synced (so the new file survives a power loss), and the write stays
// atomic with mode 0600 in a 0700 directory.
func TestAtomicWriteSyncsDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	var synced []string
	w := writer{syncDir: func(d string) error {
		// By the time the directory is synced, the new file is in place.
		b, err := os.ReadFile(filepath.Join(d, "node.json"))
		if err != nil || string(b) != "v2" {
			t.Errorf("directory synced before the rename: %q, %v", b, err)
		}
		synced = append(synced, d)
		return syncDir(d)
	}}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "node.json"), []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.write(dir, "node.json", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 1 || synced[0] != dir {
		t.Errorf("directories synced: %q, want [%s]", synced, dir)
	}
	checkModes(t, dir, "node.json")

	w.syncDir = func(string) error { return errors.New("disk gone") }
	if err := w.write(dir, "node.json", []byte("v2")); err == nil {
		t.Error("a failed directory sync was not reported")
	}
}

func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := syncDir(dir); err != nil {
		t.Errorf("sync %s: %v", dir, err)
	}
	if err := syncDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("sync of a missing directory succeeded")
	}
}

// TestWriteIsAtomic replaces a file while readers read it: every read sees
// one whole version, and no temporary file is left.
func TestWriteIsAtomic(t *testing.T) {
	dir := t.TempDir()
	versions := []string{strings.Repeat("a", 16<<10), strings.Repeat("b", 16<<10)}
	if err := Write(dir, "map.json", []byte(versions[0])); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := Read(dir, "map.json", 1<<20)
				if err != nil || (string(b) != versions[0] && string(b) != versions[1]) {
					t.Errorf("read a partial file: %d bytes, %v", len(b), err)
					return
				}
			}
		}()
	}
	for i := range 20 {
		if err := Write(dir, "map.json", []byte(versions[i%2])); err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	wg.Wait()
	checkModes(t, dir, "map.json")
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 {
		t.Errorf("directory holds %v, %v; want only map.json", ents, err)
	}
}

func TestReadRefusesOpenFile(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, "f", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	if b, err := Read(dir, "f", 3); err == nil {
		t.Errorf("read a file over the limit: %q", b)
	}
	if err := os.Chmod(filepath.Join(dir, "f"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir, "f", 100); !errors.Is(err, ErrPerms) {
		t.Errorf("read of a group-readable file: %v, want ErrPerms", err)
	}
}

// checkModes checks dir is 0700 and dir/name 0600.
func checkModes(t *testing.T, dir, name string) {
	t.Helper()
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, name): 0o600} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %o", path, fi.Mode().Perm(), err, want)
		}
	}
}
