package tunnel

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

// keepaliveSeconds is the persistent keepalive interval.
const keepaliveSeconds = 25

// keepaliveDelay staggers the first handshake with a new peer the same way
// node.Engine does: the side with the greater public key starts at once,
// the other after this delay, so two first handshakes never cross.
const keepaliveDelay = 500 * time.Millisecond

// peerConf is what the device is told about one peer.
type peerConf struct {
	allowed   []netip.Prefix
	endpoint  netip.AddrPort // may be zero
	keepalive bool
}

// confOf returns the device configuration for peer p of node self, which
// has held p since added.
func confOf(p wire.Node, self wire.WGPublic, added, now time.Time) peerConf {
	leads := bytes.Compare(self[:], p.WGKey[:]) > 0
	c := peerConf{keepalive: leads || !now.Before(added.Add(keepaliveDelay))}
	for _, a := range []netip.Addr{p.IPv4, p.IPv6} {
		if a.IsValid() {
			c.allowed = append(c.allowed, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	if len(p.Endpoints) > 0 {
		c.endpoint = p.Endpoints[0]
	}
	return c
}

func (c peerConf) equal(o peerConf) bool {
	return c.endpoint == o.endpoint && c.keepalive == o.keepalive && slices.Equal(c.allowed, o.allowed)
}

// peerDiff renders the UAPI "set" lines that turn have into want; "" when
// nothing changes. In-place updates keep a peer's sessions.
func peerDiff(have, want map[wire.WGPublic]peerConf) string {
	var b strings.Builder
	for _, k := range sortedKeys(have) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "public_key=%s\nremove=true\n", k.Hex())
		}
	}
	for _, k := range sortedKeys(want) {
		w := want[k]
		h, ok := have[k]
		if ok && h.equal(w) {
			continue
		}
		fmt.Fprintf(&b, "public_key=%s\n", k.Hex())
		if !ok || h.keepalive != w.keepalive {
			ka := 0
			if w.keepalive {
				ka = keepaliveSeconds
			}
			fmt.Fprintf(&b, "persistent_keepalive_interval=%d\n", ka)
		}
		if w.endpoint.IsValid() && (!ok || h.endpoint != w.endpoint) {
			fmt.Fprintf(&b, "endpoint=%s\n", w.endpoint)
		}
		b.WriteString("replace_allowed_ips=true\n")
		for _, p := range w.allowed {
			fmt.Fprintf(&b, "allowed_ip=%s\n", p)
		}
	}
	return b.String()
}

func sortedKeys(m map[wire.WGPublic]peerConf) []wire.WGPublic {
	keys := make([]wire.WGPublic, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b wire.WGPublic) int { return bytes.Compare(a[:], b[:]) })
	return keys
}

// peerStats is what the device reports about one peer.
type peerStats struct {
	endpoint      netip.AddrPort
	lastHandshake time.Time
	rx, tx        uint64
}

// deviceState is the parsed UAPI "get" output.
type deviceState struct {
	listenPort uint16
	peers      map[wire.WGPublic]peerStats
}

// parseDeviceState parses UAPI "get" output; unknown keys are skipped.
func parseDeviceState(s string) (deviceState, error) {
	st := deviceState{peers: map[wire.WGPublic]peerStats{}}
	var cur *wire.WGPublic
	var ps peerStats
	var sec, nsec int64
	commit := func() {
		if cur == nil {
			return
		}
		if sec != 0 || nsec != 0 {
			ps.lastHandshake = time.Unix(sec, nsec)
		}
		st.peers[*cur] = ps
	}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		var err error
		switch {
		case key == "public_key":
			commit()
			var k wire.WGPublic
			b, herr := hex.DecodeString(val)
			if herr != nil || len(b) != len(k) {
				return deviceState{}, fmt.Errorf("parse device state: bad public key")
			}
			copy(k[:], b)
			cur, ps, sec, nsec = &k, peerStats{}, 0, 0
		case key == "listen_port" && cur == nil:
			var n uint64
			n, err = strconv.ParseUint(val, 10, 16)
			st.listenPort = uint16(n)
		case cur == nil:
		case key == "endpoint":
			ps.endpoint, err = netip.ParseAddrPort(val)
		case key == "last_handshake_time_sec":
			sec, err = strconv.ParseInt(val, 10, 64)
		case key == "last_handshake_time_nsec":
			nsec, err = strconv.ParseInt(val, 10, 64)
		case key == "rx_bytes":
			ps.rx, err = strconv.ParseUint(val, 10, 64)
		case key == "tx_bytes":
			ps.tx, err = strconv.ParseUint(val, 10, 64)
		}
		if err != nil {
			return deviceState{}, fmt.Errorf("parse device state %s: %w", key, err)
		}
	}
	commit()
	return st, sc.Err()
}
