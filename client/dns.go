package client

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"time"

	"github.com/wardnet/ward/nameserver"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/splitdns"
)

// dnsPoll is how often runDNS looks for the session's map and TUN address.
const dnsPoll = 100 * time.Millisecond

// ResolvConfBackup is the file in the state directory that keeps the
// system's resolv.conf while the overlay resolver is installed in it.
const ResolvConfBackup = "resolv.conf.ward"

// engineNames is the fleet as a session's Engine knows it.
type engineNames struct{ e *node.Engine }

// Domain implements nameserver.Names.
func (n engineNames) Domain() string { return n.e.FleetDomain() }

// Lookup implements nameserver.Names.
func (n engineNames) Lookup(name string) (netip.Addr, netip.Addr, bool) { return n.e.LookupFQDN(name) }

// resolvConf is the resolv.conf the daemon installs its resolver in, and
// the backup of the original in the state directory.
func (d *Daemon) resolvConf() splitdns.ResolvConf {
	return splitdns.ResolvConf{Path: d.cfg.ResolvConf, Backup: filepath.Join(d.cfg.StateDir, ResolvConfBackup)}
}

// recoverResolvConf puts back the resolv.conf a run that died in TUN mode
// left rewritten, in whatever mode this run is, so the machine is not left
// asking a resolver that is gone. Run calls it before anything else.
func (d *Daemon) recoverResolvConf() {
	switch err := d.resolvConf().Recover(); {
	case errors.Is(err, splitdns.ErrChangedMeanwhile):
		d.log.Info("a previous run's resolv.conf was rewritten since; left as it is", "err", err)
	case err != nil:
		d.log.Warn("put back the resolv.conf a previous run left", "err", err)
	}
}

// runDNS serves the overlay resolver of session s (TUN mode) on its
// overlay IPv4 address, port 53, once the map names the fleet domain and
// the TUN holds the address, and installs it as split DNS (cfg.DNS); when
// ctx ends it takes the installation away and stops the resolver. The
// system's resolvers, which it forwards the rest to, are read from
// resolv.conf first (Run has put back what a crashed run left there).
func (d *Daemon) runDNS(ctx context.Context, s *session) {
	rc := d.resolvConf()
	srv, self := d.listenDNS(ctx, s, rc.Path)
	if srv == nil {
		return
	}
	defer srv.Close()
	undo, err := splitdns.Install(splitdns.Config{Mode: d.cfg.DNS, Interface: s.link.InterfaceName(), Server: self,
		Domain: s.Engine().FleetDomain(), ResolvConf: rc, Logger: d.log})
	if err != nil {
		d.log.Warn("the overlay resolver serves, but is not installed as the system's", "addr", srv.Addr(), "err", err)
		<-ctx.Done()
		return
	}
	<-ctx.Done()
	if err := undo(); err != nil {
		d.log.Warn("take away split DNS", "err", err)
	}
}

// listenDNS waits for session s's fleet domain and overlay IPv4 address
// and serves the resolver there; nil once ctx ends first.
func (d *Daemon) listenDNS(ctx context.Context, s *session, resolvConf string) (*nameserver.Server, netip.Addr) {
	t := time.NewTicker(dnsPoll)
	defer t.Stop()
	var lastErr error
	for {
		e := s.Engine()
		self := e.Status().Self.IPv4
		if e.FleetDomain() != "" && self.IsValid() {
			ups, err := nameserver.Upstreams(resolvConf, self)
			if err != nil {
				d.log.Warn("the overlay resolver forwards nothing outside the fleet", "err", err)
			}
			srv, err := nameserver.Listen(netip.AddrPortFrom(self, 53), nameserver.Config{Names: engineNames{e}, Upstreams: ups, Logger: d.log})
			if err == nil {
				d.log.Info("overlay resolver serving", "addr", srv.Addr(), "domain", e.FleetDomain(), "upstreams", ups)
				return srv, self
			}
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				d.log.Warn("the overlay resolver never started", "err", lastErr)
			}
			return nil, netip.Addr{}
		case <-t.C:
		}
	}
}
