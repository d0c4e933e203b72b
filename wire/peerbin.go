package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/wardnet/ward/filter"
)

// Binary peer records (protocol 26, FeatureBinaryPeers). A map message's
// peers may follow its JSON line as binary blocks instead of its "peers"
// and "peers_changed" arrays: the line says their lengths
// (MapResponse.PeersBin, MapResponse.PeersChangedBin) and the blocks come
// right after its newline, in that order. A block is a uvarint count of
// records, then each record as a uvarint length and that many bytes:
//
//	flags     uvarint (binOnline ... binTrailer, the addresses' kinds)
//	id        zigzag varint
//	name      string (uvarint length, UTF-8 bytes)
//	fqdn      string: the part after name + "." (binFQDNSuffix), or whole
//	          (binFQDNFull), or absent (empty)
//	ipv4      by its kind: none, 4 bytes, 16 bytes, 16 bytes and a zone
//	ipv6      the same
//	wg_key    32 bytes
//	key_expiry  zigzag varint, unix nanoseconds, UTC (binExpiry)
//	endpoints uvarint count; each: kind byte (0: the zero AddrPort, else
//	          the address by its kind) and the port, 2 bytes big-endian
//	user      string (binUser)
//	tags      uvarint count, each a string
//	home_relay  string (binHomeRelay)
//	grants    uvarint count; each: proto byte, uvarint count of ranges,
//	          each range's first and last, 2 bytes big-endian (binGrants;
//	          absent: nil grants, a count of 0: empty ones)
//	trailer   the record's remaining bytes: a JSON object of the rare
//	          fields (binTrailer), read by encoding/json
//
// Every record means exactly what its Node's JSON means (decoding either
// gives the same Node): strings as encoding/json writes them (bytes that
// are not UTF-8 replaced), lists empty or nil as their JSON decodes, times
// in UTC.
const (
	binOnline = 1 << iota
	binKeyRevoked
	binOwnerDisabled
	binFQDNSuffix
	binFQDNFull
	binExpiry
	binUser
	binHomeRelay
	binGrants
	binTrailer
	// The addresses' kinds (addrKind), two bits each.
	binIPv4Shift = 10
	binIPv6Shift = 12
	binFlagsEnd  = 1 << 14
)

// minPeerRecord is the fewest bytes a record of a block takes: its length,
// flags, id, name, key and the endpoint and tag counts.
const minPeerRecord = 1 + 1 + 1 + 1 + 32 + 1 + 1

// ErrPeerBlock is DecodeMapBinary's and ReadMapBinary's answer to blocks
// that are not what the message's line says or not binary peer blocks.
var ErrPeerBlock = errors.New("decode map message: bad binary peer block")

// ReadMapBinary reads from r the binary blocks m's line says follow it
// (none: it reads nothing), at most limit bytes, decodes them into m's
// Peers and PeersChanged and clears m's lengths. An error reading r is
// returned as it is; lengths over limit, a list in both forms or blocks
// that are not ones AppendPeerBlockHead and AppendPeerRecord could make
// are ErrPeerBlock. It never panics, and what it allocates is bounded by
// the bytes it reads.
func ReadMapBinary(r io.Reader, m *MapResponse, limit int) error {
	p, c := m.PeersBin, m.PeersChangedBin
	if p == 0 && c == 0 {
		return nil
	}
	if p < 0 || c < 0 || p > limit || c > limit-p || p > 0 && m.Peers != nil || c > 0 && m.PeersChanged != nil {
		return ErrPeerBlock
	}
	// The block is read into the decoder's buffer, kept with it for the
	// next block: nothing a decoded record holds points into it (strings
	// are copied to the arenas). A gateway's share of a policy change is
	// a 1.6 MB block at 50,000 nodes, which was a new zeroed buffer each
	// time.
	d := decoders.Get().(*mapDecoder)
	defer decoders.Put(d)
	if cap(d.block) < p+c {
		d.block = make([]byte, p+c)
	}
	bin := d.block[:p+c]
	if _, err := io.ReadFull(r, bin); err != nil {
		return fmt.Errorf("read binary peer blocks: %w", err)
	}
	ok := (p == 0 || d.peerBlock(bin[:p], &m.Peers)) && (c == 0 || d.peerBlock(bin[p:], &m.PeersChanged))
	d.release()
	if cap(d.block) > maxKeptBlock {
		d.block = nil
	}
	if !ok {
		m.Peers, m.PeersChanged = nil, nil
		return ErrPeerBlock
	}
	m.PeersBin, m.PeersChangedBin = 0, 0
	return nil
}

// DecodeMapBinary is ReadMapBinary of bin, which must be exactly the
// blocks m's line says.
func DecodeMapBinary(bin []byte, m *MapResponse) error {
	if m.PeersBin < 0 || m.PeersChangedBin < 0 || m.PeersBin > len(bin) || m.PeersChangedBin != len(bin)-m.PeersBin {
		return ErrPeerBlock
	}
	return ReadMapBinary(bytes.NewReader(bin), m, len(bin))
}

// peerBlock decodes a block of records into *out; false when it is not
// one.
func (d *mapDecoder) peerBlock(data []byte, out *[]Node) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, fb := r.(errFallback); !fb {
				panic(r)
			}
			ok = false
		}
	}()
	d.data, d.pos = data, 0
	n := d.uvarint()
	if n == 0 || n > uint64(len(data)-d.pos)/minPeerRecord+1 {
		d.fail()
	}
	nodes := makeNodes(int(n))
	*out = nodes
	for i := range nodes {
		size := d.uvarint()
		if size > uint64(len(data)-d.pos) {
			d.fail()
		}
		end := d.pos + int(size)
		d.data = data[:end]
		d.peerRecord(&nodes[i])
		if d.pos != end {
			d.fail()
		}
		d.data = data
	}
	return d.pos == len(data)
}

// varint reads a zigzag varint (binary.AppendVarint's).
func (d *mapDecoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (d *mapDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.data[d.pos:])
	if n <= 0 {
		d.fail()
	}
	d.pos += n
	return v
}

// take returns the next n bytes.
func (d *mapDecoder) take(n uint64) []byte {
	if n > uint64(len(d.data)-d.pos) {
		d.fail()
	}
	b := d.data[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return b
}

// binStr returns a string's bytes, which must be UTF-8.
func (d *mapDecoder) binStr() []byte {
	b := d.take(d.uvarint())
	if !utf8.Valid(b) {
		d.fail()
	}
	return b
}

// binIntern reads a string that repeats across records (interned).
func (d *mapDecoder) binIntern() string {
	b := d.binStr()
	if len(b) > maxInternLen {
		return string(b)
	}
	return d.internBytes(b)
}

// binAddr reads an address of kind k (addrKind).
func (d *mapDecoder) binAddr(k uint64) netip.Addr {
	switch k {
	case 0:
		return netip.Addr{}
	case 1:
		return netip.AddrFrom4([4]byte(d.take(4)))
	}
	a := netip.AddrFrom16([16]byte(d.take(16)))
	if k == 3 {
		z := d.binStr()
		if len(z) == 0 {
			d.fail()
		}
		a = a.WithZone(string(z))
	}
	return a
}

// peerRecord decodes one record, d.data ending where it does.
func (d *mapDecoder) peerRecord(n *Node) {
	f := d.uvarint()
	if f >= binFlagsEnd || f&binFQDNSuffix != 0 && f&binFQDNFull != 0 {
		d.fail()
	}
	n.Online, n.KeyRevoked, n.OwnerDisabled = f&binOnline != 0, f&binKeyRevoked != 0, f&binOwnerDisabled != 0
	n.ID = NodeID(d.varint())
	name := d.binStr()
	switch {
	case f&binFQDNSuffix != 0:
		suffix := d.binStr()
		// The FQDN's bytes hold the name's: one string for both.
		if l := len(name) + 1 + len(suffix); l > maxArenaString {
			n.FQDN = string(name) + "." + string(suffix)
		} else {
			if l > cap(d.arena)-len(d.arena) {
				d.arena = make([]byte, 0, arenaChunk)
			}
			i := len(d.arena)
			d.arena = append(append(append(d.arena, name...), '.'), suffix...)
			n.FQDN = view(d.arena[i:])
		}
		n.Name = n.FQDN[:len(name)]
	case f&binFQDNFull != 0:
		n.Name = d.makeString(name)
		n.FQDN = d.makeString(d.binStr())
	default:
		n.Name = d.makeString(name)
	}
	n.IPv4 = d.binAddr(f >> binIPv4Shift & 3)
	n.IPv6 = d.binAddr(f >> binIPv6Shift & 3)
	n.WGKey = WGPublic(d.take(32))
	if f&binExpiry != 0 {
		n.KeyExpiry = time.Unix(0, d.varint()).UTC()
	}
	if c := d.uvarint(); c > 0 {
		base := len(d.eps)
		for range c {
			var ap netip.AddrPort
			if k := uint64(d.take(1)[0]); k != 0 {
				a := d.binAddr(k)
				ap = netip.AddrPortFrom(a, binary.BigEndian.Uint16(d.take(2)))
			}
			d.eps = append(d.eps, ap)
		}
		n.Endpoints = slabCut(&d.epSlab, d.eps[base:])
		d.eps = d.eps[:base]
	}
	if f&binUser != 0 {
		n.User = d.binIntern()
	}
	if c := d.uvarint(); c > 0 {
		base := len(d.strs)
		for range c {
			d.strs = append(d.strs, d.binIntern())
		}
		n.Tags = slabCut(&d.strSlab, d.strs[base:])
		clear(d.strs[base:])
		d.strs = d.strs[:base]
	}
	if f&binHomeRelay != 0 {
		n.HomeRelay = d.binIntern()
	}
	if f&binGrants != 0 {
		base := len(d.grants)
		for c := d.uvarint(); c > 0; c-- {
			g := filter.PortGrant{Proto: filter.Proto(d.take(1)[0])}
			if r := d.uvarint(); r > 0 {
				rb := len(d.ranges)
				for ; r > 0; r-- {
					b := d.take(4)
					d.ranges = append(d.ranges, filter.PortRange{First: binary.BigEndian.Uint16(b), Last: binary.BigEndian.Uint16(b[2:])})
				}
				g.Ports = slabCut(&d.rangeSlab, d.ranges[rb:])
				d.ranges = d.ranges[:rb]
			}
			d.grants = append(d.grants, g)
		}
		n.Grants = slabCut(&d.grantSlab, d.grants[base:])
		clear(d.grants[base:])
		d.grants = d.grants[:base]
	}
	if f&binTrailer != 0 {
		// The rare fields, as JSON (AppendPeerRecord writes no others).
		if json.Unmarshal(d.data[d.pos:], n) != nil {
			d.fail()
		}
		d.pos = len(d.data)
	}
}
