package kernelwg

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.zx2c4.com/wireguard/wgctrl/wgtypes"
)

// configOf translates UAPI "set" lines (without "set=1") into one wgctrl
// configuration: the device keys (private_key, listen_port,
// replace_peers) and, per public_key, a peer's remove, endpoint,
// persistent_keepalive_interval, replace_allowed_ips and allowed_ip. A
// peer named twice (removed and added again, or its keepalive turned off
// and on) gives two peer entries, which the kernel applies in order. Other
// keys are refused: Ward's Engine sends none.
func configOf(uapi string) (wgtypes.Config, error) {
	var cfg wgtypes.Config
	var p *wgtypes.PeerConfig
	for line := range strings.Lines(uapi) {
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return cfg, fmt.Errorf("uapi line %q: no value", line)
		}
		if k == "public_key" {
			key, err := parseKey(v)
			if err != nil {
				return cfg, err
			}
			cfg.Peers = append(cfg.Peers, wgtypes.PeerConfig{PublicKey: key})
			p = &cfg.Peers[len(cfg.Peers)-1]
			continue
		}
		var err error
		if p == nil {
			err = setDevice(&cfg, k, v)
		} else {
			err = setPeer(p, k, v)
		}
		if err != nil {
			return cfg, fmt.Errorf("uapi %s: %w", k, err)
		}
	}
	return cfg, nil
}

// setDevice applies one device-level UAPI key to cfg.
func setDevice(cfg *wgtypes.Config, k, v string) error {
	switch k {
	case "private_key":
		key, err := parseKey(v)
		if err != nil {
			return err
		}
		cfg.PrivateKey = &key
	case "listen_port":
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return err
		}
		port := int(n)
		cfg.ListenPort = &port
	case "replace_peers":
		cfg.ReplacePeers = v == "true"
	default:
		return fmt.Errorf("not supported by the kernel engine")
	}
	return nil
}

// setPeer applies one peer-level UAPI key to p.
func setPeer(p *wgtypes.PeerConfig, k, v string) error {
	switch k {
	case "remove":
		p.Remove = v == "true"
	case "update_only":
		p.UpdateOnly = v == "true"
	case "endpoint":
		ap, err := netip.ParseAddrPort(v)
		if err != nil {
			return err
		}
		p.Endpoint = net.UDPAddrFromAddrPort(ap)
	case "persistent_keepalive_interval":
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return err
		}
		d := time.Duration(n) * time.Second
		p.PersistentKeepaliveInterval = &d
	case "replace_allowed_ips":
		p.ReplaceAllowedIPs = v == "true"
	case "allowed_ip":
		pfx, err := netip.ParsePrefix(v)
		if err != nil {
			return err
		}
		p.AllowedIPs = append(p.AllowedIPs, net.IPNet{IP: pfx.Addr().AsSlice(), Mask: net.CIDRMask(pfx.Bits(), pfx.Addr().BitLen())})
	default:
		return fmt.Errorf("not supported by the kernel engine")
	}
	return nil
}

func parseKey(v string) (wgtypes.Key, error) {
	var k wgtypes.Key
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("bad key")
	}
	copy(k[:], b)
	return k, nil
}

// uapiOf renders d as UAPI "get" lines, as wireguard-go's IpcGet does (the
// keys node.Engine reads: listen port, and each peer's endpoint, latest
// handshake, byte counters, keepalive and allowed IPs).
func uapiOf(d *wgtypes.Device) string {
	var b strings.Builder
	fmt.Fprintf(&b, "private_key=%s\nlisten_port=%d\n", hex.EncodeToString(d.PrivateKey[:]), d.ListenPort)
	for _, p := range d.Peers {
		fmt.Fprintf(&b, "public_key=%s\n", hex.EncodeToString(p.PublicKey[:]))
		if p.Endpoint != nil {
			ap := p.Endpoint.AddrPort()
			fmt.Fprintf(&b, "endpoint=%s\n", netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		}
		var sec, nsec int64
		if !p.LastHandshakeTime.IsZero() {
			sec, nsec = p.LastHandshakeTime.Unix(), int64(p.LastHandshakeTime.Nanosecond())
		}
		fmt.Fprintf(&b, "last_handshake_time_sec=%d\nlast_handshake_time_nsec=%d\n", sec, nsec)
		fmt.Fprintf(&b, "tx_bytes=%d\nrx_bytes=%d\n", p.TransmitBytes, p.ReceiveBytes)
		fmt.Fprintf(&b, "persistent_keepalive_interval=%d\n", int(p.PersistentKeepaliveInterval/time.Second))
		for _, ip := range p.AllowedIPs {
			fmt.Fprintf(&b, "allowed_ip=%s\n", ip.String())
		}
		b.WriteString("protocol_version=1\n")
	}
	return b.String()
}
