package node

import (
	"encoding/json"
	"testing"

	"github.com/wardnet/ward/wire"
)

// FuzzNetmapApply feeds arbitrary map messages to a view: apply must not
// panic, and a message it accepts must leave a valid view.
func FuzzNetmapApply(f *testing.F) {
	f.Add([]byte(`{"version":1,"full":true,"self":{"id":1,"ipv4":"100.64.0.1"},"peers":[{"id":2,"ipv4":"100.64.0.2","wg_key":"wgkey:0100000000000000000000000000000000000000000000000000000000000000"}]}`),
		[]byte(`{"version":2,"peers_removed":[2],"filter_changed":true,"filter":[{"src":["100.64.0.2/32"],"dst":[{"net":"100.64.0.1/32","ports":[{"first":22,"last":22}]}]}]}`))
	f.Add([]byte(`{"version":1,"full":true}`), []byte(`{"peers_changed":[{"id":3}]}`))
	f.Add([]byte(`{"version":1,"full":true,"self":{"id":1,"ipv4":"100.64.0.1"},"peers":[{"id":2,"ipv4":"100.64.0.2","wg_key":"wgkey:0100000000000000000000000000000000000000000000000000000000000000"}]}`),
		[]byte(`{"version":2,"peers_grants":[{"id":2,"grants":[{"proto":"tcp","ports":[{"first":22,"last":22}]}]},{"id":7}]}`))
	f.Add([]byte(`{"version":1,"full":true,"self":{"id":1,"ipv4":"100.64.0.1"},"filter":[{"src":["100.64.0.2/32","100.64.0.3/32"],"dst":[{"net":"100.64.0.1/32","ports":[{"first":22,"last":22}]}]}]}`),
		[]byte(`{"version":2,"filter_changed":true,"filter":[{"src":null,"dst":[{"net":"100.64.0.1/32","ports":[{"first":22,"last":22}]}]}],"filter_src_from":[0],"filter_src_delta":[{"rule":0,"add":["100.64.0.4/32"],"del":["100.64.0.2/32"],"sum":"0000000000000000"}]}`))
	f.Add([]byte(`{"version":1,"full":true,"self":{"id":1,"ipv4":"100.64.0.1"},"peers":[{"id":2,"ipv4":"100.64.0.2","wg_key":"wgkey:0100000000000000000000000000000000000000000000000000000000000000","grants":[{"proto":6,"ports":[{"first":22,"last":22}]}]}]}`),
		[]byte(`{"version":2,"peers_grants_swap":[{"from":[{"proto":6,"ports":[{"first":22,"last":22}]}],"to":[{"proto":6,"ports":[{"first":80,"last":22}]}]}]}`))
	f.Fuzz(func(t *testing.T, first, second []byte) {
		nm := emptyNetmap()
		for _, b := range [][]byte{first, second} {
			var m wire.MapResponse
			if json.Unmarshal(b, &m) != nil {
				return
			}
			next, err := nm.apply(m)
			if err != nil {
				continue
			}
			if err := next.validate(); err != nil {
				t.Fatalf("accepted map leaves an invalid view: %v", err)
			}
			nm = next
		}
	})
}
