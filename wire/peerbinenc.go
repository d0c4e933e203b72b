package wire

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

// nodeRare is what a binary peer record carries in its JSON trailer: the
// fields of Node that peers rarely have, with Node's names and types
// (TestPeerRecordEveryField fails when a field of Node is in neither the
// record's layout nor here).
type nodeRare struct {
	PrevWGKey       WGPublic        `json:"prev_wg_key,omitzero"`
	KeySwitchAt     time.Time       `json:"key_switch_at,omitzero"`
	KeyExpiry       time.Time       `json:"key_expiry,omitzero"`
	ExposedPorts    []uint16        `json:"exposed_ports,omitempty"`
	MFAWithinMillis int64           `json:"mfa_within_ms,omitempty"`
	MFAAt           time.Time       `json:"mfa_at,omitzero"`
	Requests        []AccessRequest `json:"requests,omitempty"`
	Routes          []netip.Prefix  `json:"routes,omitempty"`
	RouteHosts      []RouteHost     `json:"route_hosts,omitempty"`
}

// AppendPeerBlockHead appends the head of a block of count records
// (DecodeMapBinary); the records follow, each as AppendPeerRecord made it.
func AppendPeerBlockHead(b []byte, count int) []byte {
	return binary.AppendUvarint(b, uint64(count))
}

// AppendPeerRecord appends n as a record of a binary peer block (see
// binOnline for the layout): decoding it gives what decoding n's JSON
// gives. It fails only where json.Marshal of n would.
func AppendPeerRecord(b []byte, n *Node) ([]byte, error) {
	r, err := appendPeerBody(make([]byte, 0, 160), n)
	if err != nil {
		return b, fmt.Errorf("encode peer %d: %w", n.ID, err)
	}
	b = binary.AppendUvarint(b, uint64(len(r)))
	return append(b, r...), nil
}

// jsonText is s as decoding its JSON gives it: encoding/json writes each
// byte that is not part of valid UTF-8 as U+FFFD.
func jsonText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.WriteString(s[i : i+size])
		}
		i += size
	}
	return sb.String()
}

func appendBinStr(b []byte, s string) []byte {
	s = jsonText(s)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// addrKind is how a record holds a: 0 none, 1 IPv4 (4 bytes), 2 IPv6 (16
// bytes, IPv4-mapped ones too), 3 IPv6 with a zone.
func addrKind(a netip.Addr) uint64 {
	switch {
	case !a.IsValid():
		return 0
	case a.Is4():
		return 1
	case a.Zone() == "":
		return 2
	}
	return 3
}

func appendBinAddr(b []byte, a netip.Addr) []byte {
	switch addrKind(a) {
	case 1:
		a4 := a.As4()
		return append(b, a4[:]...)
	case 2:
		a16 := a.As16()
		return append(b, a16[:]...)
	case 3:
		a16 := a.As16()
		return appendBinStr(append(b, a16[:]...), a.Zone())
	}
	return b
}

// binTime reports whether t goes in a record as unix nanoseconds: its JSON
// ("Z") decodes to UTC, and it fits in them.
func binTime(t time.Time) bool {
	_, off := t.Zone()
	return !t.IsZero() && off == 0 && t.Year() >= 1678 && t.Year() <= 2261
}

func appendPeerBody(b []byte, n *Node) ([]byte, error) {
	f := addrKind(n.IPv4)<<binIPv4Shift | addrKind(n.IPv6)<<binIPv6Shift
	name, fqdn := jsonText(n.Name), jsonText(n.FQDN)
	suffix, isSuffix := strings.CutPrefix(fqdn, name+".")
	rare := nodeRare{PrevWGKey: n.PrevWGKey, KeySwitchAt: n.KeySwitchAt, ExposedPorts: n.ExposedPorts,
		MFAWithinMillis: n.MFAWithinMillis, MFAAt: n.MFAAt, Requests: n.Requests, Routes: n.Routes, RouteHosts: n.RouteHosts}
	for _, c := range []struct {
		on  bool
		bit uint64
	}{
		{n.Online, binOnline}, {n.KeyRevoked, binKeyRevoked}, {n.OwnerDisabled, binOwnerDisabled},
		{isSuffix, binFQDNSuffix}, {fqdn != "" && !isSuffix, binFQDNFull}, {binTime(n.KeyExpiry), binExpiry},
		{n.User != "", binUser}, {n.HomeRelay != "", binHomeRelay}, {n.Grants != nil, binGrants},
	} {
		if c.on {
			f |= c.bit
		}
	}
	if !n.KeyExpiry.IsZero() && f&binExpiry == 0 {
		rare.KeyExpiry = n.KeyExpiry
	}
	trailer, err := json.Marshal(&rare)
	if err != nil {
		return b, err
	}
	if string(trailer) != "{}" {
		f |= binTrailer
	}
	b = binary.AppendUvarint(b, f)
	b = binary.AppendVarint(b, int64(n.ID))
	b = appendBinStr(b, name)
	switch {
	case isSuffix:
		b = appendBinStr(b, suffix)
	case fqdn != "":
		b = appendBinStr(b, fqdn)
	}
	b = appendBinAddr(b, n.IPv4)
	b = appendBinAddr(b, n.IPv6)
	b = append(b, n.WGKey[:]...)
	if f&binExpiry != 0 {
		b = binary.AppendVarint(b, n.KeyExpiry.UnixNano())
	}
	b = binary.AppendUvarint(b, uint64(len(n.Endpoints)))
	for _, ep := range n.Endpoints {
		k := addrKind(ep.Addr())
		b = append(b, byte(k))
		if k != 0 {
			b = binary.BigEndian.AppendUint16(appendBinAddr(b, ep.Addr()), ep.Port())
		}
	}
	if n.User != "" {
		b = appendBinStr(b, n.User)
	}
	b = binary.AppendUvarint(b, uint64(len(n.Tags)))
	for _, t := range n.Tags {
		b = appendBinStr(b, t)
	}
	if n.HomeRelay != "" {
		b = appendBinStr(b, n.HomeRelay)
	}
	if n.Grants != nil {
		b = binary.AppendUvarint(b, uint64(len(n.Grants)))
		for _, g := range n.Grants {
			b = append(b, byte(g.Proto))
			b = binary.AppendUvarint(b, uint64(len(g.Ports)))
			for _, r := range g.Ports {
				b = binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(b, r.First), r.Last)
			}
		}
	}
	if f&binTrailer != 0 {
		b = append(b, trailer...)
	}
	return b, nil
}
