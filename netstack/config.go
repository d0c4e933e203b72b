package netstack

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// Transport protocol numbers, as passed to Filter.Allow and Stack.Expose.
const (
	ProtoICMP   uint8 = 1  // ICMP for IPv4
	ProtoTCP    uint8 = 6  // TCP
	ProtoUDP    uint8 = 17 // UDP
	ProtoICMPv6 uint8 = 58 // ICMP for IPv6
)

// Defaults used when the matching Config field is zero.
const (
	DefaultMTU            = 1420
	DefaultMaxFlows       = 65536
	DefaultUDPIdleTimeout = 60 * time.Second
	// DefaultReadBatch is Config.ReadBatch's default: a quarter of
	// wireguard-go's batch. With 32 instead of 128, a node's RSS 60 s after
	// make bench-overlay's load fell from 38.8 to 29.3 MB and its peak from
	// 66.7 to 56.2 MB, for 0-11 % more CPU per byte (smaller batches to
	// encrypt and to send with UDP GSO) and in some runs up to 30 % less
	// throughput; 64 missed both targets. See ARCHITECTURE.md.
	DefaultReadBatch = 32
)

// Bounds on Config values.
const (
	minMTU     = 576
	minMTUIPv6 = 1280
	maxMTU     = 65535
	minFlows   = 256
)

// Errors returned by New, Expose and the dial and listen functions.
var (
	ErrInvalidConfig = errors.New("invalid netstack config")
	ErrClosed        = errors.New("netstack closed")
	ErrBadService    = errors.New("service must be TCP or UDP on a non-zero port")
	ErrNotLocal      = errors.New("address is not one of this node's overlay addresses")
)

// Service is a local service: a transport protocol (ProtoTCP or ProtoUDP)
// and a port on 127.0.0.1.
type Service struct {
	// Proto is ProtoTCP or ProtoUDP.
	Proto uint8
	// Port is the port on both the overlay address and 127.0.0.1; not 0.
	Port uint16
}

// Config configures a Stack. New validates it and fills in defaults; it is
// not retained, so changing it after New has no effect.
type Config struct {
	// IPv4 is the node's IPv4 overlay address. It may be the zero Addr when
	// IPv6 is set; otherwise it must be an IPv4 address.
	IPv4 netip.Addr
	// IPv6 is the node's IPv6 overlay address. It may be the zero Addr when
	// IPv4 is set; otherwise it must be an IPv6 address.
	IPv6 netip.Addr
	// MTU is the link MTU; 0 means DefaultMTU. At least 1280 when IPv6 is
	// set, at least 576 otherwise, at most 65535.
	MTU int
	// Logger receives the Stack's logs; nil means slog.Default().
	Logger *slog.Logger
	// Expose lists the services forwarded from the start; see Stack.Expose.
	Expose []Service
	// OnDenied, if not nil, is called for every new inbound flow the Filter
	// denies and every tracked flow cut by a Filter change. It is called on
	// the packet path: it must return quickly and must not block or call
	// back into the Stack. The caller does any rate limiting.
	OnDenied func(DeniedFlow)
	// MaxFlows bounds the connection-tracking table; 0 means
	// DefaultMaxFlows. When full, the least recently seen flows are evicted.
	MaxFlows int
	// CountFlows turns on the per-flow byte counters that DrainFlowCounts
	// reads (flow logs): two atomic adds per packet of a tracked flow.
	CountFlows bool
	// UDPIdleTimeout ends a forwarded UDP flow after this long without a
	// datagram in either direction; 0 means DefaultUDPIdleTimeout.
	UDPIdleTimeout time.Duration
	// LegacyDataPath selects the data path as it was before issue 12:
	// gVisor cuts its TCP segments into packets itself (instead of the
	// Stack, straight into wireguard-go's buffers) and TCP buffers grow to
	// 8 MiB. It exists so a benchmark can measure the data path against
	// it in the same run; nothing else sets it.
	LegacyDataPath bool
	// TCPBufferMax bounds a TCP endpoint's send and receive buffers
	// (receive-buffer auto-tuning grows them up to it); 0 means 4 MiB.
	// Ignored with LegacyDataPath. For benchmarks of the bound.
	TCPBufferMax int
	// ReadBatch bounds the packets one Read copies out (0: DefaultReadBatch,
	// or 128 with LegacyDataPath), at most 128.
	// wireguard-go's TUN reader holds a 64 KiB message buffer for each
	// packet its Read may return (as many as its batch, 128) and replaces
	// each one a Read filled: only the first ReadBatch of them are ever
	// written, so only their pages stay resident after a load.
	ReadBatch int
	// CopyBuffer is the most bytes each direction of an exposed
	// service's flow reads at once; 0 means 128 KiB. A direction starts
	// with 32 KiB (io.Copy's; CopyBuffer when smaller) and grows to
	// CopyBuffer when a read fills its buffer. For benchmarks of the size.
	CopyBuffer int
	// InFlight bounds the packets wireguard-go holds each way (see Gate
	// and Stack.InFlight): 0 means DefaultInFlight, negative no bound.
	// The legacy data path has none.
	InFlight int
}

// withDefaults validates c and returns a copy with defaults filled in.
func (c Config) withDefaults() (Config, error) {
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.MaxFlows == 0 {
		c.MaxFlows = DefaultMaxFlows
	}
	if c.UDPIdleTimeout == 0 {
		c.UDPIdleTimeout = DefaultUDPIdleTimeout
	}
	if c.ReadBatch == 0 {
		c.ReadBatch = DefaultReadBatch
		if c.LegacyDataPath {
			c.ReadBatch = batchSize
		}
	}
	if c.InFlight == 0 && !c.LegacyDataPath {
		c.InFlight = DefaultInFlight
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if err := c.validate(); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return c, nil
}

func (c Config) validate() error {
	if err := validateAddrs(c.IPv4, c.IPv6); err != nil {
		return err
	}
	minimum := minMTU
	if c.IPv6.IsValid() {
		minimum = minMTUIPv6
	}
	if c.MTU < minimum || c.MTU > maxMTU {
		return fmt.Errorf("mtu %d outside [%d, %d]", c.MTU, minimum, maxMTU)
	}
	if c.MaxFlows < minFlows {
		return fmt.Errorf("max flows %d below %d", c.MaxFlows, minFlows)
	}
	if c.UDPIdleTimeout < 0 {
		return fmt.Errorf("negative udp idle timeout %v", c.UDPIdleTimeout)
	}
	if c.ReadBatch < 1 || c.ReadBatch > batchSize {
		return fmt.Errorf("read batch %d outside [1, %d]", c.ReadBatch, batchSize)
	}
	for _, svc := range c.Expose {
		if err := svc.validate(); err != nil {
			return err
		}
	}
	return nil
}

// validateAddrs checks a node's overlay addresses: at least one, each a
// usable unicast address of its family.
func validateAddrs(v4, v6 netip.Addr) error {
	if !v4.IsValid() && !v6.IsValid() {
		return errors.New("no overlay address")
	}
	if v4.IsValid() && (!v4.Is4() || !usableUnicast(v4)) {
		return fmt.Errorf("ipv4 address %v is not a unicast IPv4 address", v4)
	}
	if v6.IsValid() && (!v6.Is6() || v6.Is4In6() || v6.Zone() != "" || !usableUnicast(v6)) {
		return fmt.Errorf("ipv6 address %v is not a unicast IPv6 address without zone", v6)
	}
	return nil
}

// guardConfig returns the part of c that configures the Stack's guard.
func (c Config) guardConfig() GuardConfig {
	return GuardConfig{IPv4: c.IPv4, IPv6: c.IPv6, MaxFlows: c.MaxFlows, OnDenied: c.OnDenied, CountFlows: c.CountFlows}
}

// usableUnicast reports whether a may be a node's overlay address.
func usableUnicast(a netip.Addr) bool {
	return !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast() &&
		!a.IsLinkLocalUnicast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

func (s Service) validate() error {
	if (s.Proto != ProtoTCP && s.Proto != ProtoUDP) || s.Port == 0 {
		return fmt.Errorf("service %d/%d: %w", s.Proto, s.Port, ErrBadService)
	}
	return nil
}
