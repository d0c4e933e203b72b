package wire

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

// TestReleaseMapReuse: a released list is reused by the next decoding of
// as many records, and what it held before shows in none of them. A
// record with every field set (fill) is followed by sparse ones, in both
// the binary and the JSON form; records copied out before the release
// keep their values.
func TestReleaseMapReuse(t *testing.T) {
	const n = 100
	var rich Node
	fill(reflect.ValueOf(&rich).Elem())
	richs, sparse := make([]Node, n), make([]Node, n)
	for i := range n {
		richs[i] = rich
		richs[i].ID, richs[i].Name = NodeID(i+1), fmt.Sprintf("rich-%d", i)
		sparse[i] = camera(i)
	}
	for _, form := range []string{"binary", "json"} {
		t.Run(form, func(t *testing.T) {
			decode := func(peers []Node) MapResponse {
				t.Helper()
				m := &MapResponse{Version: 7, Full: true, Self: &sparse[0], Peers: peers}
				var got MapResponse
				var err error
				if form == "binary" {
					got, err = decodeBinaryMessage(binaryMessage(t, m))
				} else {
					err = DecodeMapResponse(mustJSON(t, m), &got)
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(got.Peers) != n {
					t.Fatalf("decoded %d peers, want %d", len(got.Peers), n)
				}
				return got
			}
			fresh := decode(sparse)
			want := mustJSON(t, fresh.Peers)
			// released are the lists given back so far; the JSON form's
			// rich records go through encoding/json (fields the decoder
			// hands it), whose lists are not of a pooled capacity.
			released := map[*Node]bool{}
			reused := 0
			for range 20 {
				m := decode(richs)
				if released[&m.Peers[0]] {
					reused++
				}
				kept := m.Peers[n/2]
				keptJSON := mustJSON(t, &kept)
				released[&m.Peers[0]] = true
				ReleaseMap(&m)
				if m.Peers != nil {
					t.Fatal("ReleaseMap left Peers set")
				}
				next := decode(sparse)
				if released[&next.Peers[0]] {
					reused++
				}
				if got := mustJSON(t, next.Peers); !bytes.Equal(got, want) {
					t.Fatalf("sparse records decoded into a released list differ from fresh ones:\ngot  %.300s\nwant %.300s", got, want)
				}
				if !reflect.DeepEqual(next.Peers, fresh.Peers) {
					t.Fatal("sparse records decoded into a released list are not deeply equal to fresh ones")
				}
				if got := mustJSON(t, &kept); !bytes.Equal(got, keptJSON) {
					t.Fatalf("a record copied out before the release changed:\nbefore %s\nafter  %s", keptJSON, got)
				}
				released[&next.Peers[0]] = true
				ReleaseMap(&next)
			}
			// sync.Pool may drop what it is given (always some of it under
			// the race detector, and at every collection): some reuse, not
			// every time.
			if reused == 0 {
				t.Fatal("no decoding reused a released list in 20 tries")
			}
		})
	}
}

// TestMakeNodesSizes: a list of n records is made with a capacity of its
// class (n rounded up by at most a quarter), comes zeroed at the length
// asked, and a released one serves every later length of its class: a
// fleet's maps growing a record at a time reuse the same lists, rather
// than leave the pool a list too short at each step.
func TestMakeNodesSizes(t *testing.T) {
	prev := 0
	for n := 1; n <= maxPooledNodes; n += 1 + n/7 {
		c := nodeListCap(n)
		if c < n || c > n+n/4+1 || c < prev {
			t.Fatalf("nodeListCap(%d) = %d (the one before %d)", n, c, prev)
		}
		prev = c
		if _, ok := nodeListClass(c); !ok && c >= minPooledNodes {
			t.Fatalf("nodeListCap(%d) = %d is no class", n, c)
		}
		if i, ok := nodeListClass(c); ok && (i < 0 || i >= len(nodeLists)) {
			t.Fatalf("class of %d: %d, out of the pools", c, i)
		}
	}
	for _, c := range []int{100, 1000, 12250} {
		if _, ok := nodeListClass(c); ok {
			t.Errorf("capacity %d taken as a class", c)
		}
	}
	reused, fresh := 0, 0
	var last *Node
	for n := 900; n < 1100; n++ {
		s := makeNodes(n)
		if len(s) != n || cap(s) != nodeListCap(n) {
			t.Fatalf("makeNodes(%d): len %d cap %d, want cap %d", n, len(s), cap(s), nodeListCap(n))
		}
		for i := range s[:cap(s)] {
			if !reflect.DeepEqual(s[:cap(s)][i], Node{}) {
				t.Fatalf("makeNodes(%d): record %d not zero", n, i)
			}
		}
		if &s[0] == last {
			reused++
		} else {
			fresh++
		}
		last = &s[0]
		for i := range s {
			s[i].ID, s[i].Name, s[i].Tags = NodeID(i+1), "x", []string{"tag:x"}
		}
		releaseNodes(s)
	}
	// sync.Pool drops a quarter of what it is given under the race
	// detector, and all of it at a collection: most, not all.
	if reused < 100 {
		t.Errorf("200 lengths from 900 to 1,099: %d reused the list released before, %d did not", reused, fresh)
	}
}

// BenchmarkDecodeMapBinaryReleased is BenchmarkDecodeMapBinary with the
// lists released after each message, as node.Session and the simulator
// do: compare their ns/op and allocated bytes.
func BenchmarkDecodeMapBinaryReleased(b *testing.B) { benchDecodeMapBinary(b, true) }
