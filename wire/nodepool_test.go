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
			reused := 0
			for range 20 {
				m := decode(richs)
				kept := m.Peers[n/2]
				keptJSON := mustJSON(t, &kept)
				arr := &m.Peers[0]
				ReleaseMap(&m)
				if m.Peers != nil {
					t.Fatal("ReleaseMap left Peers set")
				}
				next := decode(sparse)
				if &next.Peers[0] == arr {
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

// TestMakeNodesSizes: lists come zeroed at the length asked, from a
// released list of the same capacity class or the next, never a shorter
// one; short lists are not kept.
func TestMakeNodesSizes(t *testing.T) {
	for _, c := range []struct{ released, asked int }{
		{100, 100}, {100, 90}, {100, 127}, {100, 128}, {100, 200}, {200, 100}, {64, 64}, {10, 10}, {1000, 1000},
	} {
		s := make([]Node, c.released)
		for i := range s {
			s[i].ID, s[i].Name, s[i].Tags = NodeID(i+1), "x", []string{"tag:x"}
		}
		releaseNodes(s)
		got := makeNodes(c.asked)
		if len(got) != c.asked || cap(got) < c.asked {
			t.Fatalf("released %d, asked %d: got len %d cap %d", c.released, c.asked, len(got), cap(got))
		}
		for i := range got[:cap(got)] {
			if !reflect.DeepEqual(got[:cap(got)][i], Node{}) {
				t.Fatalf("released %d, asked %d: record %d not zero: %+v", c.released, c.asked, i, got[i])
			}
		}
		releaseNodes(got)
	}
}

// BenchmarkDecodeMapBinaryReleased is BenchmarkDecodeMapBinary with the
// lists released after each message, as node.Session and the simulator
// do: compare their ns/op and allocated bytes.
func BenchmarkDecodeMapBinaryReleased(b *testing.B) {
	m := gatewayDelta(12250)
	line, bin := binaryMessage(b, m)
	b.SetBytes(int64(len(line) + len(bin)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := decodeBinaryMessage(line, bin)
		if err != nil {
			b.Fatal(err)
		}
		ReleaseMap(&got)
	}
	b.ReportMetric(float64(b.N)*12250/b.Elapsed().Seconds(), "records/s")
}

