package localapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ErrUntrusted means the socket, its directory or the daemon behind it
// belongs to another user, who could read what the client sends and
// answer in the daemon's name (a login link of theirs, a dial to their
// own peer).
var ErrUntrusted = errors.New("refusing to talk to a daemon another user may run")

const (
	// refuseWait bounds answering and draining a connection of another
	// user.
	refuseWait = time.Second
	// maxRefusing bounds the refused connections answered at once.
	maxRefusing = 16
	// maxDiscard bounds what is skipped of one's request.
	maxDiscard = 64 << 10
)

// trustedUID reports whether a user may serve this process or be served
// by it: the process's own user and root.
func trustedUID(uid int) bool { return uid == 0 || uid == os.Geteuid() }

// peer is who is at the other end of a connection, as the OS says
// (peerOf, peercred_*.go).
type peer struct {
	// known says whether the OS told; trusted and who are empty if not.
	known bool
	// trusted: this process's own user, or root (Windows: SYSTEM, or an
	// elevated process).
	trusted bool
	// who names the peer's user in messages ("uid 1001").
	who string
}

// checkSocketFiles refuses a socket at path, or a directory holding it,
// that another user owns or may write to. A path or directory that does
// not exist passes: dialling it then says no daemon runs.
func checkSocketFiles(path string) error {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err == nil {
		if err := checkFile("state dir", dir, fi); err != nil {
			return err
		}
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return nil
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("%s is not a socket (%v): %w", path, fi.Mode().Type(), ErrUntrusted)
	}
	return checkFile("socket", path, fi)
}

// checkServer refuses a connection to a daemon run by an untrusted user,
// where the OS says who listens (peercred_*.go).
func checkServer(c net.Conn, path string) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil
	}
	p, err := peerOf(uc)
	if err != nil {
		return fmt.Errorf("check the daemon on %s: %w", path, err)
	}
	if p.known && !p.trusted {
		return fmt.Errorf("the daemon on %s runs as %s: %w", path, p.who, ErrUntrusted)
	}
	return nil
}

// peerListener accepts only connections from trusted users (the daemon's
// own and root) where the OS says who connects. Others never reach the
// HTTP server: their connection goes to refuse instead.
type peerListener struct {
	*net.UnixListener
	log *slog.Logger
	// refusing tracks the goroutines answering refused connections;
	// Close waits for them.
	refusing sync.WaitGroup
	// slots bounds those goroutines; a refusal beyond them is a bare
	// close.
	slots chan struct{}
}

// newPeerListener wraps l.
func newPeerListener(l *net.UnixListener, log *slog.Logger) *peerListener {
	return &peerListener{UnixListener: l, log: log, slots: make(chan struct{}, maxRefusing)}
}

// Accept returns the next connection of a trusted user.
func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		p, ok, err := trustPeer(c)
		if ok {
			return c, nil
		}
		l.log.Warn("local api refused a connection", "peer", p.who, "err", err)
		select {
		case l.slots <- struct{}{}:
			l.refusing.Add(1)
			go func() {
				defer func() { <-l.slots; l.refusing.Done() }()
				refuse(c, p.who, err)
			}()
		default:
			c.Close()
		}
	}
}

// Close stops accepting and waits for the refusals under way (each ends
// within refuseWait).
func (l *peerListener) Close() error {
	err := l.UnixListener.Close()
	l.refusing.Wait()
	return err
}

// refuse answers c, a connection of the user who (or one whose user
// could not be read: err), with a 403 and closes it, within refuseWait. It
// first skips what c sends up to the end of the request's header, never
// parsing it: an HTTP client takes an answer that comes before its
// request is written for a stray one and fails without showing it.
func refuse(c *net.UnixConn, who string, err error) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(refuseWait))
	if skipHeader(io.LimitReader(c, maxDiscard)) != nil {
		return
	}
	msg := fmt.Sprintf("%s may not use this ward daemon: it serves only its own user (%s) and root", who, selfName())
	if err != nil {
		msg = fmt.Sprintf("this ward daemon could not tell who connects: %v", err)
	}
	body, _ := json.Marshal(apiError{Error: msg})
	fmt.Fprintf(c, "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// skipHeader reads r up to and including the first empty line.
func skipHeader(r io.Reader) error {
	tp := textproto.NewReader(bufio.NewReader(r))
	for {
		line, err := tp.ReadLine()
		if err != nil || line == "" {
			return err
		}
	}
}

// OwnerOnly wraps l, a unix socket listener, so that Accept returns only
// connections of this process's user or root, as the local API does,
// where the OS tells who connects; others are logged (what names the
// socket) and closed unanswered. For sockets that speak another protocol
// than the local API's HTTP (WireGuard's UAPI).
func OwnerOnly(l *net.UnixListener, what string, log *slog.Logger) net.Listener {
	return &ownerListener{UnixListener: l, what: what, log: log}
}

// ownerListener is OwnerOnly's listener.
type ownerListener struct {
	*net.UnixListener
	what string
	log  *slog.Logger
}

// Accept returns the next connection of a trusted user.
func (l *ownerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return nil, err
		}
		p, ok, err := trustPeer(c)
		if ok {
			return c, nil
		}
		l.log.Warn(l.what+" refused a connection", "peer", p.who, "err", err)
		c.Close()
	}
}

// trustPeer reports whether the user at the other end of c may use this
// daemon's sockets (its own user or root, or anyone where the OS does not
// tell), with who it is and why it could not be told.
func trustPeer(c *net.UnixConn) (peer, bool, error) {
	p, err := peerOf(c)
	return p, err == nil && (!p.known || p.trusted), err
}
