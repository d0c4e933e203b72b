package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/user"
	"strings"
	"sync"
	"time"

	"github.com/wardnet/ward/client/dashboard"
	"github.com/wardnet/ward/client/httpproxy"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/node/socks5"
	"github.com/wardnet/ward/node/splice"
	"github.com/wardnet/ward/wire"
)

// Run serves the local API (with the login routes), the proxies and the
// status page, resumes a saved session whose key is still valid, and runs
// until ctx is done or a client asks it to quit (POST /quit). It then stops
// the session's data plane (the key stays valid: `ward down` expires it)
// and every goroutine, and returns nil; or the error that prevented the
// start.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	d.ctx, d.quit = ctx, func() { cancel(nil) }
	d.recoverResolvConf()
	var serving sync.WaitGroup
	defer func() {
		cancel(nil)
		serving.Wait()
		d.mu.Lock()
		if s := d.sess; s != nil {
			d.sess = nil
			s.Close()
		}
		d.mu.Unlock()
		d.wg.Wait()
	}()
	servers, err := d.listen()
	if err != nil {
		for _, s := range servers {
			s.l.Close()
		}
		return err
	}
	for _, s := range servers {
		serving.Add(1)
		go func() {
			defer serving.Done()
			if err := s.serve(ctx, s.l); err != nil {
				cancel(fmt.Errorf("%s: %w", s.what, err))
			}
		}()
	}
	d.resume()
	<-ctx.Done()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// server is one listener and what serves it.
type server struct {
	what  string
	l     net.Listener
	serve func(ctx context.Context, l net.Listener) error
}

// listen opens every listener and records the bound addresses. On error it
// returns the listeners opened so far, for the caller to close.
func (d *Daemon) listen() ([]server, error) {
	var out []server
	l, err := localapi.Listen(d.SocketPath())
	if err != nil {
		return out, err
	}
	out = append(out, server{"local api", l, func(ctx context.Context, l net.Listener) error { return localapi.Serve(ctx, l, d, d.log) }})
	if d.cfg.SOCKS5 != "" {
		if l, err = splice.Listen(d.cfg.SOCKS5, d.cfg.AllowNonLoopbackProxy, "socks5", d.log); err != nil {
			return out, err
		}
		srv := &socks5.Server{Proxy: d.proxy()}
		d.addrs.socks5 = l.Addr().String()
		out = append(out, server{"socks5", l, srv.Serve})
	}
	if d.cfg.HTTPProxy != "" {
		if l, err = splice.Listen(d.cfg.HTTPProxy, d.cfg.AllowNonLoopbackProxy, "http proxy", d.log); err != nil {
			return out, err
		}
		srv := &httpproxy.Server{Proxy: d.proxy()}
		d.addrs.httpProxy = l.Addr().String()
		out = append(out, server{"http proxy", l, srv.Serve})
	}
	if s, ok := d.listenUAPI(); ok {
		out = append(out, s)
	}
	if d.cfg.Web != "off" {
		s, err := d.listenWeb()
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
	d.log.Info("client daemon listening", "socket", d.SocketPath(), "socks5", d.addrs.socks5, "http_proxy", d.addrs.httpProxy)
	return out, nil
}

// listenUAPI opens the UAPI socket when the config names one; it
// reports false when it does not, or when the socket cannot be opened
// (logged: the overlay works without it).
func (d *Daemon) listenUAPI() (server, bool) {
	if d.cfg.UAPIName == "" {
		return server{}, false
	}
	dir := cmp.Or(d.cfg.UAPIDir, node.DefaultUAPIDir)
	l, err := node.ListenUAPI(dir, d.cfg.UAPIName, d.log)
	if err != nil {
		d.log.Warn("no uapi socket: wg show and wgctrl will not see this device", "err", err)
		return server{}, false
	}
	d.log.Info("uapi socket listening", "name", d.cfg.UAPIName, "dir", dir)
	return server{"uapi", l, func(ctx context.Context, l net.Listener) error { return node.ServeUAPI(ctx, l, d.writeUAPI, d.log) }}, true
}

// writeUAPI writes the running session's UAPI "get" answer (see
// node.Engine.WriteUAPI); it fails with ErrNotLoggedIn when no session
// runs.
func (d *Daemon) writeUAPI(w io.Writer) error {
	s := d.current()
	if s == nil {
		return ErrNotLoggedIn
	}
	return s.Engine().WriteUAPI(w)
}

// proxy is what the daemon's proxies share: they dial as the person.
func (d *Daemon) proxy() splice.Proxy {
	return splice.Proxy{Dial: d.DialPeer, Logger: d.log, HandshakeTimeout: d.cfg.DialTimeout}
}

// listenWeb opens the status page's listener (loopback only).
func (d *Daemon) listenWeb() (server, error) {
	l, err := net.Listen("tcp", d.cfg.Web)
	if err != nil {
		return server{}, fmt.Errorf("listen status page: %w", err)
	}
	sshUser := ""
	if u, err := user.Current(); err == nil {
		sshUser = u.Username
	}
	ws, err := dashboard.New(dashboard.Config{Page: d.page, Logout: d.pageLogout, Request: d.pageRequest, CLIFlags: d.cfg.CLIFlags,
		SSHUser: sshUser, Logger: d.log}, l.Addr())
	if err != nil {
		l.Close()
		return server{}, err
	}
	d.addrs.webURL = ws.URL()
	return server{"status page", l, func(ctx context.Context, l net.Listener) error { return localapi.ServeHTTP(ctx, l, ws.Handler()) }}, nil
}

// page is the status page's view of Status.
func (d *Daemon) page() dashboard.Page {
	full := d.Status()
	st := full.Person
	p := dashboard.Page{State: string(st.State), Message: st.Message, User: st.User, Node: st.Node, NodeFQDN: full.Self.FQDN,
		Coordinator: full.Coordinator, Mode: st.Mode, KeyExpiry: st.KeyExpiry, SOCKS5: st.SOCKS5, HTTPProxy: st.HTTPProxy}
	for _, dev := range st.Devices {
		addr := dev.IPv4.String()
		if !dev.IPv4.IsValid() {
			addr = dev.IPv6.String()
		}
		owner := dev.User
		if owner == "" {
			owner = strings.Join(dev.Tags, ", ")
		}
		granted := ""
		if dev.Grants != nil {
			granted = filter.FormatGrants(dev.Grants)
		}
		p.Devices = append(p.Devices, dashboard.Device{Name: dev.Name, FQDN: dev.FQDN, Addr: addr, Owner: owner, Online: dev.Online,
			Ports: dev.Ports, Granted: granted})
	}
	for _, peer := range full.Peers {
		p.Peers = append(p.Peers, peer.Name)
	}
	for _, r := range st.Requests {
		p.Requests = append(p.Requests, dashboard.Request{ID: r.ID, Device: r.Device, Proto: r.Proto, Port: r.Port,
			Duration: time.Duration(r.DurationMillis) * time.Millisecond, Reason: r.Reason, State: r.Status, DecidedBy: r.DecidedBy, Expires: r.Expires})
	}
	return p
}

// pageRequest files the status page's request form: one request a port.
func (d *Daemon) pageRequest(ctx context.Context, nr dashboard.NewRequest) error {
	for _, port := range nr.Ports {
		if _, err := d.RequestAccess(ctx, wire.AccessRequestCreate{Device: nr.Device, Port: port, Duration: nr.Duration, Reason: nr.Reason}); err != nil {
			return fmt.Errorf("port %d: %w", port, err)
		}
	}
	return nil
}

// pageLogout is the status page's logout.
func (d *Daemon) pageLogout(ctx context.Context) error {
	if res := d.Logout(ctx); res.Warning != "" {
		return errors.New(res.Warning)
	}
	return nil
}
