package wire

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/wardnet/ward/filter"
)

// DecodeMapResponse decodes data, one map-stream message, into *m (which
// it overwrites: unlike json.Unmarshal it merges nothing into what m
// held). The result and the error's presence are json.Unmarshal's (into a
// zero MapResponse) for every input: a hand-written decoder takes the
// messages coordinators write, several times faster and with a fraction
// of the allocations, and anything it does not know how to read exactly
// as encoding/json does (an unknown or repeated key, a key in another
// case, an escaped key or address, a null where a value belongs, a number
// out of range, bad JSON) is handed whole to json.Unmarshal, which then
// decides (FuzzDecodeMapResponse holds the two equal).
//
// A node decodes every map message, and a gateway's can be megabytes of
// peer records: encoding/json reads them at about 100 MB/s and allocates
// several objects per field.
func DecodeMapResponse(data []byte, m *MapResponse) error {
	*m = MapResponse{}
	if decodeMapFast(data, m) {
		return nil
	}
	*m = MapResponse{}
	if err := json.Unmarshal(data, m); err != nil {
		return fmt.Errorf("decode map message: %w", err)
	}
	return nil
}

// decodeMapFast decodes data into the zero *m with the fast decoder and
// reports whether it could; when it could not, *m holds anything.
func decodeMapFast(data []byte, m *MapResponse) bool {
	d := decoders.Get().(*mapDecoder)
	ok := d.run(data, m)
	d.release()
	decoders.Put(d)
	return ok
}

// decoders pools mapDecoders, whose scratch lists and interned strings
// outlive a message.
var decoders = sync.Pool{New: func() any { return new(mapDecoder) }}

// errFallback is what the fast decoder panics with when the input is not
// one it reads; run recovers it (and only it).
type errFallback struct{}

// maxInterned bounds mapDecoder.interned; maxInternLen the strings it
// keeps.
const (
	maxInterned  = 4096
	maxInternLen = 128
)

// maxScratchBytes bounds each scratch list a pooled decoder keeps (a
// gateway's 12,250 peers take 6 MB). The pool itself lets go of what two
// garbage collections find unused.
const maxScratchBytes = 16 << 20

// mapDecoder reads one MapResponse from data at pos. It is used by one
// goroutine at a time (taken from decoders).
type mapDecoder struct {
	data []byte
	pos  int
	// block is ReadMapBinary's buffer, kept for the next block (at most
	// maxKeptBlock).
	block []byte
	// interned holds strings that repeat across records (tags, users,
	// relay names), so that each is one allocation however many records
	// carry it.
	interned map[string]string
	// Scratch lists: elements are gathered here, then copied to a list of
	// the exact length (one allocation per list, no growth). A list of a
	// type never holds another of the same type, so one each suffices.
	nodes    []Node
	grants   []filter.PortGrant
	ranges   []filter.PortRange
	prefixes []netip.Prefix
	rules    []filter.Rule
	dsts     []filter.DstNet
	strs     []string
	ints     []int64
	eps      []netip.AddrPort
	// arena holds the bytes of the message's strings (names, FQDNs): a
	// string is a view of the bytes appended for it, which are never
	// written again (a full chunk is left to its strings, and a new one
	// made), so a record's strings cost no allocation of their own.
	arena []byte
	// Slabs: small lists (a record's tags, endpoints, grants, ports)
	// are cut from shared chunks, with their capacity capped at their
	// length so that an append by their owner copies rather than writes
	// into a neighbour.
	rangeSlab []filter.PortRange
	grantSlab []filter.PortGrant
	strSlab   []string
	epSlab    []netip.AddrPort
}

// run decodes data into the zero *m; false when the fast decoder does not
// read data (m then holds anything).
func (d *mapDecoder) run(data []byte, m *MapResponse) (ok bool) {
	d.data, d.pos = data, 0
	defer func() {
		if r := recover(); r != nil {
			if _, fb := r.(errFallback); !fb {
				panic(r)
			}
			ok = false
		}
	}()
	d.ws()
	d.mapResponse(m)
	d.ws()
	return d.pos == len(d.data)
}

// release drops what the decoder must not keep alive in the pool: the
// message, the scratch lists' references and oversized lists.
// maxKeptBlock is the largest block buffer a decoder keeps.
const maxKeptBlock = 16 << 20

func (d *mapDecoder) release() {
	d.data = nil
	d.nodes = clearScratch(d.nodes)
	d.grants = clearScratch(d.grants)
	d.ranges = clearScratch(d.ranges)
	d.prefixes = clearScratch(d.prefixes)
	d.rules = clearScratch(d.rules)
	d.dsts = clearScratch(d.dsts)
	d.strs = clearScratch(d.strs)
	d.ints = clearScratch(d.ints)
	d.eps = clearScratch(d.eps)
	d.arena = nil
	// Slabs' remainders are shared with the lists of the message: drop them.
	d.rangeSlab, d.grantSlab, d.strSlab, d.epSlab = nil, nil, nil, nil
}

// clearScratch empties s, dropping the references its elements held (the
// lists clear what they used as they finish; what is left is a list a
// fallback interrupted), and drops it whole when it grew over
// maxScratchBytes.
func clearScratch[T any](s []T) []T {
	var z T
	if uintptr(cap(s))*unsafe.Sizeof(z) > maxScratchBytes {
		return nil
	}
	clear(s)
	return s[:0]
}

// slabCut copies items into a list of their length cut from *slab
// (refilled as needed), its capacity capped at its length.
func slabCut[T any](slab *[]T, items []T) []T {
	n := len(items)
	if n == 0 {
		return []T{}
	}
	if n > cap(*slab)-len(*slab) {
		if n > 256 {
			return exact(items)
		}
		// Chunks grow from 8 to 1024 elements within a message, so that a
		// small delta does not pin a large chunk.
		*slab = make([]T, 0, max(n, min(1024, 2*cap(*slab)), 8))
	}
	i := len(*slab)
	*slab = append(*slab, items...)
	return (*slab)[i : i+n : i+n]
}

// exact copies items into a new list of their length.
func exact[T any](items []T) []T {
	out := make([]T, len(items))
	copy(out, items)
	return out
}

// fail gives up on the input: run recovers and the caller falls back to
// encoding/json.
func (d *mapDecoder) fail() { panic(errFallback{}) }

// ws skips JSON whitespace.
func (d *mapDecoder) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek is the next byte after whitespace (0 at the end).
func (d *mapDecoder) peek() byte {
	d.ws()
	if d.pos < len(d.data) {
		return d.data[d.pos]
	}
	return 0
}

// expect consumes c, after whitespace.
func (d *mapDecoder) expect(c byte) {
	if d.peek() != c {
		d.fail()
	}
	d.pos++
}

// next is the loop condition of an object or array opened by open
// (its first call with *first true): whether another member follows,
// consuming the comma between members or the closing byte.
func (d *mapDecoder) next(end byte, first *bool) bool {
	c := d.peek()
	if c == end {
		d.pos++
		return false
	}
	if !*first {
		if c != ',' {
			d.fail()
		}
		d.pos++
	}
	*first = false
	return true
}

// null consumes a null if one comes and reports whether it did.
func (d *mapDecoder) null() bool {
	if d.peek() != 'n' {
		return false
	}
	d.literal("null")
	return true
}

// literal consumes lit.
func (d *mapDecoder) literal(lit string) {
	if len(d.data)-d.pos < len(lit) || string(d.data[d.pos:d.pos+len(lit)]) != lit {
		d.fail()
	}
	d.pos += len(lit)
}

// key reads an object key and its colon; the key's bytes are those of
// the input (a key with an escape is not read).
func (d *mapDecoder) key() []byte {
	start, end, esc, _ := d.strToken()
	if esc {
		d.fail()
	}
	d.expect(':')
	return d.data[start:end]
}

// seen marks member bit of an object's mask, failing on a repeat (which
// encoding/json merges into the first: read there).
func (d *mapDecoder) seen(mask *uint64, bit uint) {
	if *mask&(1<<bit) != 0 {
		d.fail()
	}
	*mask |= 1 << bit
}

// strToken consumes a string and returns its content's bounds, whether
// it holds an escape, and whether it holds bytes that are not ASCII.
// Control characters (invalid in JSON) fail.
func (d *mapDecoder) strToken() (start, end int, esc, high bool) {
	if d.peek() != '"' {
		d.fail()
	}
	d.pos++
	start = d.pos
	for i := start; ; {
		// Eight bytes at a time while none is special.
		for i+8 <= len(d.data) && !specialWord(binary.LittleEndian.Uint64(d.data[i:])) {
			i += 8
		}
		if i >= len(d.data) {
			d.fail()
		}
		switch c := d.data[i]; {
		case c == '"':
			d.pos = i + 1
			return start, i, esc, high
		case c == '\\':
			esc = true
			i += 2 // and the escaped byte (json.Unmarshal checks the escape)
			continue
		case c < 0x20:
			d.fail()
		case c >= utf8.RuneSelf:
			high = true
		}
		i++
	}
}

// Byte masks for specialWord.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specialWord reports whether one of w's bytes is a quote, a backslash,
// a control character or not ASCII: bytes strToken must look at.
func specialWord(w uint64) bool {
	quote := w ^ ('"' * ones)
	bslash := w ^ ('\\' * ones)
	// x-ones & ^x & highs is non-zero when a byte of x is zero; w-0x20*ones
	// & ^w & highs when a byte of w is below 0x20 (or has its high bit).
	return ((quote-ones)&^quote|(bslash-ones)&^bslash|(w-0x20*ones)&^w|w)&highs != 0
}

// rawText reads a string whose content an UnmarshalText parses: plain
// bytes only (an escape or bytes that are not valid UTF-8, which
// encoding/json would rewrite first, fail).
func (d *mapDecoder) rawText() []byte {
	start, end, esc, high := d.strToken()
	if esc || high && !utf8.Valid(d.data[start:end]) {
		d.fail()
	}
	return d.data[start:end]
}

// str reads a string. One with escapes or bytes that are not valid UTF-8
// is decoded by encoding/json (it unescapes and replaces such bytes).
func (d *mapDecoder) str() string {
	start, end, esc, high := d.strToken()
	if esc || high && !utf8.Valid(d.data[start:end]) {
		var s string
		if json.Unmarshal(d.data[start-1:end+1], &s) != nil {
			d.fail()
		}
		return s
	}
	return d.makeString(d.data[start:end])
}

// Arena bounds: strings longer than maxArenaString get an allocation
// of their own.
const (
	arenaChunk     = 4096
	maxArenaString = 512
)

// makeString is string(b), its bytes in the decoder's arena.
func (d *mapDecoder) makeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > maxArenaString {
		return string(b)
	}
	if len(b) > cap(d.arena)-len(d.arena) {
		d.arena = make([]byte, 0, arenaChunk)
	}
	i := len(d.arena)
	d.arena = append(d.arena, b...)
	return unsafe.String(&d.arena[i], len(b))
}

// view is b as a string, without a copy, for the netip parsers, which
// keep nothing of their input in what they return but a zone (which
// unique.Make clones): the views never outlive the call.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// internStr is str for strings that repeat across records.
func (d *mapDecoder) internStr() string {
	start, end, esc, high := d.strToken()
	if esc || high || end-start > maxInternLen {
		d.pos = start - 1
		return d.str()
	}
	return d.internBytes(d.data[start:end])
}

// internBytes is string(b), interned: b must be at most maxInternLen.
func (d *mapDecoder) internBytes(b []byte) string {
	if s, ok := d.interned[string(b)]; ok {
		return s
	}
	if d.interned == nil {
		d.interned = make(map[string]string)
	}
	if len(d.interned) >= maxInterned {
		clear(d.interned) // start over: what repeats now comes back
	}
	s := string(b)
	d.interned[s] = s
	return s
}

// boolean reads true or false.
func (d *mapDecoder) boolean() bool {
	switch d.peek() {
	case 't':
		d.literal("true")
		return true
	case 'f':
		d.literal("false")
		return false
	}
	d.fail()
	return false
}

// digits consumes a JSON number's integer digits (no fraction or
// exponent: encoding/json refuses those for integer fields) and returns
// their value, failing beyond limit.
func (d *mapDecoder) digits(limit uint64) uint64 {
	i := d.pos
	if i >= len(d.data) || d.data[i] < '0' || d.data[i] > '9' {
		d.fail()
	}
	if d.data[i] == '0' {
		d.pos = i + 1
		d.noFraction()
		return 0
	}
	var n uint64
	for ; i < len(d.data) && d.data[i] >= '0' && d.data[i] <= '9'; i++ {
		v := uint64(d.data[i] - '0')
		if n > (limit-v)/10 {
			d.fail()
		}
		n = n*10 + v
	}
	d.pos = i
	d.noFraction()
	return n
}

// noFraction fails when a number goes on with a fraction, an exponent or
// a digit (after a leading zero).
func (d *mapDecoder) noFraction() {
	if d.pos < len(d.data) {
		switch c := d.data[d.pos]; {
		case c == '.' || c == 'e' || c == 'E' || c >= '0' && c <= '9':
			d.fail()
		}
	}
}

// uint reads an unsigned integer of at most limit.
func (d *mapDecoder) uint(limit uint64) uint64 {
	d.ws()
	return d.digits(limit)
}

// int reads a signed integer of bits bits.
func (d *mapDecoder) int(bits int) int64 {
	d.ws()
	maxPos := uint64(1)<<(bits-1) - 1
	if d.pos < len(d.data) && d.data[d.pos] == '-' {
		d.pos++
		return -int64(d.digits(maxPos+1)-1) - 1
	}
	return int64(d.digits(maxPos))
}

// time reads a time as time.Time's UnmarshalJSON does (as encoding/json
// calls it: with the quoted literal).
func (d *mapDecoder) time() time.Time {
	start, end, _, _ := d.strToken()
	var t time.Time
	if t.UnmarshalJSON(d.data[start-1:end+1]) != nil {
		d.fail()
	}
	return t
}

// addr reads a netip.Addr as its UnmarshalText does (empty: the zero
// Addr), without copying the text.
func (d *mapDecoder) addr() netip.Addr {
	b := d.rawText()
	if len(b) == 0 {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(view(b))
	if err != nil {
		d.fail()
	}
	return a
}

// addrPort reads a netip.AddrPort as its UnmarshalText does.
func (d *mapDecoder) addrPort() netip.AddrPort {
	b := d.rawText()
	if len(b) == 0 {
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(view(b))
	if err != nil {
		d.fail()
	}
	return ap
}

// prefix reads a netip.Prefix as its UnmarshalText does.
func (d *mapDecoder) prefix() netip.Prefix {
	b := d.rawText()
	if len(b) == 0 {
		return netip.Prefix{}
	}
	p, err := netip.ParsePrefix(view(b))
	if err != nil {
		d.fail()
	}
	return p
}

// wgKey reads a WGPublic as its UnmarshalText does, without allocating.
func (d *mapDecoder) wgKey() WGPublic {
	b := d.rawText()
	var k WGPublic
	if len(b) != len(wgPrefix)+64 || string(b[:len(wgPrefix)]) != wgPrefix {
		d.fail()
	}
	if _, err := hex.Decode(k[:], b[len(wgPrefix):]); err != nil {
		d.fail()
	}
	return k
}

// proto reads a filter.Proto as its UnmarshalJSON does (a number from 0
// to 255).
func (d *mapDecoder) proto() filter.Proto { return filter.Proto(d.uint(255)) }

// Map message fields, by bit of an object's mask.
func (d *mapDecoder) mapResponse(m *MapResponse) {
	d.expect('{')
	var mask uint64
	for first := true; d.next('}', &first); {
		switch k := d.key(); string(k) {
		case "version":
			d.seen(&mask, 0)
			m.Version = d.uint(^uint64(0))
		case "full":
			d.seen(&mask, 1)
			m.Full = d.boolean()
		case "dns_domain":
			d.seen(&mask, 2)
			m.DNSDomain = d.str()
		case "self":
			d.seen(&mask, 3)
			if !d.null() {
				m.Self = new(Node)
				d.node(m.Self)
			}
		case "peers":
			d.seen(&mask, 4)
			m.Peers = d.nodeList()
		case "peers_changed":
			d.seen(&mask, 5)
			m.PeersChanged = d.nodeList()
		case "peers_removed":
			d.seen(&mask, 6)
			if ints := d.intList(64, 0); ints != nil {
				m.PeersRemoved = make([]NodeID, len(ints))
				for i, v := range ints {
					m.PeersRemoved[i] = NodeID(v)
				}
			}
		case "peers_grants":
			d.seen(&mask, 7)
			m.PeersGrants = d.peerGrantsList()
		case "peers_grants_swap":
			d.seen(&mask, 8)
			m.PeersGrantsSwap = d.swapList()
		case "filter":
			d.seen(&mask, 9)
			m.Filter = d.ruleList()
		case "filter_changed":
			d.seen(&mask, 10)
			m.FilterChanged = d.boolean()
		case "filter_src_from":
			d.seen(&mask, 11)
			if ints := d.intList(strconv.IntSize, 0); ints != nil {
				m.FilterSrcFrom = make([]int, len(ints))
				for i, v := range ints {
					m.FilterSrcFrom[i] = int(v)
				}
			}
		case "filter_src_delta":
			d.seen(&mask, 12)
			m.FilterSrcDelta = d.srcDeltaList()
		case "keep_alive":
			d.seen(&mask, 13)
			m.KeepAlive = d.boolean()
		case "server_time":
			d.seen(&mask, 14)
			m.ServerTime = d.time()
		case "relays":
			d.seen(&mask, 15)
			m.Relays = d.relayList()
		case "relays_changed":
			d.seen(&mask, 16)
			m.RelaysChanged = d.boolean()
		case "peers_bin":
			d.seen(&mask, 17)
			m.PeersBin = int(d.int(strconv.IntSize))
		case "peers_changed_bin":
			d.seen(&mask, 18)
			m.PeersChangedBin = int(d.int(strconv.IntSize))
		default:
			d.fail()
		}
	}
}

// nodeList reads a list of nodes (null: nil).
func (d *mapDecoder) nodeList() []Node {
	if d.null() {
		return nil
	}
	d.expect('[')
	base := len(d.nodes)
	for first := true; d.next(']', &first); {
		d.nodes = append(d.nodes, Node{})
		d.node(&d.nodes[len(d.nodes)-1])
	}
	out := makeNodes(len(d.nodes) - base)
	copy(out, d.nodes[base:])
	clear(d.nodes[base:])
	d.nodes = d.nodes[:base]
	return out
}

// node reads a Node into the zero *n.
func (d *mapDecoder) node(n *Node) {
	d.expect('{')
	var mask uint64
	for first := true; d.next('}', &first); {
		switch k := d.key(); string(k) {
		case "home_relay":
			d.seen(&mask, 0)
			n.HomeRelay = d.internStr()
		case "id":
			d.seen(&mask, 1)
			n.ID = NodeID(d.int(64))
		case "name":
			d.seen(&mask, 2)
			n.Name = d.str()
		case "fqdn":
			d.seen(&mask, 3)
			n.FQDN = d.str()
		case "ipv4":
			d.seen(&mask, 4)
			n.IPv4 = d.addr()
		case "ipv6":
			d.seen(&mask, 5)
			n.IPv6 = d.addr()
		case "wg_key":
			d.seen(&mask, 6)
			n.WGKey = d.wgKey()
		case "prev_wg_key":
			d.seen(&mask, 7)
			n.PrevWGKey = d.wgKey()
		case "key_switch_at":
			d.seen(&mask, 8)
			n.KeySwitchAt = d.time()
		case "key_expiry":
			d.seen(&mask, 9)
			n.KeyExpiry = d.time()
		case "endpoints":
			d.seen(&mask, 10)
			n.Endpoints = d.endpointList()
		case "user":
			d.seen(&mask, 11)
			n.User = d.internStr()
		case "tags":
			d.seen(&mask, 12)
			n.Tags = d.strList(true)
		case "online":
			d.seen(&mask, 13)
			n.Online = d.boolean()
		case "exposed_ports":
			d.seen(&mask, 14)
			if ints := d.intList(0, 1<<16-1); ints != nil {
				n.ExposedPorts = make([]uint16, len(ints))
				for i, v := range ints {
					n.ExposedPorts[i] = uint16(v)
				}
			}
		case "grants":
			d.seen(&mask, 15)
			n.Grants = d.grantList()
		case "key_revoked":
			d.seen(&mask, 16)
			n.KeyRevoked = d.boolean()
		case "owner_disabled":
			d.seen(&mask, 17)
			n.OwnerDisabled = d.boolean()
		case "mfa_within_ms":
			d.seen(&mask, 18)
			n.MFAWithinMillis = d.int(64)
		case "mfa_at":
			d.seen(&mask, 19)
			n.MFAAt = d.time()
		// "requests" (a person's own node, in its full maps: small ones) is
		// left to encoding/json, to keep the agent's code small.
		case "routes":
			d.seen(&mask, 21)
			n.Routes = d.prefixList()
		case "route_hosts":
			d.seen(&mask, 22)
			n.RouteHosts = d.routeHostList()
		default:
			d.fail()
		}
	}
}

// intList reads a list of integers (null: nil) into the decoder's
// scratch list, valid until the next call: signed ones of bits bits when
// bits > 0, else unsigned ones of at most limit.
func (d *mapDecoder) intList(bits int, limit uint64) []int64 {
	if d.null() {
		return nil
	}
	d.expect('[')
	d.ints = d.ints[:0]
	for first := true; d.next(']', &first); {
		if bits > 0 {
			d.ints = append(d.ints, d.int(bits))
		} else {
			d.ints = append(d.ints, int64(d.uint(limit)))
		}
	}
	if d.ints == nil {
		d.ints = make([]int64, 0, 16)
	}
	return d.ints
}

// strList reads a list of strings (null: nil), interned when intern.
func (d *mapDecoder) strList(intern bool) []string {
	if d.null() {
		return nil
	}
	d.expect('[')
	d.strs = d.strs[:0]
	for first := true; d.next(']', &first); {
		if intern {
			d.strs = append(d.strs, d.internStr())
		} else {
			d.strs = append(d.strs, d.str())
		}
	}
	out := slabCut(&d.strSlab, d.strs)
	clear(d.strs)
	return out
}

// endpointList reads a list of netip.AddrPort (null: nil).
func (d *mapDecoder) endpointList() []netip.AddrPort {
	if d.null() {
		return nil
	}
	d.expect('[')
	d.eps = d.eps[:0]
	for first := true; d.next(']', &first); {
		d.eps = append(d.eps, d.addrPort())
	}
	return slabCut(&d.epSlab, d.eps)
}

// rangeList reads a list of filter.PortRange (null: nil).
func (d *mapDecoder) rangeList() []filter.PortRange {
	if d.null() {
		return nil
	}
	d.expect('[')
	d.ranges = d.ranges[:0]
	for first := true; d.next(']', &first); {
		var r filter.PortRange
		d.expect('{')
		var mask uint64
		for f := true; d.next('}', &f); {
			switch k := d.key(); string(k) {
			case "first":
				d.seen(&mask, 0)
				r.First = uint16(d.uint(1<<16 - 1))
			case "last":
				d.seen(&mask, 1)
				r.Last = uint16(d.uint(1<<16 - 1))
			default:
				d.fail()
			}
		}
		d.ranges = append(d.ranges, r)
	}
	return slabCut(&d.rangeSlab, d.ranges)
}

// grantList reads a list of filter.PortGrant (null: nil).
func (d *mapDecoder) grantList() []filter.PortGrant {
	if d.null() {
		return nil
	}
	d.expect('[')
	base := len(d.grants)
	for first := true; d.next(']', &first); {
		var g filter.PortGrant
		d.expect('{')
		var mask uint64
		for f := true; d.next('}', &f); {
			switch k := d.key(); string(k) {
			case "proto":
				d.seen(&mask, 0)
				g.Proto = d.proto()
			case "ports":
				d.seen(&mask, 1)
				g.Ports = d.rangeList()
			default:
				d.fail()
			}
		}
		d.grants = append(d.grants, g)
	}
	out := slabCut(&d.grantSlab, d.grants[base:])
	clear(d.grants[base:])
	d.grants = d.grants[:base]
	return out
}

// objects reads a JSON array of objects into a list of its length (null:
// nil; an empty array an empty list, as encoding/json gives), each
// object's members by member, which reads the value of key k (noting it
// in mask, so that a repeated key falls back) and fails on a key it does
// not know. For a message's short lists; the long ones (peers, rules)
// gather in the scratch lists.
func objects[T any](d *mapDecoder, member func(v *T, k []byte, mask *uint64)) []T {
	if d.null() {
		return nil
	}
	d.expect('[')
	out := []T{}
	for first := true; d.next(']', &first); {
		var v T
		d.expect('{')
		var mask uint64
		for f := true; d.next('}', &f); {
			member(&v, d.key(), &mask)
		}
		out = append(out, v)
	}
	return out
}

// peerGrantsList reads MapResponse.PeersGrants (null: nil).
func (d *mapDecoder) peerGrantsList() []PeerGrants {
	return objects(d, func(v *PeerGrants, k []byte, mask *uint64) {
		switch string(k) {
		case "id":
			d.seen(mask, 0)
			v.ID = NodeID(d.int(64))
		case "grants":
			d.seen(mask, 1)
			v.Grants = d.grantList()
		default:
			d.fail()
		}
	})
}

// swapList reads MapResponse.PeersGrantsSwap (null: nil).
func (d *mapDecoder) swapList() []GrantsSwap {
	return objects(d, func(v *GrantsSwap, k []byte, mask *uint64) {
		switch string(k) {
		case "from":
			d.seen(mask, 0)
			v.From = d.grantList()
		case "to":
			d.seen(mask, 1)
			v.To = d.grantList()
		default:
			d.fail()
		}
	})
}

// ruleList reads a filter (null: nil).
func (d *mapDecoder) ruleList() []filter.Rule {
	if d.null() {
		return nil
	}
	d.expect('[')
	base := len(d.rules)
	for first := true; d.next(']', &first); {
		var r filter.Rule
		d.expect('{')
		var mask uint64
		for f := true; d.next('}', &f); {
			switch k := d.key(); string(k) {
			case "src":
				d.seen(&mask, 0)
				r.Src = d.prefixList()
			case "dst":
				d.seen(&mask, 1)
				r.Dst = d.dstList()
			case "protos":
				d.seen(&mask, 2)
				if ints := d.intList(0, 255); ints != nil {
					r.Protos = make([]filter.Proto, len(ints))
					for i, v := range ints {
						r.Protos[i] = filter.Proto(v)
					}
				}
			case "deny":
				d.seen(&mask, 3)
				r.Deny = d.boolean()
			case "expires":
				d.seen(&mask, 4)
				r.Expires = d.time()
			default:
				d.fail()
			}
		}
		d.rules = append(d.rules, r)
	}
	out := exact(d.rules[base:])
	clear(d.rules[base:])
	d.rules = d.rules[:base]
	return out
}

// prefixList reads a list of netip.Prefix (null: nil): a list of its
// own (a rule's sources can hold a fleet), not cut from a slab.
func (d *mapDecoder) prefixList() []netip.Prefix {
	if d.null() {
		return nil
	}
	d.expect('[')
	d.prefixes = d.prefixes[:0]
	for first := true; d.next(']', &first); {
		d.prefixes = append(d.prefixes, d.prefix())
	}
	return exact(d.prefixes)
}

// dstList reads a rule's destinations (null: nil).
func (d *mapDecoder) dstList() []filter.DstNet {
	if d.null() {
		return nil
	}
	d.expect('[')
	base := len(d.dsts)
	for first := true; d.next(']', &first); {
		var n filter.DstNet
		d.expect('{')
		var mask uint64
		for f := true; d.next('}', &f); {
			switch k := d.key(); string(k) {
			case "net":
				d.seen(&mask, 0)
				n.Net = d.prefix()
			case "ports":
				d.seen(&mask, 1)
				n.Ports = d.rangeList()
			default:
				d.fail()
			}
		}
		d.dsts = append(d.dsts, n)
	}
	out := exact(d.dsts[base:])
	clear(d.dsts[base:])
	d.dsts = d.dsts[:base]
	return out
}

// srcDeltaList reads MapResponse.FilterSrcDelta (null: nil).
func (d *mapDecoder) srcDeltaList() []SrcDelta {
	return objects(d, func(v *SrcDelta, k []byte, mask *uint64) {
		switch string(k) {
		case "rule":
			d.seen(mask, 0)
			v.Rule = int(d.int(strconv.IntSize))
		case "add":
			d.seen(mask, 1)
			v.Add = d.prefixList()
		case "del":
			d.seen(mask, 2)
			v.Del = d.prefixList()
		case "sum":
			d.seen(mask, 3)
			v.Sum = d.str()
		default:
			d.fail()
		}
	})
}

// relayList reads MapResponse.Relays (null: nil).
func (d *mapDecoder) relayList() []Relay {
	return objects(d, func(v *Relay, k []byte, mask *uint64) {
		switch string(k) {
		case "name":
			d.seen(mask, 0)
			v.Name = d.str()
		case "url":
			d.seen(mask, 1)
			v.URL = d.str()
		case "stun":
			d.seen(mask, 2)
			v.STUN = d.str()
		case "stun_alt":
			d.seen(mask, 3)
			v.STUNAlt = d.str()
		default:
			d.fail()
		}
	})
}

// routeHostList reads Node.RouteHosts (null: nil).
func (d *mapDecoder) routeHostList() []RouteHost {
	return objects(d, func(v *RouteHost, k []byte, mask *uint64) {
		switch string(k) {
		case "name":
			d.seen(mask, 0)
			v.Name = d.str()
		case "addr":
			d.seen(mask, 1)
			v.Addr = d.addr()
		default:
			d.fail()
		}
	})
}
