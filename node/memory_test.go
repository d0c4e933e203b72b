package node

import (
	"testing"
)

// memSink keeps the test's allocations from being optimized away.
var memSink [][]byte

// TestMemoryGivenBackAfterLoad drives the memory governor's decision with
// the runtime's real counters: a load (40 MiB allocated) is not quiet; the
// quiet interval after it gives memory back; a quiet interval after that,
// with nothing new allocated, does not.
func TestMemoryGivenBackAfterLoad(t *testing.T) {
	var g memGovernor
	g.init()
	for range 40 {
		memSink = append(memSink, make([]byte, 1<<20))
	}
	memSink = nil
	if g.due() {
		t.Fatal("memory given back during the load")
	}
	if !g.due() {
		t.Fatal("memory not given back in the quiet interval after the load")
	}
	giveBackMemory()
	g.noteRelease()
	if g.due() {
		t.Fatal("memory given back again with no load since")
	}
}
