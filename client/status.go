package client

import (
	"context"
	"slices"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// Status implements localapi.Backend: the running session's node and
// peers (empty when logged out), with the person's side: the login state,
// the proxies and the devices the person may reach.
func (d *Daemon) Status() localapi.Status {
	d.mu.Lock()
	s, p := d.sess, d.login
	ps := &localapi.PersonStatus{State: localapi.StateLoggedOut, Message: d.ended, Mode: "userspace", Devices: []localapi.Device{},
		SOCKS5: d.addrs.socks5, HTTPProxy: d.addrs.httpProxy, WebURL: d.addrs.webURL}
	if d.endState != "" {
		ps.State = d.endState
	}
	st := localapi.Status{Peers: []localapi.Peer{}}
	if d.ctrl != nil {
		st.Coordinator = d.ctrl.URL()
	}
	d.mu.Unlock()
	if d.cfg.TUN {
		ps.Mode = "tun"
	}
	if p != nil && s == nil && isPending(p) {
		ps.State, ps.LoginURL, ps.LoginCode = localapi.StatePending, p.url, p.code
		ps.Message = "waiting for the login to finish in the browser"
	}
	if s != nil {
		st = s.Status()
		ps.State, ps.Message = localapi.StateLoggedIn, ""
		ps.User, ps.Node, ps.KeyExpiry = s.login.Node.User, s.login.Node.Name, s.KeyExpiry()
		if s.link != nil {
			ps.Interface = s.link.InterfaceName()
		}
		ps.Devices = devicesOf(s, time.Now())
		ps.Requests = s.Engine().Self().Requests
	}
	st.Person = ps
	return st
}

// isPending reports whether p still waits for its outcome.
func isPending(p *pendingLogin) bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// devicesOf lists the peers the session may reach now: those the map's
// grants give something on (every peer, from a coordinator that sends no
// grants), with the exposed ports they grant.
func devicesOf(s *session, now time.Time) []localapi.Device {
	out := []localapi.Device{}
	for _, p := range s.Engine().ActivePeers(now) {
		if p.Grants != nil && len(p.Grants) == 0 {
			continue // it may reach this person, not the other way
		}
		out = append(out, localapi.Device{Name: p.Name, FQDN: p.FQDN, IPv4: p.IPv4, IPv6: p.IPv6, User: p.User, Tags: slices.Clone(p.Tags),
			Online: p.Online, Ports: grantedPorts(p), Grants: p.Grants, KeyExpiry: p.KeyExpiry})
	}
	return out
}

// grantedPorts returns p's exposed ports that its grants allow over TCP,
// sorted; all of them when the map has no grants.
func grantedPorts(p wire.Node) []uint16 {
	var out []uint16
	for _, port := range p.ExposedPorts {
		if p.Grants == nil || filter.Allows(p.Grants, filter.ProtoTCP, port) {
			out = append(out, port)
		}
	}
	slices.Sort(out)
	return out
}

// RequestAccess files the person's request for time-bound access, as
// `ward request` does: through the session's control client, so the
// coordinator knows the requester by the node's machine key.
func (d *Daemon) RequestAccess(ctx context.Context, r wire.AccessRequestCreate) (wire.AccessRequest, error) {
	d.mu.Lock()
	s, ctrl := d.sess, d.ctrl
	d.mu.Unlock()
	if s == nil || ctrl == nil {
		return wire.AccessRequest{}, ErrNotLoggedIn
	}
	return ctrl.RequestAccess(ctx, r)
}
