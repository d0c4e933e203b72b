package node

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestBinaryMappings picks, from smaps, the read-only mappings of the file
// holding the code, but none with a written (anonymous) page.
func TestBinaryMappings(t *testing.T) {
	const pc = 0x401000
	mapping := func(rng, perms, dev, inode, path string, rss, anon int) string {
		return fmt.Sprintf("%s %s 00000000 %s %s %s\nSize: 100 kB\nRss: %d kB\nPss: %d kB\nAnonymous: %d kB\nVmFlags: rd mr\n",
			rng, perms, dev, inode, path, rss, rss, anon)
	}
	exe := func(rng, perms string, rss, anon int) string {
		return mapping(rng, perms, "fe:00", "77", "/usr/bin/ward", rss, anon)
	}
	tests := []struct {
		name    string
		smaps   string
		want    string // start-end perms rss, one per mapping
		wantErr string
	}{
		{
			name: "code, read-only data; not the data or other files",
			smaps: exe("00400000-00bff000", "r-xp", 7000, 0) + exe("00bff000-015aa000", "r--p", 8000, 0) +
				exe("015aa000-01617000", "rw-p", 400, 120) + mapping("01617000-0365d000", "rw-p", "00:00", "0", "", 136, 136) +
				mapping("7f0000000000-7f0000100000", "r--p", "fe:00", "78", "/etc/other", 50, 0) +
				mapping("7ffd7b552000-7ffd7b573000", "rw-p", "00:00", "0", "[stack]", 16, 16),
			want: "400000-bff000 r-xp 7000;bff000-15aa000 r--p 8000",
		},
		{
			name:  "a written page in a read-only mapping (a relocated position-independent binary)",
			smaps: exe("00400000-00bff000", "r-xp", 7000, 0) + exe("00bff000-015aa000", "r--p", 8000, 4),
			want:  "400000-bff000 r-xp 7000",
		},
		{
			name:    "the code is in no file mapping",
			smaps:   mapping("00400000-00bff000", "r-xp", "00:00", "0", "", 7000, 0),
			wantErr: "no file mapping",
		},
		{
			name:    "empty",
			wantErr: "no file mapping",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := binaryMappings([]byte(tt.smaps), pc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one with %q (mappings %v)", err, tt.wantErr, ms)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, fmt.Sprintf("%x-%x %s %d", m.start, m.end, m.perms, m.rssKB))
			}
			if g := strings.Join(got, ";"); g != tt.want {
				t.Fatalf("mappings %s, want %s", g, tt.want)
			}
		})
	}
}

// TestReleaseBinaryPages releases the test binary's own pages: the
// resident file-backed memory of its read-only mappings falls, and the
// process goes on running code and reading tables from them. (go test
// -buildmode=pie runs it on a binary whose relocated read-only data stays.)
func TestReleaseBinaryPages(t *testing.T) {
	exeRSS := func() int {
		b, err := os.ReadFile("/proc/self/smaps")
		if err != nil {
			t.Fatal(err)
		}
		ms, err := binaryMappings(b, uint64(reflect.ValueOf(binaryMappings).Pointer()))
		if err != nil {
			t.Fatal(err)
		}
		kb := 0
		for _, m := range ms {
			kb += m.rssKB
		}
		return kb
	}
	before := exeRSS()
	if err := releaseBinaryPages(); err != nil {
		t.Fatal(err)
	}
	after := exeRSS()
	t.Logf("executable's read-only mappings: %d kB resident before the release, %d kB after", before, after)
	if after >= before/2 {
		t.Fatalf("%d kB resident before the release, %d kB after", before, after)
	}
	// Code and tables run again from the file.
	if got := strconv.Itoa(12345) + fmt.Sprintf("%v", []int{1, 2}); got != "12345[1 2]" {
		t.Fatal(got)
	}
	if _, err := fileResidentKB(); err != nil {
		t.Fatal(err)
	}
}
