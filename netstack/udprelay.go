package netstack

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// maxDatagram is the largest UDP payload relayed.
const maxDatagram = 1 << 16

// datagramBufs recycles relay buffers between flows.
var datagramBufs = sync.Pool{New: func() any {
	b := make([]byte, maxDatagram)
	return &b
}}

// udpRelay relays one forwarded UDP flow between the overlay and the local
// service, until it has been idle for idle in both directions.
type udpRelay struct {
	overlay, local net.Conn
	idle           time.Duration
	// last is the time, in Unix nanoseconds, of the last datagram either way.
	last atomic.Int64
}

func newUDPRelay(overlay, local net.Conn, idle time.Duration) *udpRelay {
	r := &udpRelay{overlay: overlay, local: local, idle: idle}
	r.last.Store(time.Now().UnixNano())
	return r
}

// run relays until the flow is idle, either side fails or g closes. It
// must be called on a goroutine registered with g.start.
func (r *udpRelay) run(g *connGroup) {
	if !g.track(r.overlay) {
		r.local.Close()
		return
	}
	if !g.track(r.local) {
		g.untrack(r.overlay)
		return
	}
	defer g.untrack(r.overlay)
	defer g.untrack(r.local)
	if !g.start() {
		return
	}
	done := make(chan struct{})
	go func() {
		defer g.done()
		defer close(done)
		r.pump(r.overlay, r.local)
	}()
	r.pump(r.local, r.overlay)
	<-done
}

// pump copies datagrams from src to dst. When it stops it closes both
// connections, which stops the pump going the other way.
func (r *udpRelay) pump(dst, src net.Conn) {
	defer r.overlay.Close()
	defer r.local.Close()
	bufp := datagramBufs.Get().(*[]byte)
	defer datagramBufs.Put(bufp)
	buf := *bufp
	for {
		if err := src.SetReadDeadline(time.Now().Add(r.idle)); err != nil {
			return
		}
		n, err := src.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !r.idleFor(r.idle) {
				continue
			}
			return
		}
		r.last.Store(time.Now().UnixNano())
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// idleFor reports whether no datagram has passed for d.
func (r *udpRelay) idleFor(d time.Duration) bool {
	return time.Since(time.Unix(0, r.last.Load())) >= d
}
