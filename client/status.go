package client

import (
	"slices"
	"time"
)

// ClientStatus describes the login state, the session and the devices the
// person may reach.
func (d *Daemon) ClientStatus() Status {
	d.mu.Lock()
	s, p := d.sess, d.login
	st := Status{State: StateLoggedOut, Message: d.ended, Mode: "userspace", Devices: []Device{},
		SOCKS5: d.addrs.socks5, HTTPProxy: d.addrs.httpProxy, WebURL: d.addrs.webURL}
	if d.expired {
		st.State = StateExpired
	}
	if d.co != nil {
		st.Coordinator = d.co.base
	}
	d.mu.Unlock()
	if d.cfg.TUN {
		st.Mode = "tun"
	}
	if p != nil && s == nil && isPending(p) {
		st.State, st.LoginURL, st.LoginCode = StatePending, p.url, p.code
		st.Message = "waiting for the login to finish in the browser"
	}
	st.Net = d.Status()
	if s == nil {
		return st
	}
	st.State, st.Message = StateLoggedIn, ""
	st.User, st.Node, st.KeyExpiry = s.node.User, s.node.Name, s.keyExpiry()
	st.Connected = s.connected.Load()
	if t, ok := s.plane.(interface{ InterfaceName() string }); ok {
		st.Interface = t.InterfaceName()
	}
	st.Devices = devicesOf(s, time.Now())
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

// devicesOf lists the peers the session may reach now.
func devicesOf(s *session, now time.Time) []Device {
	out := []Device{}
	for _, p := range s.plane.ActivePeers(now) {
		out = append(out, Device{Name: p.Name, IPv4: p.IPv4, IPv6: p.IPv6, User: p.User, Tags: slices.Clone(p.Tags),
			Online: p.Online, Ports: slices.Sorted(slices.Values(p.ExposedPorts)), KeyExpiry: p.KeyExpiry})
	}
	return out
}
