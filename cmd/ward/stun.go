//go:build !ward_omit_coordinator || !ward_omit_relay

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/wardnet/ward/stunserver"
)

// registerSTUNFlags adds --stun-listen and --stun-listen-alt to f, the
// coordinator's flags; stunAddrs reads them.
func registerSTUNFlags(f *pflag.FlagSet) {
	f.String("stun-listen", "", "UDP address to answer STUN Binding requests on, for ward netcheck and NAT discovery (default: --listen's address and port, on UDP; \"\": off)")
	f.String("stun-listen-alt", "", "a second UDP address for STUN (another IP or port), named in the maps, so that nodes and ward netcheck can tell endpoint-independent from symmetric NAT with one coordinator (nodes behind a symmetric NAT then use birthday probing) (\"\": off)")
}

// stunAddrs returns the UDP addresses to serve STUN on from the
// coordinator's parsed flags f: --stun-listen, which when not given is
// --listen's address, and --stun-listen-alt when given.
func stunAddrs(f *pflag.FlagSet) []string {
	main, _ := f.GetString("stun-listen")
	if !f.Changed("stun-listen") {
		main, _ = f.GetString("listen")
	}
	alt, _ := f.GetString("stun-listen-alt")
	return slices.DeleteFunc([]string{main, alt}, func(a string) bool { return a == "" })
}

// serveSTUN opens a UDP socket on each address and answers STUN Binding
// requests there until ctx ends. It returns the bound addresses, or an
// error (and closes what it opened) when one cannot be bound.
func serveSTUN(ctx context.Context, addrs []string, log *slog.Logger) ([]net.Addr, error) {
	var conns []net.PacketConn
	for _, a := range addrs {
		c, err := net.ListenPacket("udp", a)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, fmt.Errorf("stun listen %s: %w", a, err)
		}
		conns = append(conns, c)
	}
	var bound []net.Addr
	for _, c := range conns {
		bound = append(bound, c.LocalAddr())
		srv := stunserver.New(log)
		go func() {
			if err := srv.Serve(ctx, c); err != nil && log != nil {
				log.Error("stun server stopped", "err", err)
			}
		}()
		if log != nil {
			log.Info("serving STUN", "udp", c.LocalAddr().String())
		}
	}
	return bound, nil
}

// advertisedSTUN is how the maps name a STUN server bound at a: its
// address, or ":port" (on the coordinator's host, as nodes reach it) when
// it listens on every address.
func advertisedSTUN(a net.Addr) string {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return ""
	}
	if ap.Addr().IsUnspecified() {
		return ":" + strconv.Itoa(int(ap.Port()))
	}
	return ap.String()
}
