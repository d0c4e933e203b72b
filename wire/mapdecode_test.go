package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
)

// checkDecode holds DecodeMapResponse to json.Unmarshal on in: both
// accept it or both refuse it, with deeply equal values; and whenever the
// fast decoder takes it, encoding/json does too, to the same value. It
// reports whether the fast decoder took it.
func checkDecode(t *testing.T, in []byte) bool {
	t.Helper()
	var want MapResponse
	wantErr := json.Unmarshal(in, &want)
	var got MapResponse
	gotErr := DecodeMapResponse(in, &got)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("%.200q: encoding/json error %v, DecodeMapResponse error %v", in, wantErr, gotErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%.200q: DecodeMapResponse\n%+v\nencoding/json\n%+v", in, got, want)
	}
	var fast MapResponse
	if !decodeMapFast(in, &fast) {
		return false
	}
	if wantErr != nil {
		t.Fatalf("%.200q: fast decoder accepted what encoding/json refuses (%v)", in, wantErr)
	}
	if !reflect.DeepEqual(fast, want) {
		t.Fatalf("%.200q: fast decoder\n%+v\nencoding/json\n%+v", in, fast, want)
	}
	return true
}

// mapMessages are the map messages of controlMessages, encoded.
func mapMessages(t testing.TB) [][]byte {
	var out [][]byte
	for name, m := range controlMessages() {
		if mr, ok := m.(*MapResponse); ok {
			b, err := json.Marshal(mr)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out = append(out, b)
		}
	}
	return out
}

// TestDecodeMapResponseMessages: every form of map message the
// coordinator writes is read by the fast decoder, to encoding/json's
// value, but a person's own node's access requests (Self.Requests, in
// the small full maps of a person's devices), which it leaves to
// encoding/json.
func TestDecodeMapResponseMessages(t *testing.T) {
	msgs := mapMessages(t)
	msgs = append(msgs, mustJSON(t, gatewayDelta(50)), mustJSON(t, gatewayFull(50, 300)))
	for _, b := range msgs {
		var m MapResponse
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		fast := checkDecode(t, b)
		if want := m.Self == nil || m.Self.Requests == nil; fast != want {
			t.Errorf("fast decoder took it: %v, want %v: %.300s", fast, want, b)
		}
		if m.Self != nil && m.Self.Requests != nil {
			m.Self.Requests = nil
			if !checkDecode(t, mustJSON(t, &m)) {
				t.Errorf("fast decoder refused a coordinator's message without requests: %.300s", b)
			}
		}
	}
}

// TestDecodeMapResponseEdges: the forms a coordinator does not write but
// a decoder meets, each read exactly as encoding/json reads it (fast:
// whether the fast decoder itself takes it).
func TestDecodeMapResponseEdges(t *testing.T) {
	key := "wgkey:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		in   string
		fast bool
	}{
		{"empty object", `{}`, true},
		{"whitespace", " \t\r\n{ \"version\" : 7 , \"full\" : true }\n", true},
		{"escaped name", `{"peers":[{"id":1,"name":"a\u00e9\"\\\/\n"}]}`, true},
		{"escaped tag", `{"peers":[{"id":1,"tags":["tag:\u0063am"]}]}`, true},
		{"utf8 name", `{"peers":[{"id":1,"name":"café"}]}`, true},
		{"invalid utf8 name", "{\"peers\":[{\"id\":1,\"name\":\"a\xffb\"}]}", true},
		{"bad escape", `{"peers":[{"id":1,"name":"a\qb"}]}`, false},
		{"control char", "{\"peers\":[{\"id\":1,\"name\":\"a\x01b\"}]}", false},
		{"escaped key", `{"vers\u0069on":3}`, false},
		{"escaped address", `{"peers":[{"id":1,"ipv4":"100.64.0.\u0031"}]}`, false},
		{"null self", `{"self":null}`, true},
		{"null peers", `{"peers":null,"filter":null}`, true},
		{"empty lists", `{"peers":[],"peers_removed":[],"filter":[],"relays":[],"peers_grants":[],"filter_src_from":[]}`, true},
		{"empty grants vs absent", `{"peers":[{"id":1,"grants":[]},{"id":2}]}`, true},
		{"null src", `{"filter":[{"src":null,"dst":[{"net":"100.64.0.1/32","ports":[{"first":1,"last":2}]}],"protos":[6]}],"filter_src_from":[0]}`, true},
		{"null version", `{"version":null}`, false},
		{"null in list", `{"peers":[{"id":1,"tags":[null]}]}`, false},
		{"null key", `{"peers":[{"id":1,"wg_key":null}]}`, false},
		{"duplicate key", `{"version":1,"version":2}`, false},
		{"duplicate peers merge", `{"peers":[{"id":1,"name":"a"}],"peers":[{"id":2}]}`, false},
		{"duplicate self merge", `{"self":{"id":1,"name":"a"},"self":{"id":2}}`, false},
		{"duplicate node key", `{"peers":[{"id":1,"id":2}]}`, false},
		{"key in other case", `{"Version":3}`, false},
		{"unknown key", `{"version":3,"later":{"a":[1,2]}}`, false},
		{"unknown node key", `{"peers":[{"id":1,"colour":"red"}]}`, false},
		{"max uint64", `{"version":18446744073709551615}`, true},
		{"uint64 overflow", `{"version":18446744073709551616}`, false},
		{"negative version", `{"version":-1}`, false},
		{"minus zero version", `{"version":-0}`, false},
		{"fraction", `{"version":1.0}`, false},
		{"exponent", `{"version":1e3}`, false},
		{"leading zero", `{"version":01}`, false},
		{"min int64 id", `{"peers":[{"id":-9223372036854775808}]}`, true},
		{"int64 overflow", `{"peers":[{"id":9223372036854775808}]}`, false},
		{"minus zero id", `{"peers":[{"id":-0}]}`, true},
		{"int past 32 bits", `{"filter_src_from":[2147483648],"filter_src_delta":[{"rule":-2147483649,"sum":""}]}`, strconv.IntSize == 64},
		{"port 65535", `{"peers":[{"id":1,"exposed_ports":[65535]}]}`, true},
		{"port overflow", `{"peers":[{"id":1,"exposed_ports":[65536]}]}`, false},
		{"proto overflow", `{"peers":[{"id":1,"grants":[{"proto":256}]}]}`, false},
		{"proto as string", `{"peers":[{"id":1,"grants":[{"proto":"6"}]}]}`, false},
		{"bad address", `{"peers":[{"id":1,"ipv4":"100.64.0.256"}]}`, false},
		{"empty address", `{"peers":[{"id":1,"ipv4":""}]}`, true},
		{"zoned address", `{"peers":[{"id":1,"ipv6":"fe80::1%eth0"}]}`, true},
		{"upper-case key", `{"peers":[{"id":1,"wg_key":"` + strings.ToUpper(key[:6]) + key[6:] + `"}]}`, false},
		{"upper-case hex", `{"peers":[{"id":1,"wg_key":"wgkey:` + strings.Repeat("AB", 32) + `"}]}`, true},
		{"short key", `{"peers":[{"id":1,"wg_key":"wgkey:abcd"}]}`, false},
		{"time offset", `{"server_time":"2026-12-07T12:00:00.123+02:00"}`, true},
		{"bad time", `{"server_time":"2026-13-07T12:00:00Z"}`, false},
		{"bool as number", `{"full":1}`, false},
		{"trailing comma", `{"version":1,}`, false},
		{"trailing comma in list", `{"peers_removed":[1,2,]}`, false},
		{"missing comma", `{"version":1 "full":true}`, false},
		{"trailing data", `{"version":1} {}`, false},
		{"trailing garbage", `{"version":1}x`, false},
		{"truncated", `{"peers":[{"id":1,"name":"a`, false},
		{"top-level null", `null`, false},
		{"top-level list", `[]`, false},
		{"empty input", ``, false},
		{"literal typo", `{"full":tru}`, false},
		{"literal glued", `{"full":truex}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkDecode(t, []byte(tc.in)); got != tc.fast {
				t.Errorf("fast decoder took it: %v, want %v", got, tc.fast)
			}
		})
	}
}

// TestDecodeMapResponseHuge: a message of a large fleet, and one nested
// deeper than encoding/json allows, decode as encoding/json decodes them.
func TestDecodeMapResponseHuge(t *testing.T) {
	if !checkDecode(t, mustJSON(t, gatewayFull(5000, 20000))) {
		t.Error("fast decoder refused a large full map")
	}
	deep := `{"peers":[{"id":1,"tags":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}]}`
	checkDecode(t, []byte(deep))
}

// TestDecodeMapResponseNoAliasing: lists cut from a shared chunk are
// capped at their length, so that appending to one leaves its
// neighbours alone.
func TestDecodeMapResponseNoAliasing(t *testing.T) {
	var m MapResponse
	if err := DecodeMapResponse(mustJSON(t, gatewayDelta(10)), &m); err != nil {
		t.Fatal(err)
	}
	before := fmt.Sprint(m.PeersChanged[1].Tags, m.PeersChanged[1].Grants)
	m.PeersChanged[0].Tags = append(m.PeersChanged[0].Tags, "tag:x")
	m.PeersChanged[0].Grants = append(m.PeersChanged[0].Grants, filter.PortGrant{Proto: 1})
	if after := fmt.Sprint(m.PeersChanged[1].Tags, m.PeersChanged[1].Grants); after != before {
		t.Fatalf("append to one peer's lists changed another's: %s -> %s", before, after)
	}
}

// FuzzDecodeMapResponse holds the fast decoder to encoding/json: it never
// panics, it takes only what encoding/json takes, to a deeply equal
// value, and DecodeMapResponse agrees with encoding/json on everything.
func FuzzDecodeMapResponse(f *testing.F) {
	for _, b := range mapMessages(f) {
		f.Add(b)
	}
	f.Add(mustJSON(f, gatewayDelta(3)))
	f.Add(mustJSON(f, gatewayFull(3, 4)))
	f.Add([]byte(`{"version":1,"version":2,"peers":[{"id":1}],"peers":[{"name":"a"}]}`))
	f.Add([]byte(`{"self":{"id":1,"requests":[{"id":2,"approvers":["admins"],"created_at":"2026-12-07T12:00:00Z"}]},"self":{"name":"x"}}`))
	f.Add([]byte(`{"peers":[{"id":-0,"name":"\u00e9\ud800","ipv6":"fe80::1%eth0","grants":[]}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkDecode(t, in)
	})
}

// mustJSON marshals v.
func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// camera is a camera's record as a gateway sees it in its map.
func camera(i int) Node {
	ip4 := netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)})
	ip6 := netip.AddrFrom16([16]byte{0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 14: byte(i >> 8), 15: byte(i)})
	var k WGPublic
	for j := range k {
		k[j] = byte(i*7 + j)
	}
	name := fmt.Sprintf("camera-%d", i)
	return Node{ID: NodeID(1000 + i), Name: name, FQDN: name + ".ward.internal", IPv4: ip4, IPv6: ip6, WGKey: k,
		HomeRelay: "coordinator", KeyExpiry: t0.Add(90 * 24 * time.Hour),
		Endpoints: []netip.AddrPort{netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 41641)},
		Tags:      []string{"tag:camera"}, Online: true,
		Grants: []filter.PortGrant{{Proto: filter.ProtoTCP, Ports: []filter.PortRange{{First: 554, Last: 554}}}}}
}

// gatewayDelta is the delta a gateway gets when a policy change gives it
// cameras' records.
func gatewayDelta(cameras int) *MapResponse {
	m := &MapResponse{Version: 42, ServerTime: t0}
	for i := range cameras {
		m.PeersChanged = append(m.PeersChanged, camera(i))
	}
	return m
}

// gatewayFull is a gateway's full map: cameras' records and a filter
// whose rule lists sensors sources.
func gatewayFull(cameras, sensors int) *MapResponse {
	m := gatewayDelta(cameras)
	m.Full, m.Peers, m.PeersChanged = true, m.PeersChanged, nil
	self := camera(99999)
	self.Name, self.Tags, self.Grants = "gateway-1", []string{"tag:gateway"}, nil
	m.Self, m.DNSDomain = &self, "ward.internal"
	src := make([]netip.Prefix, 0, 2*sensors)
	for i := range sensors {
		src = append(src, netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 65, byte(i >> 8), byte(i)}), 32))
	}
	for i := range sensors {
		src = append(src, netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe1, 14: byte(i >> 8), 15: byte(i)}), 128))
	}
	m.Filter = []filter.Rule{{Src: src, Dst: []filter.DstNet{{Net: netip.PrefixFrom(self.IPv4, 32),
		Ports: []filter.PortRange{{First: 8883, Last: 8883}}}}, Protos: []filter.Proto{filter.ProtoTCP}}}
	m.Relays = []Relay{{Name: "coordinator", URL: PathRelay, STUN: ":3478"}}
	return m
}

// BenchmarkDecodeMap decodes a keep-alive, a gateway's delta of 12,250 camera records
// (a policy change at 50,000 nodes) and a gateway's full map (12,250
// cameras, a rule listing 36,750 sensors) with encoding/json and with
// DecodeMapResponse, in one run: compare ns/op, MB/s and allocs/op of
// each pair.
func BenchmarkDecodeMap(b *testing.B) {
	for _, msg := range []struct {
		name string
		m    *MapResponse
	}{
		{"keepalive", &MapResponse{Version: 42, KeepAlive: true, ServerTime: t0}},
		{"delta", gatewayDelta(12250)},
		{"full", gatewayFull(12250, 36750)},
	} {
		data := mustJSON(b, msg.m)
		b.Run(msg.name+"/encoding-json", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var m MapResponse
				if err := json.Unmarshal(data, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(msg.name+"/fast", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var m MapResponse
				if err := DecodeMapResponse(data, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
		if !bytes.Equal(data, mustJSON(b, msg.m)) {
			b.Fatal("message changed")
		}
	}
}

// TestSpecialWord: specialWord misses no special byte, whatever its
// place and the bytes around it.
func TestSpecialWord(t *testing.T) {
	special := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	fills := []byte{'a', '0', ' ', 0x7f, '!', '#', '[', ']', 0x1f, 0x21}
	for _, fill := range fills {
		for pos := range 8 {
			for c := range 256 {
				var b [8]byte
				for i := range b {
					b[i] = fill
				}
				b[pos] = byte(c)
				want := special(byte(c)) || special(fill)
				if got := specialWord(binary.LittleEndian.Uint64(b[:])); got != want && want {
					t.Fatalf("%q: specialWord %v, want %v", b, got, want)
				}
				if !want && specialWord(binary.LittleEndian.Uint64(b[:])) {
					t.Fatalf("%q: specialWord true for ordinary bytes", b)
				}
			}
		}
	}
}

// TestDecodeMapResponseConcurrent: decoders come from a pool; goroutines
// decoding at once (a simulator's nodes) each get their own message,
// whole. Run under -race.
func TestDecodeMapResponseConcurrent(t *testing.T) {
	msgs := [][]byte{mustJSON(t, gatewayDelta(200)), mustJSON(t, gatewayFull(100, 400)), mapMessages(t)[0]}
	want := make([]MapResponse, len(msgs))
	for i, b := range msgs {
		if err := json.Unmarshal(b, &want[i]); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 30 {
				k := (g + i) % len(msgs)
				var m MapResponse
				if err := DecodeMapResponse(msgs[k], &m); err != nil || !reflect.DeepEqual(m, want[k]) {
					errs <- fmt.Errorf("goroutine %d, message %d: %v, equal %v", g, k, err, reflect.DeepEqual(m, want[k]))
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// fill sets every field v reaches to a value that is not zero: one
// element in each list, a pointer to a filled value.
func fill(v reflect.Value) {
	switch x := v.Addr().Interface().(type) {
	case *time.Time:
		*x = t0
		return
	case *netip.Addr:
		*x = cam
		return
	case *netip.AddrPort:
		*x = netip.AddrPortFrom(cam, 41641)
		return
	case *netip.Prefix:
		*x = netip.PrefixFrom(cam, 32)
		return
	case *WGPublic:
		*x = seq(0x40)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i))
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint8, reflect.Uint16, reflect.Uint64:
		v.SetUint(6)
	default:
		panic(fmt.Sprintf("fill: %s", v.Type()))
	}
}

// TestDecodeMapResponseEveryField: a map message with every field of
// every type it holds set goes through the fast path (but a node's
// Requests, left to encoding/json). A field added to MapResponse,
// Node or the types under them fails this test until the decoder reads
// it (mapdecode.go): without it, every message that carries the field
// would be decoded by encoding/json, correctly but slowly.
func TestDecodeMapResponseEveryField(t *testing.T) {
	var m MapResponse
	fill(reflect.ValueOf(&m).Elem())
	m.Self.Requests, m.Peers[0].Requests, m.PeersChanged[0].Requests = nil, nil, nil
	if !checkDecode(t, mustJSON(t, &m)) {
		t.Fatalf("fast decoder refused a message with every field set: %s", mustJSON(t, &m))
	}
}
