package netstack

import (
	"errors"
	"net/netip"
	"testing"
)

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no address", Config{}},
		{"ipv6 in ipv4 field", Config{IPv4: addrA6}},
		{"ipv4 in ipv6 field", Config{IPv6: addrA4}},
		{"mapped ipv4 in ipv6 field", Config{IPv6: netip.MustParseAddr("::ffff:100.64.0.1")}},
		{"loopback", Config{IPv4: netip.MustParseAddr("127.0.0.1")}},
		{"unspecified", Config{IPv6: netip.IPv6Unspecified()}},
		{"multicast", Config{IPv4: netip.MustParseAddr("224.0.0.1")}},
		{"mtu too small for ipv6", Config{IPv6: addrA6, MTU: 1200}},
		{"mtu too small", Config{IPv4: addrA4, MTU: 100}},
		{"mtu too big", Config{IPv4: addrA4, MTU: 70000}},
		{"too few flows", Config{IPv4: addrA4, MaxFlows: 10}},
		{"negative udp idle", Config{IPv4: addrA4, UDPIdleTimeout: -1}},
		{"negative read batch", Config{IPv4: addrA4, ReadBatch: -1}},
		{"read batch over wireguard-go's", Config{IPv4: addrA4, ReadBatch: batchSize + 1}},
		{"service port 0", Config{IPv4: addrA4, Expose: []Service{{ProtoTCP, 0}}}},
		{"service icmp", Config{IPv4: addrA4, Expose: []Service{{ProtoICMP, 7}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if err == nil {
				s.Close()
				t.Fatal("New accepted the config")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New error = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	s, err := New(Config{IPv4: addrA4})
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	defer s.Close()
	if mtu, _ := s.MTU(); mtu != DefaultMTU {
		t.Fatalf("mtu = %d, want %d", mtu, DefaultMTU)
	}
	if s.BatchSize() <= 1 {
		t.Fatalf("batch size = %d, want > 1", s.BatchSize())
	}
	if ev := <-s.Events(); ev != 1 { // tun.EventUp
		t.Fatalf("first event = %v, want EventUp", ev)
	}
}

func TestExposeValidates(t *testing.T) {
	s := newTestStack(t, nil, addrA4, addrA6)
	if err := s.Expose(Service{ProtoUDP, 0}); !errors.Is(err, ErrBadService) {
		t.Fatalf("expose port 0: %v, want ErrBadService", err)
	}
	if err := s.Expose(Service{ProtoTCP, 22}); err != nil {
		t.Fatalf("expose: %v", err)
	}
	if got := s.Exposed(); len(got) != 1 || got[0] != (Service{ProtoTCP, 22}) {
		t.Fatalf("exposed = %v", got)
	}
	s.Unexpose(Service{ProtoTCP, 22})
	if got := s.Exposed(); len(got) != 0 {
		t.Fatalf("exposed after unexpose = %v", got)
	}
	if _, err := s.ListenTCP(netip.AddrPortFrom(addrB4, 80)); !errors.Is(err, ErrNotLocal) {
		t.Fatalf("listen on another node's address: %v, want ErrNotLocal", err)
	}
}
