package node

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// releaseBinarySupported: the executable's pages can be released here.
const releaseBinarySupported = true

// binaryMapping is one read-only mapping of the running executable.
type binaryMapping struct {
	start, end uintptr
	perms      string
	rssKB      int
}

// binaryMappings returns the read-only mappings, in smaps, of the file
// that holds the code at pc (the executable: code, read-only data, the
// function table). It leaves out a mapping with an anonymous page: a page
// written since the mapping was made (a relocation of a position-independent
// binary, before its mapping became read-only) would be lost if released.
func binaryMappings(smaps []byte, pc uint64) ([]binaryMapping, error) {
	type region struct {
		binaryMapping
		file string // device and inode
		anon int
	}
	var all []*region
	var cur *region
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			lo, hi, ok := strings.Cut(f[0], "-")
			s, err1 := strconv.ParseUint(lo, 16, 64)
			e, err2 := strconv.ParseUint(hi, 16, 64)
			if !ok || err1 != nil || err2 != nil {
				cur = nil
				continue
			}
			cur = &region{binaryMapping: binaryMapping{start: uintptr(s), end: uintptr(e), perms: f[1]}}
			if f[4] != "0" {
				cur.file = f[3] + " " + f[4]
			}
			all = append(all, cur)
			continue
		}
		if cur == nil || len(f) < 2 {
			continue
		}
		switch f[0] {
		case "Rss:":
			cur.rssKB, _ = strconv.Atoi(f[1])
		case "Anonymous:":
			cur.anon, _ = strconv.Atoi(f[1])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var file string
	for _, r := range all {
		if uint64(r.start) <= pc && pc < uint64(r.end) {
			file = r.file
		}
	}
	if file == "" {
		return nil, fmt.Errorf("no file mapping holds the code at %#x", pc)
	}
	var out []binaryMapping
	for _, r := range all {
		if r.file != file || strings.Contains(r.perms, "w") {
			continue
		}
		if r.anon != 0 {
			continue
		}
		out = append(out, r.binaryMapping)
	}
	return out, nil
}

// exeMappings are the executable's clean read-only mappings, found once:
// they stay as they are for the life of the process (nothing makes them
// writable), and reading smaps again at every release would leave its
// copy (20 KB and more) on a heap an idle node does not collect for
// minutes.
var exeMappings struct {
	once sync.Once
	ms   []binaryMapping
	err  error
}

// releaseBinaryPages unmaps the resident pages of the executable's clean
// read-only mappings (madvise MADV_DONTNEED). The pages are the file's,
// unchanged, so the next use of any of them maps it again from the page
// cache (or reads it from the file): nothing is lost, and the process's
// RSS then counts what it used since, not everything its start-up
// touched. The page cache keeps the pages until the kernel needs the
// memory; unmapped, they are the first it takes. (The kernel may drop
// clean pages of a running binary under memory pressure anyway; this does
// it early.)
func releaseBinaryPages() error {
	exeMappings.once.Do(func() {
		b, err := os.ReadFile("/proc/self/smaps")
		if err != nil {
			exeMappings.err = err
			return
		}
		exeMappings.ms, exeMappings.err = binaryMappings(b, uint64(reflect.ValueOf(binaryMappings).Pointer()))
	})
	if exeMappings.err != nil {
		return fmt.Errorf("release binary pages: %w", exeMappings.err)
	}
	for _, m := range exeMappings.ms {
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); e != 0 {
			return fmt.Errorf("release binary pages: madvise %#x-%#x: %w", m.start, m.end, e)
		}
	}
	return nil
}

// fileResidentKB returns the process's resident file-backed memory
// (statm's third field: shared pages), cheap to read every tick.
func fileResidentKB() (int, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return 0, fmt.Errorf("statm: %q", b)
	}
	n, err := strconv.Atoi(f[2])
	if err != nil {
		return 0, fmt.Errorf("statm: %w", err)
	}
	return n * os.Getpagesize() / 1024, nil
}
