package wire

import (
	"bytes"
	"encoding/json"
	"math"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
)

// peerBlock encodes nodes as one binary block.
func peerBlock(t testing.TB, nodes []Node) []byte {
	t.Helper()
	b := AppendPeerBlockHead(nil, len(nodes))
	for i := range nodes {
		var err error
		if b, err = AppendPeerRecord(b, &nodes[i]); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// binaryMessage is m as a coordinator writes it to a node of protocol 26:
// its line, without the peers, and the blocks after it.
func binaryMessage(t testing.TB, m *MapResponse) (line, bin []byte) {
	t.Helper()
	head := *m
	head.Peers, head.PeersChanged = nil, nil
	if len(m.Peers) > 0 {
		bin = peerBlock(t, m.Peers)
		head.PeersBin = len(bin)
	}
	if len(m.PeersChanged) > 0 {
		bin = append(bin, peerBlock(t, m.PeersChanged)...)
		head.PeersChangedBin = len(bin) - head.PeersBin
	}
	return append(mustJSON(t, &head), '\n'), bin
}

// decodeBinaryMessage reads a message as node/control does.
func decodeBinaryMessage(line, bin []byte) (MapResponse, error) {
	var m MapResponse
	if err := DecodeMapResponse(line, &m); err != nil {
		return m, err
	}
	return m, DecodeMapBinary(bin, &m)
}

// checkPeerRecord holds n's binary record to its JSON: decoding either
// gives the same Node. Nodes json.Marshal refuses are skipped.
func checkPeerRecord(t *testing.T, n Node) {
	t.Helper()
	j, err := json.Marshal(&n)
	if err != nil {
		if _, berr := AppendPeerRecord(nil, &n); berr == nil {
			t.Fatalf("%+v: json.Marshal fails (%v), AppendPeerRecord does not", n, err)
		}
		return
	}
	var want Node
	if err := json.Unmarshal(j, &want); err != nil {
		return // what encoding/json writes but does not read back: no meaning to keep
	}
	m := MapResponse{PeersBin: 0}
	bin := peerBlock(t, []Node{n})
	m.PeersBin = len(bin)
	if err := DecodeMapBinary(bin, &m); err != nil {
		t.Fatalf("%s: %v", j, err)
	}
	if len(m.Peers) != 1 || !reflect.DeepEqual(m.Peers[0], want) {
		t.Fatalf("%s:\nbinary %+v\nJSON   %+v", j, m.Peers, want)
	}
}

// TestPeerRecordMatchesJSON: records of every shape decode to what their
// JSON decodes to: nil against empty lists, zones, IPv4-mapped
// addresses, times out of UTC or out of unix nanoseconds' range, text that
// is not UTF-8, the rare fields.
func TestPeerRecordMatchesJSON(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	zoned := netip.MustParseAddr("fe80::1%eth0")
	mapped := netip.MustParseAddr("::ffff:100.64.0.1")
	nodes := []Node{
		{},
		camera(7),
		{ID: -42, Name: "a", FQDN: "a."},
		{Name: "", FQDN: ".ward.internal"},
		{Name: "x", FQDN: "other.example"},
		{Name: "bad\xffname\xc3", FQDN: "bad\xffname\xc3.ward.internal", User: "\xfe@x", Tags: []string{"tag:\x80"}, HomeRelay: "r\xff"},
		{IPv4: mapped, IPv6: zoned, Endpoints: []netip.AddrPort{{}, netip.AddrPortFrom(zoned, 1), netip.AddrPortFrom(mapped, 65535),
			netip.AddrPortFrom(netip.Addr{}, 80)}},
		{IPv4: netip.MustParseAddr("::1"), IPv6: netip.MustParseAddr("1.2.3.4")},
		{Grants: []filter.PortGrant{}},
		{Grants: []filter.PortGrant{{Proto: filter.ProtoICMP}, {Proto: filter.ProtoTCP, Ports: []filter.PortRange{}},
			{Proto: 255, Ports: []filter.PortRange{{First: 0, Last: 65535}, {First: 9, Last: 3}}}}},
		{Endpoints: []netip.AddrPort{}, Tags: []string{}, ExposedPorts: []uint16{}, Routes: []netip.Prefix{}},
		{KeyExpiry: t0.In(est)},
		{KeyExpiry: time.Date(2026, 12, 7, 1, 2, 3, 4, time.FixedZone("Z0", 0))},
		{KeyExpiry: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)},
		{KeyExpiry: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{KeyExpiry: time.Unix(0, math.MaxInt64).UTC()},
		{KeyExpiry: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{KeyExpiry: time.Now()},
		{KeySwitchAt: t0, PrevWGKey: seq(3), MFAWithinMillis: -1, MFAAt: t0.In(est), ExposedPorts: []uint16{22, 0},
			Routes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, RouteHosts: []RouteHost{{Name: "plc", Addr: netip.MustParseAddr("10.1.2.3")}},
			Requests: []AccessRequest{{ID: 2, Approvers: []string{"admins"}, CreatedAt: t0}}},
		{ID: math.MinInt64, Online: true, KeyRevoked: true, OwnerDisabled: true},
	}
	for _, n := range nodes {
		checkPeerRecord(t, n)
	}
}

// TestPeerRecordEveryField: a Node with every field set, and one with
// each field alone, decodes from its record as from its JSON. A field
// added to Node that neither the record's layout nor its trailer
// (nodeRare, DecodeMapBinary's copy) carries fails here.
func TestPeerRecordEveryField(t *testing.T) {
	var all Node
	fill(reflect.ValueOf(&all).Elem())
	checkPeerRecord(t, all)
	for i := range reflect.TypeFor[Node]().NumField() {
		var one Node
		fill(reflect.ValueOf(&one).Elem().Field(i))
		checkPeerRecord(t, one)
	}
	// And with values other than fill's, so a field the decoder sets to a
	// constant would show.
	all.ID, all.Name, all.MFAWithinMillis, all.Online = 77, "other", 12345, false
	checkPeerRecord(t, all)
}

// TestDecodeMapBinaryRefuses: lengths that do not add up, a list in both
// forms, truncated and padded blocks are refused.
func TestDecodeMapBinaryRefuses(t *testing.T) {
	block := peerBlock(t, []Node{camera(1), camera(2)})
	for name, c := range map[string]struct {
		m   MapResponse
		bin []byte
	}{
		"negative":       {MapResponse{PeersBin: -1, PeersChangedBin: len(block) + 1}, block},
		"short":          {MapResponse{PeersBin: len(block) + 1}, block},
		"long":           {MapResponse{PeersBin: len(block) - 1}, block},
		"overflow":       {MapResponse{PeersBin: math.MaxInt, PeersChangedBin: math.MaxInt}, block},
		"both forms":     {MapResponse{PeersBin: len(block), Peers: []Node{{}}}, block},
		"truncated":      {MapResponse{PeersBin: len(block) - 1}, block[:len(block)-1]},
		"padded":         {MapResponse{PeersBin: len(block) + 1}, append(bytes.Clone(block), 0)},
		"empty block":    {MapResponse{PeersBin: 1}, []byte{0}},
		"count too high": {MapResponse{PeersBin: 2}, []byte{100, 0}},
	} {
		m := c.m
		if err := DecodeMapBinary(c.bin, &m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	m := MapResponse{PeersChangedBin: len(block)}
	if err := DecodeMapBinary(block, &m); err != nil || len(m.PeersChanged) != 2 || m.PeersChangedBin != 0 {
		t.Fatalf("%v %d %d", err, len(m.PeersChanged), m.PeersChangedBin)
	}
}

// TestBinaryMessagesMatchJSON: whole messages (a gateway's delta and full
// map) read in their binary form equal their JSON, and keep nothing of the
// bytes they were read from.
func TestBinaryMessagesMatchJSON(t *testing.T) {
	for _, m := range []*MapResponse{gatewayDelta(300), gatewayFull(50, 40)} {
		var want MapResponse
		if err := json.Unmarshal(mustJSON(t, m), &want); err != nil {
			t.Fatal(err)
		}
		line, bin := binaryMessage(t, m)
		got, err := decodeBinaryMessage(line, bin)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("binary message differs from its JSON")
		}
		// The nodes hold nothing of the bytes read (the reader's buffer).
		clear(bin)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded nodes alias the block's bytes")
		}
		if !checkDecode(t, line) {
			t.Fatalf("fast decoder refused the head %s", line)
		}
	}
}

// FuzzPeerRecord: any Node encoding/json reads decodes from its record as
// from its JSON; and bytes into the binary decoder never panic, and what
// it accepts encodes to a block that decodes to the same.
func FuzzPeerRecord(f *testing.F) {
	f.Add(mustJSON(f, camera(3)))
	var all Node
	fill(reflect.ValueOf(&all).Elem())
	f.Add(mustJSON(f, all))
	f.Add(peerBlock(f, []Node{camera(1), all}))
	f.Add([]byte(`{"name":"a\xff","fqdn":"a\xff.x","ipv6":"fe80::1%e","key_expiry":"2026-01-01T00:00:00+01:00","grants":[]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var n Node
		if json.Unmarshal(in, &n) == nil {
			checkPeerRecord(t, n)
		}
		m := MapResponse{PeersBin: len(in)}
		if DecodeMapBinary(in, &m) != nil || len(in) == 0 {
			return
		}
		again := MapResponse{}
		block := peerBlock(t, m.Peers)
		again.PeersBin = len(block)
		if err := DecodeMapBinary(block, &again); err != nil {
			t.Fatalf("re-encoded block refused: %v", err)
		}
		if !reflect.DeepEqual(again.Peers, m.Peers) {
			t.Fatalf("decoded %+v, re-encoded and decoded %+v", m.Peers, again.Peers)
		}
	})
}

// BenchmarkDecodeMapBinary reads a gateway's delta of 12,250 camera
// records (BenchmarkDecodeMap's) in its binary form, its line and blocks
// as node/control reads them; b.N's bytes are the whole message, so MB/s
// compares with BenchmarkDecodeMap's delta only per record (see
// bytes/record).
func BenchmarkDecodeMapBinary(b *testing.B) { benchDecodeMapBinary(b, false) }

// benchDecodeMapBinary is BenchmarkDecodeMapBinary, with each message's
// lists released after it (ReleaseMap) when release is set.
func benchDecodeMapBinary(b *testing.B, release bool) {
	m := gatewayDelta(12250)
	line, bin := binaryMessage(b, m)
	b.SetBytes(int64(len(line) + len(bin)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := decodeBinaryMessage(line, bin)
		if err != nil {
			b.Fatal(err)
		}
		if release {
			ReleaseMap(&got)
		}
	}
	b.ReportMetric(float64(len(line)+len(bin))/12250, "bytes/record")
	b.ReportMetric(float64(len(mustJSON(b, m)))/12250, "json-bytes/record")
	b.ReportMetric(float64(b.N)*12250/b.Elapsed().Seconds(), "records/s")
}

// TestDecodedRecordsOwnTheirBytes: nothing a decoded record holds points
// into the block's buffer, which the next block reuses (binBufs).
func TestDecodedRecordsOwnTheirBytes(t *testing.T) {
	var a, b Node
	fill(reflect.ValueOf(&a).Elem())
	fill(reflect.ValueOf(&b).Elem())
	a.Name, a.FQDN, a.User, a.Tags, a.HomeRelay = "alpha", "host-alpha.example", "a@x", []string{"tag:a"}, "ra"
	b.Name, b.FQDN, b.User, b.Tags, b.HomeRelay = "bravo", "host-bravo.example", "b@x", []string{"tag:b"}, "rb"
	decode := func(n Node) MapResponse {
		line, bin := binaryMessage(t, &MapResponse{Version: 1, Peers: []Node{n, n}})
		m, err := decodeBinaryMessage(line, bin)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	first := decode(a)
	want := mustJSON(t, &first)
	for range 4 {
		decode(b) // into the buffer first's block was read into
	}
	if got := mustJSON(t, &first); !bytes.Equal(got, want) {
		t.Fatalf("a decoded message changed when the next was decoded:\nbefore %s\nafter  %s", want, got)
	}
}
