// Package copygrow copies a stream through a buffer that starts small and
// grows once the stream shows it is a bulk transfer. The SOCKS5 relay
// (node/splice) and an exposed service's flows (netstack) copy every byte
// of the overlay's TCP flows through it: an idle or interactive flow keeps
// a small buffer a direction, a bulk one reads and writes in large calls,
// which costs less CPU per byte (issue 12).
package copygrow

import (
	"io"
	"sync"
)

// Start is the size a copy starts with (io.Copy's 32 KiB) and Bulk the
// size the relay and the netstack grow to by default. Buffers of these two
// sizes are pooled; other sizes are allocated per copy.
const (
	Start = 32 << 10
	Bulk  = 128 << 10
)

// Copy copies src to dst until src's EOF (then it returns nil) or an
// error, as io.CopyBuffer does, through a buffer of Start bytes (most,
// when smaller) that grows to most once a read fills it.
func Copy(dst io.Writer, src io.Reader, most int) error {
	p := get(min(Start, most))
	defer func() { put(p) }()
	for {
		buf := *p
		n, rerr := src.Read(buf)
		if n > 0 {
			w, werr := dst.Write(buf[:n])
			switch {
			case werr != nil:
				return werr
			case w != n:
				return io.ErrShortWrite
			}
			if n == len(buf) && len(buf) < most {
				put(p)
				p = get(most)
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// startBufs and bulkBufs hold buffers of Start and Bulk bytes between
// copies.
var (
	startBufs = sync.Pool{New: func() any { b := make([]byte, Start); return &b }}
	bulkBufs  = sync.Pool{New: func() any { b := make([]byte, Bulk); return &b }}
)

// get returns a buffer of size bytes, from a pool when there is one for
// its size.
func get(size int) *[]byte {
	switch size {
	case Start:
		return startBufs.Get().(*[]byte)
	case Bulk:
		return bulkBufs.Get().(*[]byte)
	}
	b := make([]byte, size)
	return &b
}

// put gives a buffer of get back to its pool.
func put(p *[]byte) {
	switch len(*p) {
	case Start:
		startBufs.Put(p)
	case Bulk:
		bulkBufs.Put(p)
	}
}
