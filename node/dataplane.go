package node

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"

	"github.com/wardnet/ward/netstack"
	"github.com/wardnet/ward/wire"
)

// dataplane is one running wireguard-go device over one network plane (a
// netstack.Stack, or a guarded TUN), with the ping echo. The Engine builds
// it when it learns its overlay addresses and rebuilds it if they change.
type dataplane struct {
	net    netPlane
	v4, v6 netip.Addr // either may be zero
	dev    wgDevice
	port   uint16
	echo   *echo
}

// wgDevice is the WireGuard device a data plane configures with UAPI
// text: wireguard-go's device.Device, or a KernelLink.
type wgDevice interface {
	IpcSet(uapi string) error
	IpcGet() (string, error)
	Up() error
	Close()
}

// dataplaneConfig is what a dataplane is built from.
type dataplaneConfig struct {
	// self is the node; its overlay addresses are the plane's.
	self       wire.Node
	tun        TUNFunc // nil: netstack
	kernel     KernelFunc
	priv       wire.WGPrivate
	listenPort uint16
	mtu        int
	expose     []uint16
	log        *slog.Logger
	onDenied   func(netstack.DeniedFlow)
	bind       func() conn.Bind
	legacy     bool // netstack.Config.LegacyDataPath
	tcpBufMax  int  // netstack.Config.TCPBufferMax
	readBatch  int  // netstack.Config.ReadBatch
	copyBuf    int  // netstack.Config.CopyBuffer
	inFlight   int  // netstack.Config.InFlight
}

// newDataplane starts a network plane and a device and brings the device
// up.
func newDataplane(ctx context.Context, cfg dataplaneConfig) (*dataplane, error) {
	dev, np, err := openDevice(cfg)
	if err != nil {
		return nil, err
	}
	dp := &dataplane{net: np, v4: cfg.self.IPv4, v6: cfg.self.IPv6, dev: dev}
	if err := dp.up(cfg); err != nil {
		dp.close()
		return nil, err
	}
	// The OS may lack an address family the map gives (IPv6 disabled):
	// there, the echo serves the addresses it can.
	dp.echo, err = startEcho(ctx, np, []netip.Addr{dp.v4, dp.v6}, cfg.tun != nil || cfg.kernel != nil, cfg.log)
	if err != nil {
		dp.close()
		return nil, err
	}
	return dp, nil
}

// openDevice opens the WireGuard device and the network plane above it:
// a kernel link (cfg.kernel), or wireguard-go over the plane openPlane
// opens.
func openDevice(cfg dataplaneConfig) (wgDevice, netPlane, error) {
	if cfg.kernel != nil {
		k, err := cfg.kernel(cfg.self)
		if err != nil {
			return nil, nil, fmt.Errorf("open kernel wireguard: %w", err)
		}
		return k, &kernelNet{k: k, log: cfg.log}, nil
	}
	td, np, err := openPlane(cfg)
	if err != nil {
		return nil, nil, err
	}
	b := cfg.bind()
	if st, ok := td.(*netstack.Stack); ok {
		if pb, ok := b.(*pathBind); ok {
			pb.out, pb.in = st.InFlight()
		}
	}
	return device.NewDevice(td, b, wgLogger(cfg.log)), np, nil
}

// up sets the key and port, brings the device up and reads the port.
func (dp *dataplane) up(cfg dataplaneConfig) error {
	if err := dp.dev.IpcSet(fmt.Sprintf("private_key=%s\nlisten_port=%d\n", cfg.priv.Hex(), cfg.listenPort)); err != nil {
		return fmt.Errorf("configure wireguard: %w", err)
	}
	if err := dp.dev.Up(); err != nil {
		return fmt.Errorf("bring wireguard up: %w", err)
	}
	st, err := dp.state()
	if err != nil {
		return err
	}
	dp.port = st.listenPort
	return nil
}

// services lists TCP and UDP services for each exposed port.
func services(ports []uint16) []netstack.Service {
	out := make([]netstack.Service, 0, 2*len(ports))
	for _, p := range ports {
		out = append(out, netstack.Service{Proto: netstack.ProtoTCP, Port: p}, netstack.Service{Proto: netstack.ProtoUDP, Port: p})
	}
	return out
}

// state reads the device's UAPI state.
func (dp *dataplane) state() (deviceState, error) {
	s, err := dp.dev.IpcGet()
	if err != nil {
		return deviceState{}, fmt.Errorf("read wireguard state: %w", err)
	}
	return parseDeviceState(s)
}

// setPrivateKey switches the device's private key, which ends every
// session.
func (dp *dataplane) setPrivateKey(k wire.WGPrivate) error {
	if err := dp.dev.IpcSet("private_key=" + k.Hex() + "\n"); err != nil {
		return fmt.Errorf("set wireguard key: %w", err)
	}
	return nil
}

// rehandshake starts a handshake at once with the peers in keys.
func (dp *dataplane) rehandshake(keys []wire.WGPublic) error {
	// Turning the persistent keepalive off and on again makes wireguard-go
	// send a keepalive now, which starts a handshake with the new key.
	rehandshake := keys
	var b strings.Builder
	for _, p := range rehandshake {
		fmt.Fprintf(&b, "public_key=%s\npersistent_keepalive_interval=0\npublic_key=%s\npersistent_keepalive_interval=%d\n", p.Hex(), p.Hex(), keepaliveSeconds)
	}
	return dp.configure(b.String())
}

// configure applies UAPI set lines (never containing private keys).
func (dp *dataplane) configure(set string) error {
	if set == "" {
		return nil
	}
	if err := dp.dev.IpcSet(set); err != nil {
		return fmt.Errorf("configure wireguard peers: %w", err)
	}
	return nil
}

// close stops the echo and the device, which closes the stack or the
// guarded TUN.
func (dp *dataplane) close() {
	if dp.echo != nil {
		dp.echo.close()
	}
	dp.dev.Close()
}

// wgLogger routes wireguard-go's logs to slog at debug level: its errors
// are mostly unreachable peers, which the status shows anyway.
func wgLogger(log *slog.Logger) *device.Logger {
	l := log.With("component", "wireguard")
	logf := func(format string, args ...any) {
		if l.Enabled(context.Background(), slog.LevelDebug) {
			l.Debug(fmt.Sprintf(format, args...))
		}
	}
	return &device.Logger{Verbosef: logf, Errorf: logf}
}
