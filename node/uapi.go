package node

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wardnet/ward/wire"
)

// keepaliveSeconds is the persistent keepalive interval, so NAT mappings
// stay open and a new peer is handshaken with before the first flow.
const keepaliveSeconds = 25

// keepaliveDelay staggers the first handshake with a new peer.
// wireguard-go sends a keepalive, and so starts a handshake, as soon as
// the keepalive interval is set. When both sides of a pair learn of each
// other at the same moment, two crossing handshakes cancel each other out
// until the 5 s retry; and a handshake sent before the other side knows
// the node is dropped, again until the retry. So the side with the greater
// public key turns keepalive on at once, and the other side after this
// delay: whichever side learns of the pair last, one handshake meets a
// peer that expects it, and none cross. The same stagger applies when a
// peer's endpoint arrives after the peer (see handshake.go).
const keepaliveDelay = 500 * time.Millisecond

// peerConf is what the device is told about one peer.
type peerConf struct {
	id       wire.NodeID
	allowed  []netip.Prefix
	endpoint netip.AddrPort // the first of endpoints; may be zero
	// endpoints are the peer's map endpoints (the pathBind's candidates;
	// wireguard-go's endpoint for every peer is its peerEndpoint).
	endpoints []netip.AddrPort
	// leads is set when this side starts handshakes with the peer at once
	// (its public key is the greater); the other side waits
	// keepaliveDelay.
	leads bool
	// keepalive enables the persistent keepalive.
	keepalive bool
}

// confOf returns the device configuration for peer p, held under key
// (see keyAt), of node self, which has held it since added (now if not
// yet).
func confOf(p wire.Node, key, self wire.WGPublic, added, now time.Time) peerConf {
	leads := bytes.Compare(self[:], key[:]) > 0
	c := peerConf{id: p.ID, leads: leads, keepalive: leads || !now.Before(added.Add(keepaliveDelay))}
	for _, a := range []netip.Addr{p.IPv4, p.IPv6} {
		if a.IsValid() {
			c.allowed = append(c.allowed, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	c.allowed = append(c.allowed, p.Routes...) // the subnet routes this node sends through p
	if len(p.Endpoints) > 0 {
		c.endpoint, c.endpoints = p.Endpoints[0], p.Endpoints
	}
	return c
}

func (c peerConf) equal(o peerConf) bool {
	return c.id == o.id && c.endpoint == o.endpoint && c.leads == o.leads && c.keepalive == o.keepalive && slices.Equal(c.endpoints, o.endpoints) && slices.Equal(c.allowed, o.allowed)
}

// peerDiff renders the UAPI "set" lines that turn the device's peers from
// have into want: removals, additions, and in-place updates (which keep
// the peer's sessions). The peers in recreate (all in want) are removed
// and added again, which makes wireguard-go initiate a handshake at once
// when their keepalive is on (a kick, see handshake.go). It returns ""
// when nothing changes. With direct (a kernel link, which sends UDP
// itself), a peer's endpoint is its first map endpoint, written when the
// peer is added or it changes; otherwise it is the peer's key, which
// Ward's bind resolves to a path (peerEndpoint), written at addition.
func peerDiff(have, want map[wire.WGPublic]peerConf, recreate map[wire.WGPublic]bool, direct bool) string {
	var b strings.Builder
	for _, k := range sortedKeys(have) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "public_key=%s\nremove=true\n", k.Hex())
		}
	}
	for _, k := range sortedKeys(want) {
		w := want[k]
		h, ok := have[k]
		switch {
		case recreate[k]:
			fmt.Fprintf(&b, "public_key=%s\nremove=true\n", k.Hex())
			ok = false
		case ok && h.equal(w):
			continue
		}
		fmt.Fprintf(&b, "public_key=%s\n", k.Hex())
		if !ok || h.keepalive != w.keepalive {
			fmt.Fprintf(&b, "persistent_keepalive_interval=%d\n", keepaliveOf(w))
		}
		switch {
		case direct && w.endpoint.IsValid() && (!ok || h.endpoint != w.endpoint):
			fmt.Fprintf(&b, "endpoint=%s\n", w.endpoint)
		case !direct && !ok:
			fmt.Fprintf(&b, "endpoint=%s\n", peerEndpoint{key: k}.DstToString())
		}
		b.WriteString("replace_allowed_ips=true\n")
		for _, p := range w.allowed {
			fmt.Fprintf(&b, "allowed_ip=%s\n", p)
		}
	}
	return b.String()
}

func keepaliveOf(c peerConf) int {
	if c.keepalive {
		return keepaliveSeconds
	}
	return 0
}

func sortedKeys(m map[wire.WGPublic]peerConf) []wire.WGPublic {
	keys := make([]wire.WGPublic, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b wire.WGPublic) int { return strings.Compare(string(a[:]), string(b[:])) })
	return keys
}

// peerStats is what the device reports about one peer.
type peerStats struct {
	endpoint      netip.AddrPort
	lastHandshake time.Time // zero when none yet
	rx, tx        uint64
}

// deviceState is the parsed output of the device's UAPI "get".
type deviceState struct {
	listenPort uint16
	peers      map[wire.WGPublic]peerStats
}

// parseDeviceState parses UAPI "get" output. Unknown keys are skipped.
func parseDeviceState(s string) (deviceState, error) {
	st := deviceState{peers: map[wire.WGPublic]peerStats{}}
	var p peerParse
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		if key != "public_key" {
			if err := st.set(&p, key, val); err != nil {
				return deviceState{}, err
			}
			continue
		}
		p.commit(&st)
		k, err := parseHexKey(val)
		if err != nil {
			return deviceState{}, err
		}
		p = peerParse{key: k, inPeer: true}
	}
	p.commit(&st)
	return st, sc.Err()
}

// peerParse accumulates one peer's section of UAPI "get" output.
type peerParse struct {
	key       wire.WGPublic
	inPeer    bool
	stats     peerStats
	sec, nsec int64
}

// commit stores the peer parsed so far, if any.
func (p *peerParse) commit(st *deviceState) {
	if !p.inPeer {
		return
	}
	if p.sec != 0 || p.nsec != 0 {
		p.stats.lastHandshake = time.Unix(p.sec, p.nsec)
	}
	st.peers[p.key] = p.stats
}

// set applies one key=value line to the device or to peer p.
func (st *deviceState) set(p *peerParse, key, val string) error {
	var err error
	switch {
	case key == "listen_port" && !p.inPeer:
		var n uint64
		n, err = strconv.ParseUint(val, 10, 16)
		st.listenPort = uint16(n)
	case !p.inPeer:
	case key == "endpoint" && strings.HasPrefix(val, peerEndpointPrefix):
		// the pathBind knows the path (Engine.pathOf)
	case key == "endpoint":
		p.stats.endpoint, err = netip.ParseAddrPort(val)
	case key == "last_handshake_time_sec":
		p.sec, err = strconv.ParseInt(val, 10, 64)
	case key == "last_handshake_time_nsec":
		p.nsec, err = strconv.ParseInt(val, 10, 64)
	case key == "rx_bytes":
		p.stats.rx, err = strconv.ParseUint(val, 10, 64)
	case key == "tx_bytes":
		p.stats.tx, err = strconv.ParseUint(val, 10, 64)
	}
	if err != nil {
		return fmt.Errorf("parse device state %s: %w", key, err)
	}
	return nil
}

func parseHexKey(s string) (wire.WGPublic, error) {
	var k wire.WGPublic
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("parse device state: bad public key")
	}
	copy(k[:], b)
	return k, nil
}
