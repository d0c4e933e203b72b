//go:build !linux

package relay

import "errors"

// poller is Linux's (epoll) only: elsewhere a connection's reader waits
// in a read (see conn.waitAny).
type poller struct{}

var errNoPoller = errors.New("relay: no poller on this system")

func newPoller(func(*conn)) (*poller, error) { return nil, errNoPoller }
func (p *poller) close()                     {}
func (p *poller) arm(*conn) error            { return errNoPoller }
func (p *poller) forget(*conn)               {}
