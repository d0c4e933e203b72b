package node

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
)

func TestGSORuns(t *testing.T) {
	sizes := func(ls ...int) [][]byte {
		var b [][]byte
		for _, l := range ls {
			b = append(b, make([]byte, l))
		}
		return b
	}
	many := make([]int, 70)
	for i := range many {
		many[i] = 100
	}
	tests := []struct {
		name    string
		bufs    [][]byte
		offload bool
		max     int
		want    [][2]int
	}{
		{"one", sizes(100), true, maxUDPPayload4, [][2]int{{0, 1}}},
		{"equal", sizes(100, 100, 100), true, maxUDPPayload4, [][2]int{{0, 3}}},
		{"shorter tail ends a run", sizes(100, 100, 50, 100), true, maxUDPPayload4, [][2]int{{0, 3}, {3, 4}}},
		{"larger starts a run", sizes(100, 200, 200), true, maxUDPPayload4, [][2]int{{0, 1}, {1, 3}}},
		{"no offload", sizes(100, 100), false, maxUDPPayload4, [][2]int{{0, 1}, {1, 2}}},
		{"payload bound", sizes(100, 100, 100), true, 250, [][2]int{{0, 2}, {2, 3}}},
		{"segment bound", sizes(many...), true, maxUDPPayload4, [][2]int{{0, 64}, {64, 70}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [][2]int
			for s, e := range gsoRuns(tt.bufs, tt.offload, tt.max) {
				got = append(got, [2]int{s, e})
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("runs %v, want %v", got, tt.want)
			}
		})
	}
}

func TestGROSizeParsesControlMessages(t *testing.T) {
	one := func(level, typ int32, data []byte) []byte {
		b := make([]byte, unix.CmsgSpace(len(data)))
		h := (*unix.Cmsghdr)(unsafePointer(&b[0]))
		h.Level, h.Type = level, typ
		h.SetLen(unix.CmsgLen(len(data)))
		copy(b[unix.CmsgLen(0):], data)
		return b
	}
	u32 := func(v uint32) []byte { b := make([]byte, 4); nativePutUint16(b, uint16(v)); return b }
	tests := []struct {
		name string
		oob  []byte
		want int
	}{
		{"none", nil, 0},
		{"gro", one(unix.SOL_UDP, unix.UDP_GRO, u32(1452)), 1452},
		{"other first", append(one(unix.SOL_IP, unix.IP_TOS, u32(1)), one(unix.SOL_UDP, unix.UDP_GRO, u32(96))...), 96},
		{"truncated", one(unix.SOL_UDP, unix.UDP_GRO, u32(1452))[:unix.CmsgLen(0)+1], 0},
		{"zero length header", make([]byte, 32), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := groSize(tt.oob); got != tt.want {
				t.Fatalf("groSize = %d, want %d", got, tt.want)
			}
		})
	}
}

func FuzzGROSize(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 20))
	f.Add([]byte{20, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 104, 0, 0, 0, 0xac, 5, 0, 0})
	f.Fuzz(func(t *testing.T, oob []byte) {
		if n := groSize(oob); n < 0 {
			t.Fatalf("negative size %d", n)
		}
	})
}

// TestUDPBindCarriesBatches sends batches of mixed sizes (runs of equal
// size, shorter tails, more than one segmented datagram holds, lone
// packets) between two udpBinds on loopback, IPv4 and IPv6, for several
// batch sizes, and checks every packet arrives whole and in order.
func TestUDPBindCarriesBatches(t *testing.T) {
	for _, batch := range []int{128, 64, 32, 7, 1} {
		for _, dst := range []string{"127.0.0.1", "::1"} {
			t.Run(fmt.Sprintf("batch %d to %s", batch, dst), func(t *testing.T) {
				testUDPBindBatches(t, batch, netip.MustParseAddr(dst))
			})
		}
	}
}

func testUDPBindBatches(t *testing.T, batch int, dst netip.Addr) {
	tx, rx := newUDPBind(batch, 0), newUDPBind(batch, 0)
	if _, _, err := tx.Open(0); err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	fns, port, err := rx.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	var want [][]byte
	seq := 0
	packet := func(size int) []byte {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(seq*7 + i)
		}
		b[0], b[1] = byte(seq), byte(seq>>8)
		seq++
		return b
	}
	var sends [][][]byte
	for _, shape := range [][]int{
		{1452, 1452, 1452, 700},
		{96},
		{1452, 1452, 1452, 1452, 1452, 1452, 1452, 1452},
		{148, 92, 1452, 1452, 60},
		{1000, 1000, 1000}, // another segment size than the last
		{1452, 1452},
	} {
		var bufs [][]byte
		for _, s := range shape {
			p := packet(s)
			bufs = append(bufs, p)
			want = append(want, p)
		}
		sends = append(sends, bufs)
	}
	var long [][]byte
	for range 100 {
		p := packet(200)
		long = append(long, p)
		want = append(want, p)
	}
	sends = append(sends, long)
	ep := &conn.StdNetEndpoint{AddrPort: netip.AddrPortFrom(dst, port)}
	for _, bufs := range sends {
		for len(bufs) > 0 {
			n := min(len(bufs), tx.BatchSize())
			if err := tx.Send(bufs[:n], ep); err != nil {
				t.Fatalf("send: %v", err)
			}
			bufs = bufs[n:]
		}
	}
	recv := fns[0]
	if dst.Is6() {
		recv = fns[len(fns)-1]
	}
	got := make(chan [][]byte, 1)
	go func() {
		var all [][]byte
		bufs := make([][]byte, rx.BatchSize())
		sizes := make([]int, len(bufs))
		eps := make([]conn.Endpoint, len(bufs))
		for len(all) < len(want) {
			for i := range bufs {
				bufs[i] = make([]byte, device.MaxMessageSize)
			}
			n, err := recv(bufs, sizes, eps)
			if err != nil {
				break
			}
			for i := range n {
				if sizes[i] == 0 {
					continue
				}
				if a := eps[i].DstIP(); a != dst {
					t.Errorf("packet from %v, want %v", a, dst)
				}
				all = append(all, bufs[i][:sizes[i]])
			}
		}
		got <- all
	}()
	var all [][]byte
	select {
	case all = <-got:
	case <-time.After(20 * time.Second):
		rx.Close()
		all = <-got
	}
	if len(all) != len(want) {
		t.Fatalf("received %d packets, want %d", len(all), len(want))
	}
	for i := range want {
		if !bytes.Equal(all[i], want[i]) {
			t.Fatalf("packet %d: %d bytes starting %x, want %d starting %x", i, len(all[i]), all[i][:2], len(want[i]), want[i][:2])
		}
	}
}

// TestUDPBindSocketBuffers: the bind's sockets get the receive and send
// buffers asked for (the kernel reports twice the size asked, its
// bookkeeping; without CAP_NET_ADMIN at most net.core.*mem_max), and a
// negative size leaves the kernel's defaults.
func TestUDPBindSocketBuffers(t *testing.T) {
	sizes := func(sockBuf int) (rcv, snd [2]int) {
		t.Helper()
		b := newUDPBind(32, sockBuf).(*udpBind)
		if _, _, err := b.Open(0); err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		for i, s := range []*udpSock{b.v4, b.v6} {
			if s == nil {
				continue
			}
			rc, err := s.c.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			rc.Control(func(fd uintptr) {
				rcv[i], _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
				snd[i], _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF)
			})
		}
		return rcv, snd
	}
	defRcv, defSnd := sizes(-1)
	const ask = 3 << 20
	rcv, snd := sizes(ask)
	rmax, wmax := sysctlInt(t, "net/core/rmem_max"), sysctlInt(t, "net/core/wmem_max")
	for i := range 2 {
		if defRcv[i] == 0 {
			continue // no socket of this family
		}
		// Forced (CAP_NET_ADMIN): 2*ask; else 2*min(ask, max), never
		// below the default.
		if want := max(2*min(ask, rmax), defRcv[i]); rcv[i] < want {
			t.Errorf("socket %d: SO_RCVBUF %d, want at least %d (default %d)", i, rcv[i], want, defRcv[i])
		}
		if want := max(2*min(ask, wmax), defSnd[i]); snd[i] < want {
			t.Errorf("socket %d: SO_SNDBUF %d, want at least %d (default %d)", i, snd[i], want, defSnd[i])
		}
	}
	if defRcv[0] >= 2*ask {
		t.Logf("the kernel's default receive buffer (%d) is already as large as asked", defRcv[0])
	}
	if got := udpSocketBuffer(0); got != DefaultUDPSocketBuffer {
		t.Errorf("udpSocketBuffer(0) = %d, want the default %d", got, DefaultUDPSocketBuffer)
	}
	if got := udpSocketBuffer(-1); got != 0 {
		t.Errorf("udpSocketBuffer(-1) = %d, want 0 (the kernel's)", got)
	}
}

// sysctlInt reads an integer under /proc/sys.
func sysctlInt(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		t.Skipf("read %s: %v", name, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}
