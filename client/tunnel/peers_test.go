package tunnel

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

func TestPeerDiff(t *testing.T) {
	k := wire.WGPublic{9}
	c := peerConf{allowed: []netip.Prefix{netip.MustParsePrefix("100.64.0.1/32")}, endpoint: netip.MustParseAddrPort("127.0.0.1:5000"), keepalive: true}
	add := peerDiff(nil, map[wire.WGPublic]peerConf{k: c})
	for _, want := range []string{"public_key=" + k.Hex(), "persistent_keepalive_interval=25", "endpoint=127.0.0.1:5000", "allowed_ip=100.64.0.1/32"} {
		if !strings.Contains(add, want) {
			t.Errorf("add lacks %q:\n%s", want, add)
		}
	}
	if same := peerDiff(map[wire.WGPublic]peerConf{k: c}, map[wire.WGPublic]peerConf{k: c}); same != "" {
		t.Errorf("no change rendered %q", same)
	}
	if rm := peerDiff(map[wire.WGPublic]peerConf{k: c}, nil); rm != "public_key="+k.Hex()+"\nremove=true\n" {
		t.Errorf("remove rendered %q", rm)
	}
}

func TestParseDeviceState(t *testing.T) {
	k := wire.WGPublic{7}
	st, err := parseDeviceState("listen_port=4242\npublic_key=" + k.Hex() + "\nendpoint=127.0.0.1:9\nlast_handshake_time_sec=100\nlast_handshake_time_nsec=5\nrx_bytes=10\ntx_bytes=20\n")
	if err != nil {
		t.Fatal(err)
	}
	p := st.peers[k]
	if st.listenPort != 4242 || p.endpoint.Port() != 9 || !p.lastHandshake.Equal(time.Unix(100, 5)) || p.rx != 10 || p.tx != 20 {
		t.Errorf("parsed %+v %+v", st, p)
	}
	if _, err := parseDeviceState("public_key=zz\n"); err == nil {
		t.Error("bad key parsed")
	}
}
