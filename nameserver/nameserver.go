// Package nameserver is the DNS resolver a node serves on its overlay
// address in TUN mode: it answers A and AAAA for the fleet domain from the
// node's map (NXDOMAIN for a fleet name no node has) and forwards every
// other question to the system's resolvers, as read from resolv.conf at
// start. DNS messages are github.com/miekg/dns's, not written here.
package nameserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/wardnet/ward/dnsname"
)

// TTL is the lifetime of a fleet answer, in seconds: short, since a
// rename or a new address reaches the map at once.
const TTL = 5

// forwardTimeout bounds one upstream exchange.
const forwardTimeout = 3 * time.Second

// ErrNoUpstream reports a resolv.conf that names no resolver.
var ErrNoUpstream = errors.New("no upstream resolver")

// Names is where the server finds the fleet. The server calls its
// methods from the goroutine of each question; they must not block.
type Names interface {
	// Domain returns the fleet's DNS domain ("ward.internal"), or empty
	// while the map names none (then every question is forwarded).
	Domain() string
	// Lookup returns the overlay addresses of the node whose FQDN is
	// name (lowercase, no trailing dot), either of them invalid when the
	// node has none of that family; ok is false when no node has it.
	Lookup(name string) (v4, v6 netip.Addr, ok bool)
}

// Config configures a Server.
type Config struct {
	// Names answers for the fleet; required.
	Names Names
	// Upstreams answer everything else, tried in order; empty: SERVFAIL.
	// An upstream equal to the server's own address is dropped (a loop).
	Upstreams []netip.AddrPort
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

// Server answers DNS over UDP and TCP on one address. Make it with
// Listen; Close stops it.
type Server struct {
	cfg  Config
	addr netip.AddrPort
	udp  *dns.Server
	tcp  *dns.Server
	wg   sync.WaitGroup
	once sync.Once
}

// Listen binds UDP and TCP on addr (port 0: a free port, the same for
// both) and serves until Close.
func Listen(addr netip.AddrPort, cfg Config) (*Server, error) {
	if cfg.Names == nil {
		return nil, errors.New("nameserver: no names")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pc, ln, err := listenBoth(addr)
	if err != nil {
		return nil, err
	}
	bound := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	s := &Server{cfg: cfg, addr: netip.AddrPortFrom(bound.Addr().Unmap(), bound.Port())}
	s.cfg.Upstreams = withoutAddr(cfg.Upstreams, s.addr)
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: ln, Handler: s}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		s.wg.Go(func() {
			if err := srv.ActivateAndServe(); err != nil {
				s.cfg.Logger.Debug("dns server stopped", "err", err)
			}
		})
	}
	return s, nil
}

// anyPortTries bounds the ports listenBoth tries when addr's port is 0.
const anyPortTries = 16

// listenBoth binds UDP and TCP on addr. With port 0 the system picks a
// free UDP port, which TCP may have in use: then another is tried.
func listenBoth(addr netip.AddrPort) (*net.UDPConn, *net.TCPListener, error) {
	for try := 1; ; try++ {
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		if err != nil {
			return nil, nil, fmt.Errorf("listen dns on udp %v: %w", addr, err)
		}
		bound := pc.LocalAddr().(*net.UDPAddr).AddrPort()
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(bound))
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if addr.Port() != 0 || try == anyPortTries {
			return nil, nil, fmt.Errorf("listen dns on tcp %v: %w", bound, err)
		}
	}
}

// withoutAddr returns ups without self.
func withoutAddr(ups []netip.AddrPort, self netip.AddrPort) []netip.AddrPort {
	var out []netip.AddrPort
	for _, u := range ups {
		if u != self {
			out = append(out, u)
		}
	}
	return out
}

// Addr returns the address the server answers on.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Close stops the server and waits for its goroutines; it is idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.udp.ShutdownContext(ctx)
		s.tcp.ShutdownContext(ctx)
		s.wg.Wait()
	})
	return nil
}

// ServeDNS answers one question: from the map for the fleet domain, else
// from the upstreams. It implements dns.Handler. It answers only the host
// it runs on (see local), and REFUSED to anyone else.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if !s.local(w.RemoteAddr()) {
		m := new(dns.Msg)
		w.WriteMsg(m.SetRcode(r, dns.RcodeRefused))
		return
	}
	if len(r.Question) != 1 {
		m := new(dns.Msg)
		w.WriteMsg(m.SetRcode(r, dns.RcodeFormatError))
		return
	}
	q := r.Question[0]
	name := dnsname.Canonical(q.Name)
	if dom := s.cfg.Names.Domain(); dom != "" && (name == dom || strings.HasSuffix(name, "."+dom)) {
		w.WriteMsg(s.answer(r, q, name, dom))
		return
	}
	w.WriteMsg(s.forward(r, w.LocalAddr().Network()))
}

// local reports whether a question from remote comes from this host: the
// resolver is this host's, not the overlay's or its LAN's (which could
// route to the overlay address), so it is not an open resolver that
// forwards their questions upstream or lists the fleet's names to them.
// The host's own questions to the listen address come from that address.
func (s *Server) local(remote net.Addr) bool {
	var a netip.Addr
	switch r := remote.(type) {
	case *net.UDPAddr:
		a = r.AddrPort().Addr()
	case *net.TCPAddr:
		a = r.AddrPort().Addr()
	default:
		return false
	}
	a = a.Unmap()
	return a == s.addr.Addr() || s.addr.Addr().IsUnspecified() && a.IsLoopback()
}

// answer answers q, a name under the fleet domain dom, from the map.
func (s *Server) answer(r *dns.Msg, q dns.Question, name, dom string) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative, m.RecursionAvailable = true, true
	if name == dom {
		return m // the domain itself holds no address: NODATA
	}
	v4, v6, ok := s.cfg.Names.Lookup(name)
	if !ok {
		m.Rcode = dns.RcodeNameError
		return m
	}
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: TTL}
	switch {
	case q.Qtype == dns.TypeA && v4.IsValid():
		m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: v4.AsSlice()})
	case q.Qtype == dns.TypeAAAA && v6.IsValid():
		m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: v6.AsSlice()})
	}
	return m
}

// forward asks the upstreams in turn over network ("udp" or "tcp"), a
// truncated UDP answer again over TCP; SERVFAIL when none answers.
func (s *Server) forward(r *dns.Msg, network string) *dns.Msg {
	for _, up := range s.cfg.Upstreams {
		resp, err := exchange(r, network, up)
		if err == nil && resp.Truncated && network == "udp" {
			resp, err = exchange(r, "tcp", up)
		}
		if err == nil {
			return resp
		}
		s.cfg.Logger.Debug("dns upstream failed", "upstream", up, "err", err)
	}
	m := new(dns.Msg)
	return m.SetRcode(r, dns.RcodeServerFailure)
}

// exchange asks up r over network.
func exchange(r *dns.Msg, network string, up netip.AddrPort) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: forwardTimeout}
	resp, _, err := c.Exchange(r, up.String())
	if err != nil {
		return nil, fmt.Errorf("ask %v over %s: %w", up, network, err)
	}
	return resp, nil
}

// Upstreams reads the resolvers of a resolv.conf file (port 53 unless it
// says otherwise), in order, leaving out any of skip (the server's own
// address: a resolv.conf already pointing at the server).
func Upstreams(path string, skip ...netip.Addr) ([]netip.AddrPort, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read resolvers from %s: %w", path, err)
	}
	var out []netip.AddrPort
	for _, s := range cc.Servers {
		a, err := netip.ParseAddr(s)
		if err != nil || slices.Contains(skip, a.Unmap()) {
			continue
		}
		ap, err := netip.ParseAddrPort(net.JoinHostPort(a.Unmap().String(), cc.Port))
		if err == nil {
			out = append(out, ap)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", path, ErrNoUpstream)
	}
	return out, nil
}
